#!/usr/bin/env bash
# `make bench-lifecycle`: pod/container lifecycle latency and daemon memory, crisharp vs the containerd
# 1.6 reference, both on the same runc. For each engine, a freshly started daemon on an empty root:
# the busybox and pause images are pulled from the test registry, WARMUP unmeasured cycles run, then
#   - PODS host-network pods one after another, then PODS at once, each through the full cycle
#     RunPodSandbox → CreateContainer (busybox `sleep 3600`) → StartContainer → StopContainer (timeout 0)
#     → RemoveContainer → StopPodSandbox → RemovePodSandbox; median and p95 per phase, end-to-end and
#     pod-to-running (RunPodSandbox start → StartContainer done);
#   - the same (WARMUP unmeasured, PODS sequential, PODS concurrent) with pods on the CNI network: the
#     containerd reference's conflist (bridge, host-local, portmap, loopback; no masquerade), for crisharp
#     with its own bridge, subnet and IPAM dir; every such pod must report a pod IP. While it runs, FORWARD
#     drops whatever the two pod subnets send off their subnet (nothing in the bench sends anything);
#   - the daemon's VmRSS idle (after the warm-up) and with RSS_PODS host-network pods running (one
#     sleeping container each), plus the RSS of the per-pod monitors (conmon / containerd-shim).
# Everything it starts is stopped and removed at the end, pass or fail (daemons, registry, mounts, cgroups,
# bridges, veths, iptables rules, IPAM files, network namespaces); a runtime that leaves veths, IPAM
# reservations or pinned network namespaces of its removed pods behind fails the bench.
# Usage: hack/bench-lifecycle.sh   (env: CONFIG=Release PODS=20 RSS_PODS=50 WARMUP=3)
set -euo pipefail
cd "$(dirname "$0")/.."
CONFIG=${CONFIG:-Release}
PODS=${PODS:-20}
RSS_PODS=${RSS_PODS:-50}
WARMUP=${WARMUP:-3}
# 5055: containerd's sandbox_image (hack/containerd-reference.sh) is 127.0.0.1:5055/crisharp-test/pause:latest.
PORT=5055
BIN=${CRISHARP_BIN:-$PWD/src/CriSharp.Daemon/bin/$CONFIG/aot/crisharp}
CONFORMANCE=$PWD/conformance/CriSharp.Conformance/bin/$CONFIG/net10.0/cri-conformance
TESTENV=$PWD/tests/CriSharp.TestSupport/bin/$CONFIG/net10.0/crisharp-testenv
IMAGE=127.0.0.1:$PORT/crisharp-test/busybox:latest
PAUSE=127.0.0.1:$PORT/crisharp-test/pause:latest
REF_SOCK=/run/crisharp-ref/containerd.sock
REGISTRY_STATE=/run/crisharp-test
# Pod networks: crisharp's (below) and the containerd reference's (hack/containerd-reference.sh).
BENCH_BRIDGE=crisharpb0
BENCH_SUBNET=10.92.0.0/16
REF_BRIDGE=crisharpref0
REF_SUBNET=10.89.0.0/16
REF_STATE=/run/crisharp-ref
FIREWALL_TAG="crisharp-bench-isolation pid $$"

die() { echo "bench-lifecycle: $*" >&2; exit 1; }
[[ $(id -u) -eq 0 ]] || die "must run as root"
for f in "$BIN" "$CONFORMANCE" "$TESTENV"; do
  [[ -x $f ]] || die "$f is missing: run 'make build' first"
done
grep -q "sandbox_image = \"$PAUSE\"" hack/containerd-reference.sh \
  || die "hack/containerd-reference.sh does not set sandbox_image = \"$PAUSE\""
# Each engine must be freshly started: refuse to reuse (or kill) anything already running.
if bash hack/containerd-reference.sh status >/dev/null 2>&1; then
  die "the containerd reference is already running; stop it first (hack/containerd-reference.sh stop)"
