#!/usr/bin/env bash
# Installs every Debian package CriSharp runs or tests with. Idempotent: a
# second run installs nothing and exits 0. Needs root and Debian's archive.
set -euo pipefail

PACKAGES=(
  runc crun conmon catatonit          # OCI runtimes, monitor, infra process
  containernetworking-plugins         # CNI plugins in /usr/lib/cni
  docker-registry                     # distribution v2 registry for tests
  busybox-static                      # static busybox for test images
  iproute2 iptables util-linux        # netns, veths, firewall, mount helpers
  containerd                          # reference CRI runtime for conformance
  golang-go golang-google-grpc-dev    # old grpc-go client (path :authority)
  apache2-utils                       # htpasswd for the basic-auth registry
  clang zlib1g-dev                    # NativeAOT compiler's linker for the daemon
  gcc libc6-dev procps                # critest image stand-ins (static C), pgrep for critest's busybox
  openssl ca-certificates curl jq
)

if [[ $(id -u) -ne 0 ]]; then
  echo "install-deps: must run as root (apt-get install)" >&2
  exit 1
fi

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if ((${#missing[@]})); then
  echo "install-deps: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # Debian's containerd unit would start a system containerd; we start our own.
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  systemctl disable --now containerd 2>/dev/null || true
else
  echo "install-deps: all packages present"
fi

# Debian's dynamically linked busybox conflicts with busybox-static, so it is
# unpacked (not installed) into a cache dir for test images that must exec
# real binaries instead of shell builtins.
BB_DIR=/var/cache/crisharp/busybox-dyn
if [[ ! -x $BB_DIR/bin/busybox ]]; then
  tmp=$(mktemp -d)
  chmod 777 "$tmp"; (cd "$tmp" && apt-get download busybox >/dev/null 2>&1)
  mkdir -p "$BB_DIR"
  dpkg-deb -x "$tmp"/busybox_*.deb "$BB_DIR"
  rm -rf "$tmp"
  echo "install-deps: unpacked dynamic busybox into $BB_DIR"
fi

if ! command -v dotnet >/dev/null; then
  echo "install-deps: the .NET 10 SDK (dotnet) is not on PATH; install it first" >&2
  exit 1
fi
