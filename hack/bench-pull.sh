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
BENCH=bench-pull
# shellcheck source-path=SCRIPTDIR/..
source hack/lib/bench-common.sh
RUNS=${RUNS:-5}
# Its own test registry, not the conformance suite's 5055 (hack/containerd-reference.sh reaches both over HTTP).
PORT=${BENCH_REGISTRY_PORT:-5056}
IMAGE=127.0.0.1:$PORT/crisharp-test/large:latest
REF_ROOT=/var/lib/crisharp-ref   # hack/containerd-reference.sh

bench_preflight
bench_begin

peak_rss_kib() { awk '/^VmHWM:/ { print $2 }' "/proc/$1/status"; }

# bench ENGINE ENDPOINT DAEMON_LOG EMPTY_DIR...: runs the pulls, records median seconds in $work/ENGINE.median.
bench() {
  local engine=$1 endpoint=$2 daemon_log=$3; shift 3
  local args=() d
  for d in "$@"; do args+=(--empty-dir "$d"); done
  echo "=== $engine: $RUNS cold pulls of $IMAGE"
  run_conformance "$engine" "$daemon_log" bench-pull --endpoint "$endpoint" --image "$IMAGE" --runs "$RUNS" "${args[@]}"
  sed -n 's/^median_seconds=//p' "$work/$engine.out" >"$work/$engine.median"
  [[ -s $work/$engine.median ]] || die "$engine: no median"
}

echo "=== test registry with the large image on 127.0.0.1:$PORT (building ~231 MB of layers takes a while)"
TESTENV_ARGS=--with-large start_registry

# crisharp: fresh daemon, temp root/state/socket.
d=$work/crisharp
start_crisharp "$d"
bench crisharp "unix://$d/crisharp.sock" "$d/crisharp.log" "$d/root/blobs" "$d/root/layers"
crisharp_rss=$(peak_rss_kib "$crisharp_pid")
stop_crisharp

# containerd reference: fresh daemon on an empty root (stop removes root and state).
start_reference
bench containerd "unix://$REF_SOCK" "$REF_STATE/containerd.log" \
  "$REF_ROOT/io.containerd.content.v1.content/blobs" "$REF_ROOT/io.containerd.snapshotter.v1.overlayfs/snapshots"
containerd_rss=$(peak_rss_kib "$ref_pid")
stop_reference

echo
awk -v ct="$(cat "$work/crisharp.median")" -v rt="$(cat "$work/containerd.median")" \
    -v cr="$crisharp_rss" -v rr="$containerd_rss" -v runs="$RUNS" 'BEGIN {
  printf "%-12s %22s %16s\n", "engine", "median pull (" runs " runs)", "peak RSS"
  printf "%-12s %20.3f s %12.1f MiB\n", "crisharp", ct, cr / 1024
  printf "%-12s %20.3f s %12.1f MiB\n", "containerd", rt, rr / 1024
  printf "%-12s %21.2fx %15.2fx\n", "ratio c#/ctd", ct / rt, cr / rr
}'
