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
BENCH=bench-lifecycle
# shellcheck source-path=SCRIPTDIR/..
source hack/lib/bench-common.sh
PODS=${PODS:-20}
RSS_PODS=${RSS_PODS:-50}
WARMUP=${WARMUP:-3}
# Pod networks: crisharp's (below) and the containerd reference's (hack/containerd-reference.sh).
BENCH_BRIDGE=crisharpb0
BENCH_SUBNET=10.92.0.0/16
REF_BRIDGE=crisharpref0
REF_SUBNET=10.89.0.0/16
FIREWALL_TAG="crisharp-bench-isolation pid $$"

bench_preflight
grep -q "sandbox_image = \"$PAUSE\"" hack/containerd-reference.sh \
  || die "hack/containerd-reference.sh does not set sandbox_image = \"$PAUSE\""
for b in "$BENCH_BRIDGE" "$REF_BRIDGE"; do
  ! ip link show "$b" >/dev/null 2>&1 || die "bridge $b already exists (another bench or test run?); it is ours to create and delete"
done
{ grep -q "\"subnet\": \"$REF_SUBNET\"" hack/containerd-reference.sh && grep -q "BRIDGE=$REF_BRIDGE" hack/containerd-reference.sh; } \
  || die "hack/containerd-reference.sh no longer uses bridge $REF_BRIDGE on $REF_SUBNET"

firewall=()
fw_rule() { fw=(FORWARD -s "$1" ! -d "$1" -m comment --comment "$FIREWALL_TAG" -j DROP); }
# remove_network: the isolation rules installed below and crisharp's bridge (the reference's own stop
# deletes its bridge); run on exit, pass or fail.
remove_network() {
  local s
  for s in "${firewall[@]}"; do
    fw_rule "$s"
    while iptables -w -C "${fw[@]}" 2>/dev/null; do iptables -w -D "${fw[@]}" 2>/dev/null || break; done
  done
  if ip link show "$BENCH_BRIDGE" >/dev/null 2>&1; then
    ip link del "$BENCH_BRIDGE" || echo "$BENCH: could not delete bridge $BENCH_BRIDGE" >&2
  fi
}
bench_begin
cleanup_hooks+=(remove_network)

# net_leaks ENGINE BRIDGE IPAM_DIR STATE_DIR: after the engine removed every bench pod, none of their
# network may remain: veths on the bridge, host-local reservations, network namespaces pinned under its state.
net_leaks() {
  local leaks
  leaks=$( (ip -o link show master "$2" 2>/dev/null | awk -F': ' '{ sub(/@.*/, "", $2); print "veth " $2 }'
            [[ -d $3 ]] && find "$3" -type f ! -name 'last_reserved_ip.*' ! -name lock -printf 'IPAM reservation %p\n'
            findmnt -rn -t nsfs -o TARGET | awk -v d="$4" 'index($0, d "/") == 1 { print "netns " $0 }') || true)
  [[ -z $leaks ]] || die "$1 left the network of its removed pods behind: $(paste -sd ';' <<<"$leaks")"
}

# bench ENGINE ENDPOINT PID HELPER_MATCH DAEMON_LOG: runs the bench, keeps its output in $work/ENGINE.out.
bench() {
  local engine=$1 endpoint=$2 pid=$3 helpers=$4 daemon_log=$5
  echo "=== $engine: warm-up $WARMUP, $PODS sequential + $PODS concurrent pod cycles (host network, then CNI), RSS with $RSS_PODS pods"
  run_conformance "$engine" "$daemon_log" bench-lifecycle --endpoint "$endpoint" --image "$IMAGE" --pull "$PAUSE" \
    --log-dir "$work/logs-$engine" --daemon-pid "$pid" --helper-match "$helpers" --ids-file "$work/$engine.ids" \
    --pods "$PODS" --rss-pods "$RSS_PODS" --warmup "$WARMUP" --cni
}

for s in "$BENCH_SUBNET" "$REF_SUBNET"; do
  fw_rule "$s"
  iptables -w -I "${fw[@]}" 2>/dev/null || die "could not install the isolation rule: iptables -I ${fw[*]}"
  firewall+=("$s")
done

echo "=== test registry on 127.0.0.1:$PORT"
start_registry

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
start_crisharp "$d" runc
bench crisharp "unix://$d/crisharp.sock" "$crisharp_pid" "$d/state/" "$d/crisharp.log"
net_leaks crisharp "$BENCH_BRIDGE" "$d/ipam" "$d"
stop_crisharp
left=$(findmnt -rn -o TARGET | awk -v d="$d" 'index($0, d "/") == 1' || true)
[[ -z $left ]] || die "crisharp left mounts behind: $left"
reap_cgroups crisharp "$work/crisharp.ids"
ip link del "$BENCH_BRIDGE"

# containerd reference: fresh daemon on an empty root (stop removes root, state, shims and mounts).
start_reference
bench containerd "unix://$REF_SOCK" "$ref_pid" "-address $REF_SOCK " "$REF_STATE/containerd.log"
net_leaks containerd "$REF_BRIDGE" "$REF_STATE/cni-ipam" "$REF_STATE"
stop_reference
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
