#!/usr/bin/env bash
# Runs a test registry (real docker-registry + the OCI test images) in the background.
# Usage: hack/test-registry.sh start [port] [variant]   (port default 5055; variant anonymous|basic|token)
#        hack/test-registry.sh stop  [port]
# Extra options for crisharp-testenv (e.g. --with-large) go in TESTENV_ARGS.
# State lives in /run/crisharp-test/registry-PORT.{pid,log}; the log also lists the pushed
# images and digests and, for basic/token, the credentials.
set -euo pipefail

cmd="${1:-}"
port="${2:-5055}"
variant="${3:-anonymous}"
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
state=/run/crisharp-test
pidfile="$state/registry-$port.pid"
log="$state/registry-$port.log"

usage() { echo "usage: $0 start [port] [anonymous|basic|token] | stop [port]" >&2; exit 2; }

alive() { [[ -f $pidfile ]] && kill -0 "$(cat "$pidfile")" 2>/dev/null; }

case "$cmd" in
  start)
    mkdir -p "$state"
    if alive; then echo "test-registry: already running on port $port (pid $(cat "$pidfile"))"; exit 0; fi
    bin="${TESTENV_BIN:-$repo/tests/CriSharp.TestSupport/bin/Debug/net10.0/crisharp-testenv}"
    if [[ -z ${TESTENV_BIN:-} ]]; then
      dotnet build "$repo/tests/CriSharp.TestSupport" -nologo -v q >/dev/null
    fi
    [[ -x $bin ]] || { echo "test-registry: $bin not found" >&2; exit 1; }
    # shellcheck disable=SC2086
    nohup "$bin" registry --port "$port" --variant "$variant" --push-images ${TESTENV_ARGS:-} \
      >"$log" 2>&1 </dev/null &
    echo $! >"$pidfile"
    for _ in $(seq 1 600); do
      if grep -q "^registry ready at " "$log"; then
        grep "^registry ready at " "$log"
        exit 0
      fi
      if ! alive; then
        echo "test-registry: crisharp-testenv exited before it was ready:" >&2
        cat "$log" >&2
        rm -f "$pidfile"
        exit 1
      fi
      sleep 0.2
    done
    echo "test-registry: not ready after 120s, stopping; log: $log" >&2
    "$0" stop "$port"
    exit 1
    ;;
  stop)
    if ! [[ -f $pidfile ]]; then echo "test-registry: not running on port $port"; exit 0; fi
    pid="$(cat "$pidfile")"
    if kill -0 "$pid" 2>/dev/null; then
      kill -TERM "$pid"
      for _ in $(seq 1 150); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
      if kill -0 "$pid" 2>/dev/null; then
        echo "test-registry: pid $pid ignored SIGTERM for 30s, killing" >&2
        kill -KILL "$pid" 2>/dev/null || true
      fi
    fi
    rm -f "$pidfile"
    echo "test-registry: stopped (port $port)"
    ;;
  *) usage ;;
esac
