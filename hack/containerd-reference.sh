#!/usr/bin/env bash
# Runs Debian's containerd (1.6, built-in CRI plugin) as a *reference* CRI
# runtime on its own socket, root and state, so the conformance suite can be
# checked against a known-good implementation. Never touches a system
# containerd (/run/containerd/containerd.sock, /var/lib/containerd, systemd unit).
#
# Usage: hack/containerd-reference.sh start|stop|status
#   start   idempotent; waits up to 20 s for the socket to answer
#   stop    idempotent; kills containerd and its shims, unmounts, removes dirs
set -euo pipefail

STATE=/run/crisharp-ref
ROOT=/var/lib/crisharp-ref
SOCK=$STATE/containerd.sock
CONFIG=$STATE/config.toml
NETD=$STATE/net.d
LOG=$STATE/containerd.log
PIDFILE=$STATE/containerd.pid
BRIDGE=crisharpref0
# Test registries (hack/test-registry.sh) reached over plain HTTP: 5055 for the conformance suite,
# 5056 for hack/bench-pull.sh.
REGISTRIES="127.0.0.1:5055 127.0.0.1:5056"
WAIT_SECONDS=20

log() { echo "containerd-reference: $*" >&2; }
die() { log "$*"; exit 1; }

[ "$(id -u)" = 0 ] || die "must run as root"

running_pid() {
  local pid
  [ -f "$PIDFILE" ] || return 1
  pid="$(cat "$PIDFILE" 2>/dev/null || true)"
  [ -n "$pid" ] && [ -d "/proc/$pid" ] || return 1
  # Guard against PID reuse: it must be our containerd (our config on its cmdline).
  tr '\0' ' ' 2>/dev/null <"/proc/$pid/cmdline" | grep -q -- "--config $CONFIG" || return 1
  echo "$pid"
}

answers() {
  ctr --address "$SOCK" version >/dev/null 2>&1 || return 1
  # The CRI plugin must have loaded, not just the containerd core.
  ctr --address "$SOCK" plugins ls 2>/dev/null | awk '$2 == "cri" && $NF == "ok" { found = 1 } END { exit !found }'
}

