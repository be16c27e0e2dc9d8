# shellcheck shell=bash
# shellcheck disable=SC2034  # its variables are for the scripts that source it
# What the crisharp-vs-containerd benches (hack/bench-*.sh) share: the binaries, images and reference they
# use, the checks before they start anything, and starting and (pass or fail) stopping and removing what they
# start: the test registry, a crisharp daemon, the containerd reference, and what those leave behind.
# Sourced by each bench after its `cd` to the repo root, with BENCH set to its name (the prefix of its
# messages and of its work dir). Only sets variables and defines functions; a bench then calls
#   bench_preflight; (its own checks); bench_begin; (cleanup_hooks+=(fn) for its own extras)
# and starts what it needs with start_registry, start_crisharp/stop_crisharp, start_reference/stop_reference.

: "${BENCH:?set BENCH, the name of the bench script, before sourcing bench-common.sh}"
CONFIG=${CONFIG:-Release}
# 5055: containerd's sandbox_image (hack/containerd-reference.sh) is 127.0.0.1:5055/crisharp-test/pause:latest.
PORT=5055
BIN=${CRISHARP_BIN:-$PWD/src/CriSharp.Daemon/bin/$CONFIG/aot/crisharp}
CONFORMANCE=$PWD/conformance/CriSharp.Conformance/bin/$CONFIG/net10.0/cri-conformance
TESTENV=$PWD/tests/CriSharp.TestSupport/bin/$CONFIG/net10.0/crisharp-testenv
IMAGE=127.0.0.1:$PORT/crisharp-test/busybox:latest
PAUSE=127.0.0.1:$PORT/crisharp-test/pause:latest
# The containerd reference's socket, pid file, log and CNI state (hack/containerd-reference.sh).
REF_STATE=/run/crisharp-ref
REF_SOCK=$REF_STATE/containerd.sock
REGISTRY_STATE=/run/crisharp-test

die() { echo "$BENCH: $*" >&2; exit 1; }

# bench_preflight: root, everything built, and nothing of ours already running: each engine must be
# freshly started, so refuse to reuse (or kill) a running reference or test registry.
bench_preflight() {
  local f
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
}

# bench_begin: the work dir ($work, under /run: daemon roots, logs, ids files, results) and the traps that
# run bench_cleanup on any exit. Call it after the checks that may refuse to run: from here on whatever the
# bench started is stopped and removed, and a check failing later must not remove what is not ours.
bench_begin() {
  # Made by the containerd reference (shim sockets, runc state, the k8s.io cgroup parent) outside its
  # own root and state: removed at the end (empty dirs only) if they did not exist before.
  had_run_containerd=0; [[ -e /run/containerd ]] && had_run_containerd=1
  had_k8s_cgroup=0; compgen -G '/sys/fs/cgroup/*/k8s.io' >/dev/null && had_k8s_cgroup=1
  work=$(mktemp -d "/run/crisharp-$BENCH.XXXXXX")
  [[ -n $work && -d $work ]] || die "mktemp failed"
  crisharp_pid=
  crisharp_dir=
  registry_started=0
  ref_started=0
  # Functions bench_cleanup runs (in order, after the engines and the registry are stopped) for what only
  # one bench makes, e.g. firewall rules or a bridge.
  cleanup_hooks=()
  trap bench_cleanup EXIT
  trap 'exit 130' INT TERM
}

# reap_cgroups ENGINE IDS_FILE: cgroup dirs named after the bench's pod and container ids that are
# still there once the engine removed the pods are a leak: reported, then removed (rmdir, deepest first).
reap_cgroups() {
  local engine=$1 ids=$2 dirs c
  [[ -s $ids ]] || return 0
  dirs=$(find /sys/fs/cgroup -mindepth 2 -type d 2>/dev/null | grep -F -f "$ids" | sort -r || true)
  [[ -n $dirs ]] || return 0
  echo "$BENCH: WARNING: $engine left $(wc -l <<<"$dirs") cgroup dirs of its removed pods behind, e.g. $(head -1 <<<"$dirs"); removing them" >&2
  while read -r c; do rmdir "$c" 2>/dev/null || echo "$BENCH: could not remove $c" >&2; done <<<"$dirs"
}

