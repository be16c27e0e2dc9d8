#!/usr/bin/env bash
# The test command behind `make test`: the format check (.editorconfig), unit tests, integration tests (real runc, conmon, CNI
# plugins, registry), the conformance suite against a freshly started crisharp, and the same
# suite against Debian's containerd as a reference. Prints one closing line `N passed, N failed`.
# Usage: hack/test.sh [all|unit|integration|conformance|reference]
set -uo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=hack/lib/private-crisharp.sh
source hack/lib/private-crisharp.sh
CONFIG=${CONFIG:-Release}
STAGE=${1:-all}
BIN=src/CriSharp.Daemon/bin/$CONFIG/aot/crisharp
CONFORMANCE=conformance/CriSharp.Conformance/bin/$CONFIG/net10.0/cri-conformance
TESTENV=tests/CriSharp.TestSupport/bin/$CONFIG/net10.0/crisharp-testenv
# The test images for the conformance stages (hack/test-registry.sh; containerd has a plain-HTTP mirror for it).
REGISTRY_PORT=5055
REGISTRY=127.0.0.1:$REGISTRY_PORT
REGISTRY_STATE=/run/crisharp-test
# The pod networks of the conformance stages: crisharp's test conflist (conformance_crisharp) and the
# containerd reference's (hack/containerd-reference.sh). Both bridges are removed after their stage.
CRISHARP_BRIDGE=crisharpt0
CRISHARP_SUBNET=10.90.0.0/16
REF_BRIDGE=crisharpref0
REF_SUBNET=10.89.0.0/16
# Comment on the isolation rules (firewall_up), with this script's pid so concurrent runs keep apart.
FIREWALL_TAG=crisharp-test-isolation
export CRISHARP_BIN=$PWD/$BIN

passed=0
failed=0
problems=()

if [[ $(id -u) -ne 0 ]]; then
  echo "test: must run as root (real containers, mounts, network namespaces)" >&2
  exit 1
fi
bash hack/prepare-host.sh || exit 1
for f in "$BIN" "$CONFORMANCE" "$TESTENV"; do
  [[ -x $f ]] || { echo "test: $f is missing: run 'make build' first" >&2; exit 1; }
done

# Adds the counts of one `dotnet test` run; a run that crashed without a summary counts as a failure.
dotnet_tests() {
  local name=$1 project=$2 out rc p f names
  out=$(mktemp)
  echo "=== $name"
  dotnet test "$project" -c "$CONFIG" --no-build --nologo 2>&1 | tee "$out"
  rc=${PIPESTATUS[0]}
  p=$(grep -oE 'Passed: +[0-9]+' "$out" | awk '{s+=$2} END {print s+0}')
  f=$(grep -oE 'Failed: +[0-9]+' "$out" | awk '{s+=$2} END {print s+0}')
  # The names of the failed tests go into the closing lines too (CI often keeps only the tail).
  names=$(grep -E '^ +Failed [A-Za-z]' "$out" | sed -E 's/^ +Failed //; s/ \[[^]]*\]$//' | head -10 | paste -sd ';' -)
  rm -f "$out"
  if [[ $rc -ne 0 && $f -eq 0 ]]; then f=1; fi
  passed=$((passed + p)); failed=$((failed + f))
  [[ $f -eq 0 ]] || problems+=("$name: $f failed${names:+ ($names)}")
}

# CONFORMANCE_FOCUS=REGEX runs only the matching conformance cases (for working on a few).
FOCUS_ARGS=()
[[ -n ${CONFORMANCE_FOCUS:-} ]] && FOCUS_ARGS=(--focus "$CONFORMANCE_FOCUS")

# Adds the counts from the conformance runner's closing line.
conformance_run() {
  local name=$1; shift
  local out rc line
  out=$(mktemp)
  echo "=== $name"
  "$CONFORMANCE" "$@" "${FOCUS_ARGS[@]}" 2>&1 | tee "$out"
  rc=${PIPESTATUS[0]}
  line=$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$out" | tail -1)
  rm -f "$out"
  if [[ -z $line ]]; then
    failed=$((failed + 1)); problems+=("$name: no result line (exit $rc)"); return
  fi
  local p f
  p=$(sed -E 's/^([0-9]+) passed.*/\1/' <<<"$line")
  f=$(sed -E 's/^[0-9]+ passed, ([0-9]+) failed.*/\1/' <<<"$line")
  if [[ $rc -ne 0 && $f -eq 0 ]]; then f=1; fi
  passed=$((passed + p)); failed=$((failed + f))
  [[ $f -eq 0 ]] || problems+=("$name: $f failed")
}

