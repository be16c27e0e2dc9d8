#!/usr/bin/env bash
# Runs a critest binary you supply (kubernetes-sigs/cri-tools' CRI validation suite, 1.36.0) offline, in
# mirror mode: the test registry serves every image critest pulls under its real path and tag, and the
# runtime maps registry.k8s.io, gcr.io and k8s.gcr.io to it with no fallback upstream.
#
# Usage: hack/critest.sh CRITEST [ENDPOINT]
#   CRITEST   path to the critest binary (this repository neither ships nor builds it)
#   ENDPOINT  unix:///path.sock of a running runtime configured with the mirrors; `hack/critest.sh --mirror-config`
#             prints crisharp's drop-in for them (put it in /etc/crisharp/crisharp.d/ and restart crisharp).
#             Without ENDPOINT: a private crisharp ($CRISHARP_BIN) on its own socket, root, CNI bridge and mirrors.
# Env: TEST_REGISTRY_PORT (default 5055), CRITEST_ARGS (extra critest flags, e.g. -ginkgo.focus=Streaming),
#      CRITEST_EXPECTED (default conformance/critest-expected.txt).
# Prints one line per spec that did not pass, then `N passed, N failed, N skipped`, then the comparison with
# CRITEST_EXPECTED: exit 0 iff every spec passed except exactly those the file lists (with their reasons).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=hack/lib/private-crisharp.sh
source hack/lib/private-crisharp.sh

PORT=${TEST_REGISTRY_PORT:-5055}
REGISTRY=127.0.0.1:$PORT
EXPECTED=${CRITEST_EXPECTED:-conformance/critest-expected.txt}
BRIDGE=crisharpcrit0
SUBNET=10.93.0.0/16
FIREWALL_TAG="crisharp-critest-isolation pid $$"

mirror_config() {
  local r
  for r in registry.k8s.io gcr.io k8s.gcr.io; do
    printf '[registries.hosts."%s"]\nmirrors = ["http://%s"]\nmirrors_only = true\n' "$r" "$REGISTRY"
  done
}
if [[ ${1:-} == --mirror-config ]]; then mirror_config; exit 0; fi

CRITEST=${1:-}
ENDPOINT=${2:-}
die() { echo "critest: $*" >&2; exit 1; }
[[ -n $CRITEST ]] || die "usage: hack/critest.sh CRITEST [ENDPOINT] (CRITEST: path to a critest 1.36.0 binary; make critest CRITEST=...)"
[[ -x $CRITEST ]] || die "$CRITEST is not an executable file"
[[ $(id -u) -eq 0 ]] || die "must run as root (containers, CNI, host mounts)"
command -v jq >/dev/null || die "jq is missing (hack/install-deps.sh installs it)"
[[ -f $EXPECTED ]] || die "$EXPECTED not found"

work=$(mktemp -d /run/crisharp-critest.XXXXXX)
daemon_pid="" registry_started=0 firewall=0
ipc_before=$(ipcs -m | awk 'NR > 3 && $2 ~ /^[0-9]+$/ { print $2 }' | sort)
mounts_before=$(findmnt -rn -o TARGET | grep '^/tmp/' | sort || true)

