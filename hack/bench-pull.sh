#!/usr/bin/env bash
# `make bench-pull`: cold PullImage of the large test image (busybox + 4 x 52 MiB random layers,
# ~231 MB compressed) from a local registry, crisharp vs the containerd 1.6 reference.
# For each engine: a freshly started daemon on an empty root, RUNS cold pulls (before each one the
# image is removed through CRI and the engine's blob and layer/snapshot directories must be empty),
# the median wall time of PullImage, and the daemon's peak RSS (VmHWM) read after the runs.
# Everything it starts is stopped and removed at the end, pass or fail.
# Usage: hack/bench-pull.sh   (env: CONFIG=Release RUNS=5 BENCH_REGISTRY_PORT=5056)
set -euo pipefail
cd "$(dirname "$0")/.."
CONFIG=${CONFIG:-Release}
RUNS=${RUNS:-5}
PORT=${BENCH_REGISTRY_PORT:-5056}
BIN=${CRISHARP_BIN:-$PWD/src/CriSharp.Daemon/bin/$CONFIG/aot/crisharp}
CONFORMANCE=$PWD/conformance/CriSharp.Conformance/bin/$CONFIG/net10.0/cri-conformance
TESTENV=$PWD/tests/CriSharp.TestSupport/bin/$CONFIG/net10.0/crisharp-testenv
IMAGE=127.0.0.1:$PORT/crisharp-test/large:latest
REF_SOCK=/run/crisharp-ref/containerd.sock
REF_ROOT=/var/lib/crisharp-ref   # hack/containerd-reference.sh
REGISTRY_STATE=/run/crisharp-test

die() { echo "bench-pull: $*" >&2; exit 1; }
[[ $(id -u) -eq 0 ]] || die "must run as root"
for f in "$BIN" "$CONFORMANCE" "$TESTENV"; do
  [[ -x $f ]] || die "$f is missing: run 'make build' first"
done
# Each engine must be freshly started: refuse to reuse (or kill) anything already running.
if bash hack/containerd-reference.sh status >/dev/null 2>&1; then
  die "the containerd reference is already running; stop it first (hack/containerd-reference.sh stop)"
fi
if [[ -f $REGISTRY_STATE/registry-$PORT.pid ]] && kill -0 "$(cat "$REGISTRY_STATE/registry-$PORT.pid")" 2>/dev/null; then
  die "a test registry already runs on port $PORT; stop it first (hack/test-registry.sh stop $PORT)"
fi

work=$(mktemp -d /run/crisharp-bench.XXXXXX)
crisharp_pid=
registry_started=0
ref_started=0
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
  rm -rf "$work"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

peak_rss_kib() { awk '/^VmHWM:/ { print $2 }' "/proc/$1/status"; }

# bench ENGINE ENDPOINT EMPTY_DIR...: runs the pulls, records median seconds in $work/ENGINE.median.
bench() {
  local engine=$1 endpoint=$2; shift 2
  local args=() d
  for d in "$@"; do args+=(--empty-dir "$d"); done
  echo "=== $engine: $RUNS cold pulls of $IMAGE"
  "$CONFORMANCE" bench-pull --endpoint "$endpoint" --image "$IMAGE" --runs "$RUNS" "${args[@]}" | tee "$work/$engine.out"
  sed -n 's/^median_seconds=//p' "$work/$engine.out" >"$work/$engine.median"
  [[ -s $work/$engine.median ]] || die "$engine: no median"
}

echo "=== test registry with the large image on 127.0.0.1:$PORT (building ~231 MB of layers takes a while)"
registry_started=1
TESTENV_BIN=$TESTENV TESTENV_ARGS=--with-large bash hack/test-registry.sh start "$PORT"

# crisharp: fresh daemon, temp root/state/socket.
d=$work/crisharp
mkdir -p "$d/net.d"
cat >"$d/crisharp.toml" <<TOML
root = "$d/root"
state_dir = "$d/state"
listen = "$d/crisharp.sock"
log_level = "info"
[network]
conf_dir = "$d/net.d"
[stream]
port = 0
TOML
"$BIN" --config "$d/crisharp.toml" --config-dir "$d/crisharp.d" 2>"$d/crisharp.log" &
crisharp_pid=$!
for _ in $(seq 100); do [[ -S $d/crisharp.sock ]] && break; sleep 0.1; done
[[ -S $d/crisharp.sock ]] || { tail -20 "$d/crisharp.log" >&2; die "crisharp did not start"; }
bench crisharp "unix://$d/crisharp.sock" "$d/root/blobs" "$d/root/layers"
crisharp_rss=$(peak_rss_kib "$crisharp_pid")
kill -TERM "$crisharp_pid"
wait "$crisharp_pid" || { tail -20 "$d/crisharp.log" >&2; die "crisharp did not exit cleanly on SIGTERM"; }
crisharp_pid=

# containerd reference: fresh daemon on an empty root (stop removes root and state).
ref_started=1
bash hack/containerd-reference.sh start
ref_pid=$(cat /run/crisharp-ref/containerd.pid)
bench containerd "unix://$REF_SOCK" \
  "$REF_ROOT/io.containerd.content.v1.content/blobs" "$REF_ROOT/io.containerd.snapshotter.v1.overlayfs/snapshots"
containerd_rss=$(peak_rss_kib "$ref_pid")
bash hack/containerd-reference.sh stop
ref_started=0

echo
awk -v ct="$(cat "$work/crisharp.median")" -v rt="$(cat "$work/containerd.median")" \
    -v cr="$crisharp_rss" -v rr="$containerd_rss" -v runs="$RUNS" 'BEGIN {
  printf "%-12s %22s %16s\n", "engine", "median pull (" runs " runs)", "peak RSS"
  printf "%-12s %20.3f s %12.1f MiB\n", "crisharp", ct, cr / 1024
  printf "%-12s %20.3f s %12.1f MiB\n", "containerd", rt, rr / 1024
  printf "%-12s %21.2fx %15.2fx\n", "ratio c#/ctd", ct / rt, cr / rr
}'