# The code style of .editorconfig (whitespace, as `dotnet format whitespace` fixes it): one check, counted once.
format_check() {
  echo "=== format (dotnet format whitespace --verify-no-changes)"
  if dotnet format whitespace CriSharp.sln --verify-no-changes; then
    passed=$((passed + 1))
  else
    failed=$((failed + 1)); problems+=("format: run 'dotnet format whitespace CriSharp.sln' and commit the result")
  fi
}

unit() {
  format_check
  for p in tests/CriSharp.*.Tests; do
    [[ $p == *Integration* ]] && continue
    dotnet_tests "unit $(basename "$p")" "$p"
  done
}

integration() {
  dotnet_tests "integration" tests/CriSharp.Integration.Tests
}

# Starts the test registry (anonymous, test images pushed) once for the conformance stages. A registry
# already running on the port is refused rather than reused: it may be another variant or someone's.
registry_started=0
registry_start() {
  local pidfile=$REGISTRY_STATE/registry-$REGISTRY_PORT.pid
  if [[ -f $pidfile ]] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then
    failed=$((failed + 1))
    problems+=("a test registry is already running on $REGISTRY (pid $(cat "$pidfile")); stop it: hack/test-registry.sh stop $REGISTRY_PORT")
    return 1
  fi
  echo "=== test registry on $REGISTRY"
  if ! TESTENV_BIN=$PWD/$TESTENV bash hack/test-registry.sh start "$REGISTRY_PORT"; then
    failed=$((failed + 1)); problems+=("test registry did not start on $REGISTRY (log: $REGISTRY_STATE/registry-$REGISTRY_PORT.log)")
    return 1
  fi
  registry_started=1
}

# Stops it (the registry process and its temp dir go with it). Its log stays only if a stage failed.
registry_stop() {
  [[ $registry_started -eq 1 ]] || return 0
  registry_started=0
  bash hack/test-registry.sh stop "$REGISTRY_PORT" >/dev/null
  if [[ $failed -eq 0 ]]; then
    rm -f "$REGISTRY_STATE/registry-$REGISTRY_PORT.log"
    rmdir "$REGISTRY_STATE" 2>/dev/null || true
  else
    echo "test registry log kept: $REGISTRY_STATE/registry-$REGISTRY_PORT.log"
  fi
}

# While the conformance stages run, FORWARD drops anything a test pod sends off its own subnet: pods
# reach each other and the node (INPUT), never beyond the host. firewall_down removes exactly the rules
# firewall_up inserted (on exit too); a stage does not run without them.
firewall_subnets=()
fw_rule() { fw=(FORWARD -s "$1" ! -d "$1" -m comment --comment "$FIREWALL_TAG pid $$" -j DROP); }
firewall_up() {
  local s
  for s in "$CRISHARP_SUBNET" "$REF_SUBNET"; do
    fw_rule "$s"
    if ! iptables -w -I "${fw[@]}"; then
      failed=$((failed + 1)); problems+=("could not install the isolation rule: iptables -I ${fw[*]}")
      return 1
    fi
    firewall_subnets+=("$s")
  done
  echo "=== isolation: FORWARD drops packets from $CRISHARP_SUBNET and $REF_SUBNET to outside their subnet"
}
firewall_down() {
  local s
  for s in "${firewall_subnets[@]}"; do
    fw_rule "$s"
    while iptables -w -C "${fw[@]}" 2>/dev/null; do iptables -w -D "${fw[@]}" || break; done
  done
  firewall_subnets=()
}

# net_leaks NAME BRIDGE IPAM_DIR STATE_DIR: once a stage removed its pods, none of their network may
# remain: veths on the bridge, host-local reservations (only last_reserved_ip.* and lock may stay),
# network namespaces pinned under the runtime's state.
net_leaks() {
  local name=$1 bridge=$2 ipam=$3 state=$4 leaks
  leaks=$( (ip -o link show master "$bridge" 2>/dev/null | awk -F': ' '{ sub(/@.*/, "", $2); print "veth " $2 }'
            [[ -d $ipam ]] && find "$ipam" -type f ! -name 'last_reserved_ip.*' ! -name lock -printf 'IPAM reservation %p\n'
            findmnt -rn -t nsfs -o TARGET | awk -v d="$state" 'index($0, d "/") == 1 { print "netns " $0 }') || true)
  if [[ -n $leaks ]]; then
    failed=$((failed + 1)); problems+=("$name left behind: $(paste -sd ';' <<<"$leaks")")
  fi
}

