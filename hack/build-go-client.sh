#!/usr/bin/env bash
# Builds tests/go-authority-client (an old grpc-go client, as crictl/kubelet
# used to be) offline in GOPATH mode against Debian's golang-google-grpc-dev.
# Usage: hack/build-go-client.sh OUT
set -euo pipefail

out="${1:?usage: hack/build-go-client.sh OUT}"
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
gopath="${GOPATH_GRPC:-/usr/share/gocode}"

command -v go >/dev/null 2>&1 || { echo "build-go-client: 'go' not found (apt-get install golang-go)" >&2; exit 1; }
[ -f "$gopath/src/google.golang.org/grpc/version.go" ] || {
  echo "build-go-client: grpc-go sources not found under $gopath/src/google.golang.org/grpc (apt-get install golang-google-grpc-dev)" >&2
  exit 1
}

case "$out" in /*) ;; *) out="$PWD/$out" ;; esac
mkdir -p "$(dirname "$out")"

# The package lives outside GOPATH, so build it as a file list; GOPATH mode
# still resolves its imports from $gopath/src. GOFLAGS=-mod=... must not leak in.
cd "$repo"
GO111MODULE=off GOPATH="$gopath" GOFLAGS= GOPROXY=off CGO_ENABLED=0 \
  GOCACHE="${GOCACHE:-${TMPDIR:-/tmp}/crisharp-go-cache}" \
  go build -o "$out" ./tests/go-authority-client/main.go
echo "built $out"
