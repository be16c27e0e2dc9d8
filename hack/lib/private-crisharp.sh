# Sourced by hack/test.sh and hack/critest.sh: the configuration of a crisharp of their own.
# private_crisharp_config DIR BRIDGE SUBNET writes DIR/net.d/10-crisharp-test.conflist (a bridge without
# masquerade, host-local IPAM in DIR/ipam, portmap, loopback) and DIR/crisharp.toml (root, state, socket and
# runtime state all under DIR, debug log, streaming on a free port). Append more TOML tables to it as needed.
private_crisharp_config() {
  local dir=$1 bridge=$2 subnet=$3
  mkdir -p "$dir/net.d"
  # mktemp -d makes DIR 0700; a pod's root in its own user namespace must pass through it to its rootfs
  # (crisharp makes root and state 0711 itself, but not their parents), as through /var/lib and /run.
  chmod 0711 "$dir"
  cat >"$dir/net.d/10-crisharp-test.conflist" <<CNI
{"cniVersion":"1.0.0","name":"crisharp-test","plugins":[
  {"type":"bridge","bridge":"$bridge","isGateway":true,"ipMasq":false,
   "ipam":{"type":"host-local","ranges":[[{"subnet":"$subnet"}]],"dataDir":"$dir/ipam"}},
  {"type":"portmap","capabilities":{"portMappings":true}},
  {"type":"loopback"}]}
CNI
  cat >"$dir/crisharp.toml" <<TOML
root = "$dir/root"
state_dir = "$dir/state"
listen = "$dir/crisharp.sock"
log_level = "debug"
[network]
conf_dir = "$dir/net.d"
[stream]
port = 0
[runtimes.runc]
root_dir = "$dir/state/runc"
[runtimes.crun]
root_dir = "$dir/state/crun"
TOML
}