# bench_cleanup: the EXIT trap; keeps the exit status. Best effort throughout: one step failing must not
# keep the others from running.
bench_cleanup() {
  local rc=$? hook m
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
  for hook in "${cleanup_hooks[@]}"; do "$hook" || true; done
  [[ $had_run_containerd -eq 1 ]] || find /run/containerd -depth -type d -empty -delete 2>/dev/null || true
  [[ $had_k8s_cgroup -eq 1 ]] || rmdir /sys/fs/cgroup/*/k8s.io 2>/dev/null || true
  # A failed crisharp run may leave mounts (pod shm, overlay rootfs) under the work dir.
  findmnt -rn -o TARGET | awk -v d="$work" 'index($0, d "/") == 1' | sort -r | while read -r m; do
    umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || echo "$BENCH: could not unmount $m" >&2
  done
  rm -rf -- "$work"
  exit "$rc"
}

# start_registry: the test registry (hack/test-registry.sh) on $PORT with the test images, plus whatever
# crisharp-testenv options TESTENV_ARGS names (`TESTENV_ARGS=--with-large start_registry`).
start_registry() {
  registry_started=1
  TESTENV_BIN=$TESTENV bash hack/test-registry.sh start "$PORT"
}

# start_crisharp DIR [runc]: a fresh crisharp daemon with its root, state and socket (DIR/crisharp.sock)
# under DIR, its CNI config dir DIR/net.d, its stderr in DIR/crisharp.log, and with `runc` Debian's runc
# as the default runtime handler (its state under DIR too); waits up to 10 s for the socket.
start_crisharp() {
  local d=$1 runtime=${2:-}
  mkdir -p "$d/net.d"
  {
    cat <<TOML
root = "$d/root"
state_dir = "$d/state"
listen = "$d/crisharp.sock"
log_level = "info"
TOML
    if [[ $runtime == runc ]]; then
      cat <<TOML
default_runtime = "runc"
[runtimes.runc]
path = "/usr/sbin/runc"
root_dir = "$d/state/runc"
TOML
    fi
    cat <<TOML
[network]
conf_dir = "$d/net.d"
[stream]
port = 0
TOML
  } >"$d/crisharp.toml"
  "$BIN" --config "$d/crisharp.toml" --config-dir "$d/crisharp.d" 2>"$d/crisharp.log" &
  crisharp_pid=$!
  crisharp_dir=$d
  for _ in $(seq 100); do [[ -S $d/crisharp.sock ]] && break; sleep 0.1; done
  [[ -S $d/crisharp.sock ]] || { tail -20 "$d/crisharp.log" >&2; die "crisharp did not start"; }
}

# stop_crisharp: SIGTERM to the daemon start_crisharp started, which must then exit 0.
stop_crisharp() {
  kill -TERM "$crisharp_pid"
  wait "$crisharp_pid" || { tail -20 "$crisharp_dir/crisharp.log" >&2; die "crisharp did not exit cleanly on SIGTERM"; }
  crisharp_pid=
}

# start_reference: the containerd reference, a fresh daemon on an empty root (its stop removes root, state,
# shims and mounts); its pid in $ref_pid.
start_reference() {
  ref_started=1
  bash hack/containerd-reference.sh start
  ref_pid=$(cat "$REF_STATE/containerd.pid")
}

stop_reference() {
  bash hack/containerd-reference.sh stop
  ref_started=0
}

# run_conformance ENGINE DAEMON_LOG ARGS...: `cri-conformance ARGS...` (one bench against one engine), its
# output shown and kept in $work/ENGINE.out. If it fails, the tail of the engine's log is shown and the log
# kept as /tmp/$BENCH-ENGINE.log (the work dir is removed on exit).
run_conformance() {
  local engine=$1 daemon_log=$2
  shift 2
  if ! "$CONFORMANCE" "$@" | tee "$work/$engine.out"; then
    echo "--- last lines of $daemon_log (kept as /tmp/$BENCH-$engine.log)" >&2
    tail -30 "$daemon_log" >&2 || true
    cp "$daemon_log" "/tmp/$BENCH-$engine.log" || true
    die "$engine: bench failed"
  fi
}
