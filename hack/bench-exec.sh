#!/usr/bin/env bash
# `make bench-exec`: ExecSync latency, the kubelet's exec-probe path, crisharp vs the containerd 1.6 reference on
# the same runc. For each engine a freshly started daemon on an empty root pulls busybox (and the pause image)
# from the test registry, runs one host-network pod with a busybox `sleep` container, makes WARMUP unmeasured
# and ITERATIONS timed sequential ExecSync calls of `true`, and reports median and p95; then the ratio.
# Everything it starts is stopped and removed at the end, pass or fail.
# Usage: hack/bench-exec.sh   (env: CONFIG=Release ITERATIONS=200 WARMUP=10)
set -euo pipefail
cd "$(dirname "$0")/.."
BENCH=bench-exec
# shellcheck source-path=SCRIPTDIR/..
source hack/lib/bench-common.sh
ITERATIONS=${ITERATIONS:-200}
WARMUP=${WARMUP:-10}

bench_preflight
bench_begin

# bench ENGINE ENDPOINT DAEMON_LOG: runs the bench, keeps its output in $work/ENGINE.out.
bench() {
  local engine=$1 endpoint=$2 daemon_log=$3
  echo "=== $engine: $WARMUP warm-up + $ITERATIONS timed sequential ExecSync calls of true"
  run_conformance "$engine" "$daemon_log" bench-exec --endpoint "$endpoint" --image "$IMAGE" --pull "$PAUSE" \
    --log-dir "$work/logs-$engine" --ids-file "$work/$engine.ids" \
    --iterations "$ITERATIONS" --warmup "$WARMUP"
}

echo "=== test registry on 127.0.0.1:$PORT"
start_registry

d=$work/crisharp
start_crisharp "$d" runc
bench crisharp "unix://$d/crisharp.sock" "$d/crisharp.log"
stop_crisharp
reap_cgroups crisharp "$work/crisharp.ids"

start_reference
bench containerd "unix://$REF_SOCK" "$REF_STATE/containerd.log"
stop_reference
reap_cgroups containerd "$work/containerd.ids"

echo
awk -v n="$ITERATIONS" '
  FNR == 1 { engine = (FILENAME ~ /crisharp\.out$/) ? "c" : "r" }
  $1 == "stat" && $2 == "ExecSync" { med[engine] = $3; p95[engine] = $4 }
  END {
    printf "%-28s %21s %21s %15s\n", "ExecSync true (" n " sequential)", "crisharp med / p95", "containerd med / p95", "ratio c#/ctd"
    printf "%-28s %21s %21s %15s\n", "", "(ms)", "(ms)", "med / p95"
    rm = (med["r"] > 0) ? med["c"] / med["r"] : 0
    rp = (p95["r"] > 0) ? p95["c"] / p95["r"] : 0
    printf "%-28s %8.2f / %8.2f   %8.2f / %8.2f   %6.2f / %6.2f\n", "", med["c"], p95["c"], med["r"], p95["r"], rm, rp
  }' "$work/crisharp.out" "$work/containerd.out"
