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
echo "run: starting crisharp on $("$BIN" config | sed -n 's/^listen = "\(.*\)"/\1/p') (Ctrl-C or SIGTERM stops it)"
exec "$BIN"
