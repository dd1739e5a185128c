#!/bin/sh
# Builds, once, a clean Debian root filesystem (tarball) for the worker tests
# (install.sh and the .deb, cloud/integration/worker_test.go) and prints its
# path. Cached: a second run only prints the path. Needs root and mmdebstrap
# (apt-get install mmdebstrap) and Debian's mirror.
#   debian-rootfs.sh [cache dir]   (default /var/cache/clawfleet)
set -eu
cache=${1:-/var/cache/clawfleet}
suite=bookworm
out=$cache/debian-$suite-worker-rootfs.tar
if [ ! -s "$out" ]; then
  mkdir -p "$cache"
  # minbase + what install.sh and the package use on a real VM: curl and
  # CA certificates to fetch, adduser for the package's system user,
  # init-system-helpers for deb-systemd-helper.
  mmdebstrap --quiet --variant=minbase --format=tar \
    --include=curl,ca-certificates,adduser,init-system-helpers \
    "$suite" "$out.tmp" http://deb.debian.org/debian
  mv "$out.tmp" "$out"
fi
echo "$out"
