#!/usr/bin/env bash
# Prepares a host for running containers, detecting each need and saying what it does.
# Idempotent; safe on hosts that need nothing.
set -euo pipefail

say() { echo "prepare-host: $*"; }

if [[ $(id -u) -ne 0 ]]; then
  say "must run as root"; exit 1
fi

# Hybrid cgroups (v1 controllers plus a cgroup2 mount holding hugetlb) make crun 1.8 refuse to
# create containers until hugetlb is also mounted as a v1 hierarchy.
if [[ ! -e /sys/fs/cgroup/cgroup.controllers ]]; then
  if [[ ! -d /sys/fs/cgroup/hugetlb ]] || ! mountpoint -q /sys/fs/cgroup/hugetlb; then
    if grep -qw hugetlb /proc/cgroups; then
      if ! mkdir -p /sys/fs/cgroup/hugetlb 2>/dev/null; then
        # /sys/fs/cgroup is a tmpfs some distributions mount read-only; the new mount point needs it writable.
        mount -o remount,rw /sys/fs/cgroup && mkdir -p /sys/fs/cgroup/hugetlb
        say "remounted /sys/fs/cgroup read-write to create the hugetlb mount point"
      fi
      if mount -t cgroup -o hugetlb cgroup /sys/fs/cgroup/hugetlb 2>/dev/null; then
        say "mounted the hugetlb cgroup v1 hierarchy at /sys/fs/cgroup/hugetlb (crun needs it on hybrid cgroup hosts)"
      else
        say "warning: could not mount hugetlb as a v1 hierarchy; crun may refuse to run containers (runc is unaffected)"
      fi
    fi
  fi
fi

# Overlay mounts of image layers need the overlay filesystem.
if ! grep -qw overlay /proc/filesystems; then
  modprobe overlay 2>/dev/null && say "loaded the overlay module" || { say "the kernel has no overlayfs; containers cannot run"; exit 1; }
fi
