#!/usr/bin/env bash
# Starts crisharp in the foreground with the system config, writing a default config first if none exists.
set -euo pipefail
BIN=${1:?usage: hack/run.sh PATH-TO-crisharp}
CONF=/etc/crisharp/crisharp.toml
bash "$(dirname "$0")/prepare-host.sh"

if [[ ! -e $CONF ]]; then
  mkdir -p /etc/crisharp/crisharp.d
  "$BIN" config --default > "$CONF.tmp"
  mv "$CONF.tmp" "$CONF"
  echo "run: wrote the default configuration to $CONF"
fi
# Pods need a CNI network: without any config, install a default bridge network (as a fresh node would get).
CNI_DIR=$("$BIN" config | awk '/^\[/ { section = $0 } section == "[network]" && $1 == "conf_dir" { sub(/^conf_dir = "/, ""); sub(/"$/, ""); print }')
if [[ -n $CNI_DIR ]] && ! compgen -G "$CNI_DIR/*.conf" >/dev/null && ! compgen -G "$CNI_DIR/*.conflist" >/dev/null \
   && ! compgen -G "$CNI_DIR/*.json" >/dev/null; then
  mkdir -p "$CNI_DIR"
  cat >"$CNI_DIR/10-crisharp.conflist.tmp" <<'CNI'
{
  "cniVersion": "1.0.0",
  "name": "crisharp",
  "plugins": [
    {
      "type": "bridge",
      "bridge": "crisharp0",
      "isGateway": true,
      "ipMasq": true,
      "hairpinMode": true,
      "ipam": {
        "type": "host-local",
        "ranges": [[{ "subnet": "10.88.0.0/16" }]],
        "routes": [{ "dst": "0.0.0.0/0" }]
      }
    },
    { "type": "portmap", "capabilities": { "portMappings": true } },
    { "type": "loopback" }
  ]
}
CNI
  mv "$CNI_DIR/10-crisharp.conflist.tmp" "$CNI_DIR/10-crisharp.conflist"
  echo "run: no CNI network config in $CNI_DIR; wrote $CNI_DIR/10-crisharp.conflist (bridge crisharp0, host-local 10.88.0.0/16, portmap, loopback)"
fi
echo "run: starting crisharp on $("$BIN" config | sed -n 's/^listen = "\(.*\)"/\1/p') (Ctrl-C or SIGTERM stops it)"
exec "$BIN"