fi
if [[ -f $REGISTRY_STATE/registry-$PORT.pid ]] && kill -0 "$(cat "$REGISTRY_STATE/registry-$PORT.pid")" 2>/dev/null; then
  die "a test registry already runs on port $PORT; stop it first (hack/test-registry.sh stop $PORT)"
fi
for b in "$BENCH_BRIDGE" "$REF_BRIDGE"; do
  ! ip link show "$b" >/dev/null 2>&1 || die "bridge $b already exists (another bench or test run?); it is ours to create and delete"
done
grep -q "\"subnet\": \"$REF_SUBNET\"" hack/containerd-reference.sh && grep -q "BRIDGE=$REF_BRIDGE" hack/containerd-reference.sh \
  || die "hack/containerd-reference.sh no longer uses bridge $REF_BRIDGE on $REF_SUBNET"

# Made by the containerd reference (shim sockets, runc state, the k8s.io cgroup parent) outside its
# own root and state: removed at the end (empty dirs only) if they did not exist before.
had_run_containerd=0; [[ -e /run/containerd ]] && had_run_containerd=1
had_k8s_cgroup=0; compgen -G '/sys/fs/cgroup/*/k8s.io' >/dev/null && had_k8s_cgroup=1

work=$(mktemp -d /run/crisharp-bench.XXXXXX)
crisharp_pid=
registry_started=0
ref_started=0
firewall=()
fw_rule() { fw=(FORWARD -s "$1" ! -d "$1" -m comment --comment "$FIREWALL_TAG" -j DROP); }
# net_leaks ENGINE BRIDGE IPAM_DIR STATE_DIR: after the engine removed every bench pod, none of their
# network may remain: veths on the bridge, host-local reservations, network namespaces pinned under its state.
net_leaks() {
  local leaks
  leaks=$( (ip -o link show master "$2" 2>/dev/null | awk -F': ' '{ sub(/@.*/, "", $2); print "veth " $2 }'
            [[ -d $3 ]] && find "$3" -type f ! -name 'last_reserved_ip.*' ! -name lock -printf 'IPAM reservation %p\n'
            findmnt -rn -t nsfs -o TARGET | awk -v d="$4" 'index($0, d "/") == 1 { print "netns " $0 }') || true)
  [[ -z $leaks ]] || die "$1 left the network of its removed pods behind: $(paste -sd ';' <<<"$leaks")"
}
# reap_cgroups ENGINE IDS_FILE: cgroup dirs named after the bench's pod and container ids that are
# still there once the engine removed the pods are a leak: reported, then removed (rmdir, deepest first).
reap_cgroups() {
  local engine=$1 ids=$2 dirs c
  [[ -s $ids ]] || return 0
  dirs=$(find /sys/fs/cgroup -mindepth 2 -type d 2>/dev/null | grep -F -f "$ids" | sort -r || true)
  [[ -n $dirs ]] || return 0
  echo "bench-lifecycle: WARNING: $engine left $(wc -l <<<"$dirs") cgroup dirs of its removed pods behind, e.g. $(head -1 <<<"$dirs"); removing them" >&2
  while read -r c; do rmdir "$c" 2>/dev/null || echo "bench-lifecycle: could not remove $c" >&2; done <<<"$dirs"
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
  local s
  for s in "${firewall[@]}"; do
    fw_rule "$s"
    while iptables -w -C "${fw[@]}" 2>/dev/null; do iptables -w -D "${fw[@]}" 2>/dev/null || break; done
  done
  if ip link show "$BENCH_BRIDGE" >/dev/null 2>&1; then
    ip link del "$BENCH_BRIDGE" || echo "bench-lifecycle: could not delete bridge $BENCH_BRIDGE" >&2
  fi
  [[ $had_run_containerd -eq 1 ]] || find /run/containerd -depth -type d -empty -delete 2>/dev/null || true
  [[ $had_k8s_cgroup -eq 1 ]] || rmdir /sys/fs/cgroup/*/k8s.io 2>/dev/null || true
  # A failed crisharp run may leave mounts (pod shm, overlay rootfs) under the work dir.
  findmnt -rn -o TARGET | awk -v d="$work" 'index($0, d "/") == 1' | sort -r | while read -r m; do
    umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || echo "bench-lifecycle: could not unmount $m" >&2
  done
  rm -rf "$work"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# bench ENGINE ENDPOINT PID HELPER_MATCH DAEMON_LOG: runs the bench, keeps its output in $work/ENGINE.out.
bench() {
  local engine=$1 endpoint=$2 pid=$3 helpers=$4 daemon_log=$5
  echo "=== $engine: warm-up $WARMUP, $PODS sequential + $PODS concurrent pod cycles (host network, then CNI), RSS with $RSS_PODS pods"
  if ! "$CONFORMANCE" bench-lifecycle --endpoint "$endpoint" --image "$IMAGE" --pull "$PAUSE" \
      --log-dir "$work/logs-$engine" --daemon-pid "$pid" --helper-match "$helpers" --ids-file "$work/$engine.ids" \
      --pods "$PODS" --rss-pods "$RSS_PODS" --warmup "$WARMUP" --cni | tee "$work/$engine.out"; then
    echo "--- last lines of $daemon_log (kept as /tmp/bench-lifecycle-$engine.log)" >&2
    tail -30 "$daemon_log" >&2 || true
    cp "$daemon_log" "/tmp/bench-lifecycle-$engine.log" || true
    die "$engine: bench failed"
  fi
}

for s in "$BENCH_SUBNET" "$REF_SUBNET"; do
  fw_rule "$s"
  iptables -w -I "${fw[@]}" 2>/dev/null || die "could not install the isolation rule: iptables -I ${fw[*]}"
  firewall+=("$s")
done

echo "=== test registry on 127.0.0.1:$PORT"
registry_started=1
TESTENV_BIN=$TESTENV bash hack/test-registry.sh start "$PORT"

# crisharp: fresh daemon, temp root/state/socket, default handler runc. Its CNI network is the
# reference's conflist with its own bridge, subnet and IPAM dir.
d=$work/crisharp
mkdir -p "$d/net.d"
cat >"$d/net.d/10-crisharp-bench.conflist" <<JSON
{
  "cniVersion": "0.4.0",
  "name": "crisharp-bench",
  "plugins": [
    {
      "type": "bridge",
      "bridge": "$BENCH_BRIDGE",
      "isGateway": true,
      "ipMasq": false,
      "hairpinMode": true,
      "ipam": {
        "type": "host-local",
        "ranges": [[{ "subnet": "$BENCH_SUBNET" }]],
        "routes": [{ "dst": "0.0.0.0/0" }],
        "dataDir": "$d/ipam"
      }
    },
    { "type": "portmap", "capabilities": { "portMappings": true } },
    { "type": "loopback" }
  ]
}
JSON
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
bench crisharp "unix://$d/crisharp.sock" "$crisharp_pid" "$d/state/" "$d/crisharp.log"
net_leaks crisharp "$BENCH_BRIDGE" "$d/ipam" "$d"
kill -TERM "$crisharp_pid"
wait "$crisharp_pid" || { tail -20 "$d/crisharp.log" >&2; die "crisharp did not exit cleanly on SIGTERM"; }
crisharp_pid=
left=$(findmnt -rn -o TARGET | awk -v d="$d" 'index($0, d "/") == 1' || true)
[[ -z $left ]] || die "crisharp left mounts behind: $left"
reap_cgroups crisharp "$work/crisharp.ids"
ip link del "$BENCH_BRIDGE"

# containerd reference: fresh daemon on an empty root (stop removes root, state, shims and mounts).
ref_started=1
bash hack/containerd-reference.sh start
ref_pid=$(cat /run/crisharp-ref/containerd.pid)
bench containerd "unix://$REF_SOCK" "$ref_pid" "-address $REF_SOCK " /run/crisharp-ref/containerd.log
net_leaks containerd "$REF_BRIDGE" "$REF_STATE/cni-ipam" "$REF_STATE"
bash hack/containerd-reference.sh stop
ref_started=0
reap_cgroups containerd "$work/containerd.ids"

echo
awk -v pods="$PODS" -v rsspods="$RSS_PODS" '
  FNR == 1 { engine = (FILENAME ~ /crisharp\.out$/) ? "c" : "r" }
  $1 == "stat"    { med[engine, $2, $3] = $4; p95[engine, $2, $3] = $5
                    if (engine == "c" && !(($2, $3) in seen)) { seen[$2, $3] = 1; phases[$2, ++np[$2]] = $3 } }
  $1 == "rss"     { rss[engine, $2] = $3 }
  $1 == "helpers" { hk[engine, $2] = $3; hn[engine, $2] = $4 }
  function ratio(a, b) { return b > 0 ? a / b : 0 }
  END {
    printf "%-20s %-17s %21s %21s %15s\n", "mode", "phase", "crisharp med / p95", "containerd med / p95", "ratio med / p95"
    printf "%-20s %-17s %21s %21s %15s\n", "", "", "(ms)", "(ms)", "(c#/ctd)"
    split("sequential concurrent cni-sequential cni-concurrent", modes, " ")
    for (m = 1; m <= 4; m++) {
      mode = modes[m]
      for (i = 1; i <= np[mode]; i++) {
        ph = phases[mode, i]
        label = (i == 1) ? mode " (" pods ")" : ""
        c = med["c", mode, ph]; r = med["r", mode, ph]
        if (ph == "wall") {
          printf "%-20s %-17s %21.1f %21.1f %15.2f\n", label, "wall (all pods)", c, r, ratio(c, r)
          continue
        }
        printf "%-20s %-17s %10.1f / %8.1f %10.1f / %8.1f %7.2f / %5.2f\n", label, ph,
          c, p95["c", mode, ph], r, p95["r", mode, ph], ratio(c, r), ratio(p95["c", mode, ph], p95["r", mode, ph])
      }
    }
    print ""
    printf "%-36s %14s %14s %9s\n", "memory (MiB)", "crisharp", "containerd", "c#/ctd"
    printf "%-36s %14.1f %14.1f %9.2f\n", "daemon VmRSS idle (after warm-up)", rss["c", "idle"] / 1024, rss["r", "idle"] / 1024, ratio(rss["c", "idle"], rss["r", "idle"])
    printf "%-36s %14.1f %14.1f %9.2f\n", "daemon VmRSS with " rsspods " pods", rss["c", "loaded"] / 1024, rss["r", "loaded"] / 1024, ratio(rss["c", "loaded"], rss["r", "loaded"])
    printf "%-36s %14.1f %14.1f %9.2f\n", "daemon VmHWM (peak, whole bench)", rss["c", "peak"] / 1024, rss["r", "peak"] / 1024, ratio(rss["c", "peak"], rss["r", "peak"])
    printf "%-36s %8.1f (%3d) %8.1f (%3d) %9.2f\n", "monitors with " rsspods " pods (procs)", hk["c", "loaded"] / 1024, hn["c", "loaded"], hk["r", "loaded"] / 1024, hn["r", "loaded"], ratio(hk["c", "loaded"], hk["r", "loaded"])
    print "monitors: crisharp = processes under its state dir (conmon, one per container); containerd = containerd-shim-runc-v2 (one per pod)"
    print "sequential/concurrent: host-network pods; cni-*: pods on the bridge network (CNI ADD/DEL in RunPodSandbox/StopPodSandbox)"
  }' "$work/crisharp.out" "$work/containerd.out"