# Isolation rules of this run or of a run that is gone, and the test bridges, are leaks.
net_leak_check() {
  local leaks rule pid b
  leaks=$(iptables -w -S FORWARD 2>/dev/null | grep -F -- "$FIREWALL_TAG" | while read -r rule; do
            pid=$(sed -E 's/.*'"$FIREWALL_TAG"' pid ([0-9]+).*/\1/' <<<"$rule")
            if [[ $pid == "$$" ]] || ! kill -0 "$pid" 2>/dev/null; then echo "iptables rule: $rule"; fi
          done)
  for b in "$CRISHARP_BRIDGE" "$REF_BRIDGE"; do
    ip link show "$b" >/dev/null 2>&1 && leaks+=$'\n'"bridge $b"
  done
  leaks=$(sed '/^$/d' <<<"$leaks")
  if [[ -n $leaks ]]; then
    failed=$((failed + 1)); problems+=("network left behind: $(paste -sd ';' <<<"$leaks")")
  fi
}

trap 'firewall_down; registry_stop' EXIT
trap 'exit 130' INT TERM

# Starts crisharp on a private socket and state, runs the suite, stops it.
conformance_crisharp() {
  local dir pid
  dir=$(mktemp -d /run/crisharp-conformance.XXXXXX)
  private_crisharp_config "$dir" "$CRISHARP_BRIDGE" "$CRISHARP_SUBNET"
  "$BIN" --config "$dir/crisharp.toml" --config-dir "$dir/crisharp.d" 2>"$dir/crisharp.log" &
  pid=$!
  for _ in $(seq 100); do [[ -S $dir/crisharp.sock ]] && break; sleep 0.1; done
  conformance_run "conformance (crisharp)" --endpoint "unix://$dir/crisharp.sock" --test-registry "$REGISTRY"
  net_leaks "conformance (crisharp)" "$CRISHARP_BRIDGE" "$dir/ipam" "$dir"
  kill -TERM "$pid" 2>/dev/null
  local clean=1
  wait "$pid" || clean=0
  if ip link show "$CRISHARP_BRIDGE" >/dev/null 2>&1; then
    ip link del "$CRISHARP_BRIDGE" || { failed=$((failed + 1)); problems+=("could not delete bridge $CRISHARP_BRIDGE"); }
  fi
  if [[ $clean -eq 0 ]]; then
    failed=$((failed + 1)); problems+=("crisharp did not exit cleanly on SIGTERM; log: $dir/crisharp.log")
    tail -20 "$dir/crisharp.log"
    return
  fi
  rm -rf "$dir"
}

reference() {
  trap 'bash hack/containerd-reference.sh stop >/dev/null 2>&1; trap - RETURN' RETURN
  if ! bash hack/containerd-reference.sh start; then
    failed=$((failed + 1)); problems+=("containerd reference did not start"); return
  fi
  conformance_run "conformance (containerd reference)" \
    --endpoint unix:///run/crisharp-ref/containerd.sock --test-registry "$REGISTRY" \
    --known-failures conformance/reference-known-failures.txt
  net_leaks "conformance (containerd reference)" "$REF_BRIDGE" /run/crisharp-ref/cni-ipam /run/crisharp-ref
}

# Anything of ours still running or mounted after the tests is a leak, and a failure. The test
# registry counts (process, pid file, temp dir); its log under $REGISTRY_STATE does not (kept on failure).
leak_check() {
  local leaks
  leaks=$( (pgrep -a -f "(net10.0|aot)/crisharp( |$)|crisharp-testenv registry|docker-registry serve|containerd --config /run/crisharp-ref|conmon .*(crisharp-it-|crisharp-conformance)" ;
            find /sys/fs/cgroup -mindepth 3 -maxdepth 3 -type d -path '*/crisharp/*' 2>/dev/null ;
            findmnt -rn -o TARGET | grep -E 'crisharp-(conformance|ref|it-)' ;
            ls -d /run/crisharp-conformance.* /tmp/crisharp-it-* /tmp/crisharp-registry-* "$REGISTRY_STATE"/registry-*.pid 2>/dev/null) || true)
  if [[ -n $leaks ]]; then
    failed=$((failed + 1)); problems+=("left behind after tests: $leaks")
  fi
}

case $STAGE in
  unit) unit ;;
  integration) integration ;;
  conformance) firewall_up && registry_start && conformance_crisharp; registry_stop; firewall_down; net_leak_check ;;
  reference) firewall_up && registry_start && reference; registry_stop; firewall_down; net_leak_check ;;
  all) unit; integration
       if firewall_up && registry_start; then conformance_crisharp; reference; fi
       registry_stop; firewall_down; leak_check; net_leak_check ;;
  *) echo "usage: hack/test.sh [all|unit|integration|conformance|reference]" >&2; exit 2 ;;
esac

echo
for p in "${problems[@]}"; do echo "FAILED: $p"; done
echo "$passed passed, $failed failed"
[[ $failed -eq 0 ]]
