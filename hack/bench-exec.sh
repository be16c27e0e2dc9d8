#!/usr/bin/env bash
# `make bench-exec`: ExecSync latency, the kubelet's exec-probe path, crisharp vs the containerd 1.6 reference on
# the same runc. For each engine a freshly started daemon on an empty root pulls busybox (and the pause image)
# from the test registry, runs one host-network pod with a busybox `sleep` container, makes WARMUP unmeasured
# and ITERATIONS timed sequential ExecSync calls of `true`, and reports median and p95; then the ratio.
# Everything it starts is stopped and removed at the end, pass or fail.
# Usage: hack/bench-exec.sh   (env: CONFIG=Release ITERATIONS=200 WARMUP=10)
set -euo pipefail
cd "$(dirname "$0")/.."
CONFIG=${CONFIG:-Release}
ITERATIONS=${ITERATIONS:-200}
WARMUP=${WARMUP:-10}
# 5055: containerd's sandbox_image (hack/containerd-reference.sh) is 127.0.0.1:5055/crisharp-test/pause:latest.
PORT=5055
BIN=${CRISHARP_BIN:-$PWD/src/CriSharp.Daemon/bin/$CONFIG/aot/crisharp}
CONFORMANCE=$PWD/conformance/CriSharp.Conformance/bin/$CONFIG/net10.0/cri-conformance
TESTENV=$PWD/tests/CriSharp.TestSupport/bin/$CONFIG/net10.0/crisharp-testenv
IMAGE=127.0.0.1:$PORT/crisharp-test/busybox:latest
PAUSE=127.0.0.1:$PORT/crisharp-test/pause:latest
REF_SOCK=/run/crisharp-ref/containerd.sock
REGISTRY_STATE=/run/crisharp-test

die() { echo "bench-exec: $*" >&2; exit 1; }
[[ $(id -u) -eq 0 ]] || die "must run as root"
for f in "$BIN" "$CONFORMANCE" "$TESTENV"; do
  [[ -x $f ]] || die "$f is missing: run 'make build' first"
done
if bash hack/containerd-reference.sh status >/dev/null 2>&1; then
  die "the containerd reference is already running; stop it first (hack/containerd-reference.sh stop)"
fi
if [[ -f $REGISTRY_STATE/registry-$PORT.pid ]] && kill -0 "$(cat "$REGISTRY_STATE/registry-$PORT.pid")" 2>/dev/null; then
  die "a test registry already runs on port $PORT; stop it first (hack/test-registry.sh stop $PORT)"
fi

had_run_containerd=0; [[ -e /run/containerd ]] && had_run_containerd=1
had_k8s_cgroup=0; compgen -G '/sys/fs/cgroup/*/k8s.io' >/dev/null && had_k8s_cgroup=1

work=$(mktemp -d /run/crisharp-bench-exec.XXXXXX)
[[ -n $work && -d $work ]] || die "mktemp failed"
crisharp_pid=
registry_started=0
ref_started=0

# reap_cgroups ENGINE IDS_FILE: cgroup dirs named after the bench's pod/container ids still there after
# the engine removed the pods are a leak: reported, then removed (rmdir, deepest first).
reap_cgroups() {
  local engine=$1 ids=$2 dirs c
  [[ -s $ids ]] || return 0
  dirs=$(find /sys/fs/cgroup -mindepth 2 -type d 2>/dev/null | grep -F -f "$ids" | sort -r || true)
  [[ -n $dirs ]] || return 0
  echo "bench-exec: WARNING: $engine left $(wc -l <<<"$dirs") cgroup dirs of its removed pods behind; removing them" >&2
  while read -r c; do rmdir "$c" 2>/dev/null || echo "bench-exec: could not remove $c" >&2; done <<<"$dirs"
}

cleanup() {
  local rc=$?
  if [[ -n $crisharp_pid ]] && kill -0 "$crisharp_pid" 2>/dev/null; then
    kill -TERM "$crisharp_pid" 2>/dev/null || true
    wait "$crisharp_pid" 2>/dev/null || true
  fi
  [[ $ref_started -eq 0 ]] || bash hack/containerd-reference.sh stop >/dev/null 2>&1 || true
  if [[ $registry_started -eq 1 ]]; then
    bash hack/test-registry.sh stop "$PORT" >/dev/null || true
    rm -f "$REGISTRY_STATE/registry-$PORT.log"
    rmdir "$REGISTRY_STATE" 2>/dev/null || true
  fi
  reap_cgroups crisharp "$work/crisharp.ids"
  reap_cgroups containerd "$work/containerd.ids"
  [[ $had_run_containerd -eq 1 ]] || find /run/containerd -depth -type d -empty -delete 2>/dev/null || true
  [[ $had_k8s_cgroup -eq 1 ]] || rmdir /sys/fs/cgroup/*/k8s.io 2>/dev/null || true
  findmnt -rn -o TARGET | awk -v d="$work" 'index($0, d "/") == 1' | sort -r | while read -r m; do
    umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || echo "bench-exec: could not unmount $m" >&2
  done
  rm -rf -- "$work"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# bench ENGINE ENDPOINT DAEMON_LOG: runs the bench, keeps its output in $work/ENGINE.out.
bench() {
  local engine=$1 endpoint=$2 daemon_log=$3
  echo "=== $engine: $WARMUP warm-up + $ITERATIONS timed sequential ExecSync calls of true"
  if ! "$CONFORMANCE" bench-exec --endpoint "$endpoint" --image "$IMAGE" --pull "$PAUSE" \
      --log-dir "$work/logs-$engine" --ids-file "$work/$engine.ids" \
      --iterations "$ITERATIONS" --warmup "$WARMUP" | tee "$work/$engine.out"; then
    echo "--- last lines of $daemon_log (kept as /tmp/bench-exec-$engine.log)" >&2
    tail -30 "$daemon_log" >&2 || true
    cp "$daemon_log" "/tmp/bench-exec-$engine.log" || true
    die "$engine: bench failed"
  fi
}

echo "=== test registry on 127.0.0.1:$PORT"
registry_started=1
TESTENV_BIN=$TESTENV bash hack/test-registry.sh start "$PORT"

d=$work/crisharp
mkdir -p "$d/net.d"
cat >"$d/crisharp.toml" <<TOML
root = "$d/root"
state_dir = "$d/state"
listen = "$d/crisharp.sock"
log_level = "info"
default_runtime = "runc"
[runtimes.runc]
path = "/usr/sbin/runc"
root_dir = "$d/state/runc"
[network]
conf_dir = "$d/net.d"
[stream]
port = 0
TOML
"$BIN" --config "$d/crisharp.toml" --config-dir "$d/crisharp.d" 2>"$d/crisharp.log" &
crisharp_pid=$!
for _ in $(seq 100); do [[ -S $d/crisharp.sock ]] && break; sleep 0.1; done
[[ -S $d/crisharp.sock ]] || { tail -20 "$d/crisharp.log" >&2; die "crisharp did not start"; }
bench crisharp "unix://$d/crisharp.sock" "$d/crisharp.log"
kill -TERM "$crisharp_pid"
wait "$crisharp_pid" || { tail -20 "$d/crisharp.log" >&2; die "crisharp did not exit cleanly on SIGTERM"; }
crisharp_pid=
reap_cgroups crisharp "$work/crisharp.ids"

ref_started=1
bash hack/containerd-reference.sh start
bench containerd "unix://$REF_SOCK" /run/crisharp-ref/containerd.log
bash hack/containerd-reference.sh stop
ref_started=0
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
