#!/usr/bin/env bash
# `make bench-stats`: ListContainerStats and ListPodSandboxStats latency with CONTAINERS host-network pods
# running (one busybox `sleep` container each), crisharp vs the containerd 1.6 reference on the same runc.
# For each engine a freshly started daemon on an empty root pulls busybox (and the pause image) from the
# test registry, starts the pods, calls each RPC WARMUP times unmeasured and ITERATIONS times measured
# (no filter, as the kubelet calls them), and reports median and p95; then the table compares the two.
# Everything it starts is stopped and removed at the end, pass or fail.
# Usage: hack/bench-stats.sh   (env: CONFIG=Release CONTAINERS=100 ITERATIONS=50 WARMUP=5)
set -euo pipefail
cd "$(dirname "$0")/.."
BENCH=bench-stats
# shellcheck source-path=SCRIPTDIR/..
source hack/lib/bench-common.sh
CONTAINERS=${CONTAINERS:-100}
ITERATIONS=${ITERATIONS:-50}
WARMUP=${WARMUP:-5}

bench_preflight
bench_begin
# The pods' cgroup parent (/crisharp-bench-stats/pod<uid>): its pod dirs are reaped before this runs.
remove_cgroup_parent() { rmdir /sys/fs/cgroup/*/crisharp-bench-stats /sys/fs/cgroup/crisharp-bench-stats 2>/dev/null || true; }
cleanup_hooks+=(remove_cgroup_parent)

# bench ENGINE ENDPOINT DAEMON_LOG: runs the bench, keeps its output in $work/ENGINE.out.
bench() {
  local engine=$1 endpoint=$2 daemon_log=$3
  echo "=== $engine: $CONTAINERS running containers, $WARMUP warm-up + $ITERATIONS timed calls per RPC"
  run_conformance "$engine" "$daemon_log" bench-stats --endpoint "$endpoint" --image "$IMAGE" --pull "$PAUSE" \
    --log-dir "$work/logs-$engine" --ids-file "$work/$engine.ids" \
    --containers "$CONTAINERS" --iterations "$ITERATIONS" --warmup "$WARMUP"
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
# containerd leaves pod cgroup parents to the kubelet (which made them): not a leak, remove them quietly.
# (rmdir, not `find -empty`: a cgroup dir always holds its control files. A pod dir still holding a container's
# dir is refused here and reported by reap_cgroups below.)
for c in /sys/fs/cgroup/*/crisharp-bench-stats/pod* /sys/fs/cgroup/crisharp-bench-stats/pod*; do
  [[ -d $c ]] && { rmdir "$c" 2>/dev/null || true; }
done
reap_cgroups containerd "$work/containerd.ids"

echo
awk -v n="$CONTAINERS" '
  FNR == 1 { engine = (FILENAME ~ /crisharp\.out$/) ? "c" : "r" }
  $1 == "stat"        { med[engine, $2] = $3; p95[engine, $2] = $4; ok[engine, $2] = 1 }
  $1 == "unsupported" { ok[engine, $2] = 0 }
  function cell(e, rpc) { return ok[e, rpc] ? sprintf("%8.2f / %8.2f", med[e, rpc], p95[e, rpc]) : sprintf("%19s", "unsupported") }
  function ratio(rpc) {
    if (!ok["c", rpc] || !ok["r", rpc] || med["r", rpc] == 0 || p95["r", rpc] == 0) return sprintf("%15s", "-")
    return sprintf("%6.2f / %6.2f", med["c", rpc] / med["r", rpc], p95["c", rpc] / p95["r", rpc])
  }
  END {
    printf "%-22s %21s %21s %15s\n", "rpc (" n " containers)", "crisharp med / p95", "containerd med / p95", "ratio c#/ctd"
    printf "%-22s %21s %21s %15s\n", "", "(ms)", "(ms)", "med / p95"
    split("ListContainerStats ListPodSandboxStats", rpcs, " ")
    for (i = 1; i <= 2; i++) printf "%-22s %21s %21s %15s\n", rpcs[i], cell("c", rpcs[i]), cell("r", rpcs[i]), ratio(rpcs[i])
  }' "$work/crisharp.out" "$work/containerd.out"