cleanup() {
  set +e
  if [[ -n $daemon_pid ]]; then
    kill -TERM "$daemon_pid" 2>/dev/null
    # Its store goes; the logs stay. A daemon that did not exit cleanly keeps its state for a look.
    if wait "$daemon_pid" 2>/dev/null; then rm -rf "$work/root" "$work/state" "$work/ipam"
    else echo "critest: crisharp did not exit cleanly; its log: $work/crisharp.log" >&2; fi
    ip link del "$BRIDGE" 2>/dev/null
  fi
  if [[ $firewall -eq 1 ]]; then
    while iptables -w -C FORWARD -s "$SUBNET" ! -d "$SUBNET" -m comment --comment "$FIREWALL_TAG" -j DROP 2>/dev/null; do
      iptables -w -D FORWARD -s "$SUBNET" ! -d "$SUBNET" -m comment --comment "$FIREWALL_TAG" -j DROP
    done
  fi
  [[ $registry_started -eq 1 ]] && bash hack/test-registry.sh stop "$PORT" >/dev/null
  # critest's HostIpc specs leave the shared memory segment they made with ipcmk; its mount-propagation
  # specs leave bind mounts under /tmp when they fail early. Remove exactly what appeared during the run.
  local id m
  for id in $(comm -13 <(echo "$ipc_before") <(ipcs -m | awk 'NR > 3 && $2 ~ /^[0-9]+$/ { print $2 }' | sort)); do
    ipcrm -m "$id" 2>/dev/null
  done
  for m in $(comm -13 <(echo "$mounts_before") <(findmnt -rn -o TARGET | grep '^/tmp/' | sort) | sort -r); do
    umount -l "$m" 2>/dev/null
  done
  echo "critest: logs kept in $work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# The registry, with the crisharp-test/ images and every critest image (crisharp-testenv --push-images).
if [[ -f /run/crisharp-test/registry-$PORT.pid ]] && kill -0 "$(cat "/run/crisharp-test/registry-$PORT.pid")" 2>/dev/null; then
  echo "critest: using the test registry already running on $REGISTRY"
else
  TESTENV_BIN=${TESTENV_BIN:-$PWD/tests/CriSharp.TestSupport/bin/${CONFIG:-Release}/net10.0/crisharp-testenv}
  [[ -x $TESTENV_BIN ]] || die "$TESTENV_BIN not found: run make build"
  TESTENV_BIN=$TESTENV_BIN bash hack/test-registry.sh start "$PORT" || die "the test registry did not start on $REGISTRY"
  registry_started=1
fi

if [[ -z $ENDPOINT ]]; then
  BIN=${CRISHARP_BIN:-$PWD/src/CriSharp.Daemon/bin/Release/aot/crisharp}
  [[ -x $BIN ]] || die "$BIN not found: run make build (or pass ENDPOINT)"
  bash hack/prepare-host.sh
  # Pods reach each other and the node, never beyond it: the network does not masquerade and FORWARD drops
  # what leaves the pod subnet.
  iptables -w -I FORWARD -s "$SUBNET" ! -d "$SUBNET" -m comment --comment "$FIREWALL_TAG" -j DROP || die "could not install the isolation rule"
  firewall=1
  private_crisharp_config "$work" "$BRIDGE" "$SUBNET"
  mirror_config >>"$work/crisharp.toml"
  "$BIN" --config "$work/crisharp.toml" --config-dir "$work/crisharp.d" 2>"$work/crisharp.log" &
  daemon_pid=$!
  for _ in $(seq 100); do [[ -S $work/crisharp.sock ]] && break; sleep 0.1; done
  [[ -S $work/crisharp.sock ]] || die "crisharp did not start; log: $work/crisharp.log"
  ENDPOINT=unix://$work/crisharp.sock
  echo "critest: private crisharp on $ENDPOINT (mirrors: registry.k8s.io, gcr.io, k8s.gcr.io -> $REGISTRY)"
else
  echo "critest: against $ENDPOINT; it must mirror registry.k8s.io, gcr.io and k8s.gcr.io to $REGISTRY (hack/critest.sh --mirror-config)"
fi

# No -parallel: Ginkgo aborts when a flag named parallel is set at all.
echo "critest: running $CRITEST (log: $work/critest.log)"
# shellcheck disable=SC2086
"$CRITEST" -runtime-endpoint "$ENDPOINT" -image-endpoint "$ENDPOINT" \
  -ginkgo.json-report "$work/report.json" -ginkgo.no-color ${CRITEST_ARGS:-} >"$work/critest.log" 2>&1 || true
[[ -s $work/report.json ]] || { tail -30 "$work/critest.log" >&2; die "critest wrote no report ($work/report.json)"; }

# One line per spec: STATE <tab> "Group: context / context :: It" (the group without Ginkgo's "[k8s.io] ").
jq -r '.[].SpecReports[]? | select(.LeafNodeType == "It")
       | [.State, ((.ContainerHierarchyTexts[0] | sub("^\\[k8s\\.io\\] "; "")) + ": "
          + ((.ContainerHierarchyTexts[1:] + [.LeafNodeText]) | if length > 1 then (.[:-1] | join(" / ")) + " :: " + .[-1] else .[0] end))]
       | @tsv' "$work/report.json" | sort -t$'\t' -k2 >"$work/specs.tsv"

passed=0 failed=0 skipped=0
while IFS=$'\t' read -r state spec; do
  case $state in
    passed) passed=$((passed + 1)) ;;
    skipped|pending) skipped=$((skipped + 1)); echo "SKIP  $spec" ;;
    *) failed=$((failed + 1)); echo "FAIL  $spec ($state)" ;;
  esac
done <"$work/specs.tsv"
echo "$passed passed, $failed failed, $skipped skipped"

# Compare with the specs that cannot pass here: every other spec must pass, and each listed one must not.
expected=$(sed -e 's/[[:space:]]*#.*$//' -e '/^[[:space:]]*$/d' "$EXPECTED" | sort -u)
not_passed=$(awk -F'\t' '$1 != "passed" { print $2 }' "$work/specs.tsv" | sort -u)
unexpected=$(comm -13 <(echo "$expected") <(echo "$not_passed") | sed '/^$/d')
now_passing=$(comm -12 <(echo "$expected") <(awk -F'\t' '$1 == "passed" { print $2 }' "$work/specs.tsv" | sort -u) | sed '/^$/d')
missing=$(comm -23 <(echo "$expected") <(cut -f2 "$work/specs.tsv" | sort -u) | sed '/^$/d')
listed=$(echo "$expected" | sed '/^$/d' | wc -l)
status=0
if [[ -n $unexpected ]]; then
  status=1; echo "critest: did not pass and is not in $EXPECTED:"; sed 's/^/  /' <<<"$unexpected"
fi
if [[ -n $now_passing ]]; then
  status=1; echo "critest: passed although $EXPECTED says it cannot (remove it there):"; sed 's/^/  /' <<<"$now_passing"
fi
[[ -n $missing && -z ${CRITEST_ARGS:-} ]] && { echo "critest: listed in $EXPECTED but not run:"; sed 's/^/  /' <<<"$missing"; }
[[ $status -eq 0 ]] && echo "critest: as expected ($listed specs in $EXPECTED cannot pass here, every other spec passed)"
exit $status