write_config() {
  mkdir -p "$STATE" "$ROOT" "$NETD"
  cat >"$NETD/10-crisharpref.conflist" <<JSON
{
  "cniVersion": "0.4.0",
  "name": "crisharpref",
  "plugins": [
    {
      "type": "bridge",
      "bridge": "$BRIDGE",
      "isGateway": true,
      "ipMasq": false,
      "hairpinMode": true,
      "ipam": {
        "type": "host-local",
        "ranges": [[{ "subnet": "10.89.0.0/16" }]],
        "routes": [{ "dst": "0.0.0.0/0" }],
        "dataDir": "$STATE/cni-ipam"
      }
    },
    { "type": "portmap", "capabilities": { "portMappings": true } },
    { "type": "loopback" }
  ]
}
JSON
  cat >"$CONFIG" <<TOML
version = 2
root = "$ROOT"
state = "$STATE"
oom_score = 0
# Snapshotters/plugins that need host features we neither have nor want.
disabled_plugins = [
  "io.containerd.snapshotter.v1.aufs",
  "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.zfs",
  "io.containerd.snapshotter.v1.devmapper",
  "io.containerd.internal.v1.opt",
  "io.containerd.tracing.processor.v1.otlp",
]

[grpc]
  address = "$SOCK"
  uid = 0
  gid = 0

[ttrpc]
  address = "$STATE/containerd.sock.ttrpc"

[debug]
  address = ""
  level = "info"

[metrics]
  address = ""

[plugins]
  [plugins."io.containerd.grpc.v1.cri"]
    # The test registry's pause image (hack/test-registry.sh on 5055): no public registry is contacted.
    sandbox_image = "127.0.0.1:5055/crisharp-test/pause:latest"
    # Root here lacks CAP_SYS_RESOURCE: runc cannot lower oom_score_adj (the sandbox's default -998
    # fails with "can't get final child's PID from pipe: EOF"); clamp to containerd's own score.
    restrict_oom_score_adj = true
    netns_mounts_under_state_dir = true
    disable_tcp_service = true
    stream_server_address = "127.0.0.1"
    stream_server_port = "0"
    enable_selinux = false
    systemd_cgroup = false

    [plugins."io.containerd.grpc.v1.cri".containerd]
      snapshotter = "overlayfs"
      default_runtime_name = "runc"

      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
        runtime_type = "io.containerd.runc.v2"

        [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
          SystemdCgroup = false

    [plugins."io.containerd.grpc.v1.cri".cni]
      bin_dir = "/usr/lib/cni"
      conf_dir = "$NETD"
      max_conf_num = 1

    [plugins."io.containerd.grpc.v1.cri".registry]
      config_path = ""

      [plugins."io.containerd.grpc.v1.cri".registry.mirrors]
TOML
  local r
  for r in $REGISTRIES; do
    cat >>"$CONFIG" <<TOML
        [plugins."io.containerd.grpc.v1.cri".registry.mirrors."$r"]
          endpoint = ["http://$r"]
TOML
  done
}

start() {
  command -v containerd >/dev/null || die "containerd not installed (apt-get install containerd)"
  command -v ctr >/dev/null || die "ctr not installed"
  local pid
  if pid="$(running_pid)"; then
    if answers; then log "already running (pid $pid) on unix://$SOCK"; return 0; fi
    die "containerd pid $pid is running but $SOCK does not answer; see $LOG (run 'stop' first)"
  fi
  write_config
  : >"$LOG"
  # setsid: own session, so the caller's terminal/job control does not kill it.
  setsid containerd --config "$CONFIG" --log-level info >>"$LOG" 2>&1 </dev/null &
  pid=$!
  echo "$pid" >"$PIDFILE"
  local deadline=$((SECONDS + WAIT_SECONDS))
  while ((SECONDS < deadline)); do
    if answers; then
      log "started pid $pid on unix://$SOCK (log: $LOG)"
      return 0
    fi
    [ -d "/proc/$pid" ] || { tail -n 30 "$LOG" >&2 || true; die "containerd exited during startup; log: $LOG"; }
    sleep 0.2
  done
  tail -n 30 "$LOG" >&2 || true
  die "socket $SOCK did not answer (with CRI plugin ok) within ${WAIT_SECONDS}s; log: $LOG"
}

# PIDs of containerd-shim processes started by *our* containerd (their
# cmdline carries "-address $SOCK").
our_shims() {
  local d cmd
  for d in /proc/[0-9]*; do
    cmd="$(tr '\0' ' ' 2>/dev/null <"$d/cmdline" || true)"
    case "$cmd" in
      *containerd-shim*"-address $SOCK "*) echo "${d#/proc/}" ;;
    esac
  done
}

wait_gone() { # pid seconds
  local i
  for ((i = 0; i < $2 * 10; i++)); do [ -d "/proc/$1" ] || return 0; sleep 0.1; done
  return 1
}

stop() {
  local pid p
  if pid="$(running_pid)"; then
    kill -TERM "$pid" 2>/dev/null || true
    wait_gone "$pid" 10 || { log "containerd $pid ignored SIGTERM, sending SIGKILL"; kill -KILL "$pid" 2>/dev/null || true; wait_gone "$pid" 5 || true; }
  fi
  for p in $(our_shims); do kill -KILL "$p" 2>/dev/null || true; done
  for p in $(our_shims); do wait_gone "$p" 5 || true; done

  # Unmount anything left under our root/state, deepest first.
  local dir m
  for dir in "$ROOT" "$STATE"; do
    [ -e "$dir" ] || continue
    findmnt -rn -o TARGET | awk -v d="$dir" '$0 == d || index($0, d "/") == 1' | sort -r | while read -r m; do
      umount -R "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || log "could not unmount $m"
    done
  done
  rm -rf "$STATE" "$ROOT"

  if ip link show "$BRIDGE" >/dev/null 2>&1; then
    ip link delete "$BRIDGE" || log "could not delete bridge $BRIDGE"
  fi
  log "stopped"
}

status() {
  local pid
  if pid="$(running_pid)" && answers; then echo "running pid $pid unix://$SOCK"; else echo "not running"; return 1; fi
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) status ;;
  *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
