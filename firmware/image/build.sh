#!/usr/bin/env bash
# Builds an OpenClaw box's root filesystem, a tarball, and prints its path:
#
#   firmware/image/build.sh ARCH [OUT]     (ARCH amd64 or arm64; OUT default dist)
#
# OUT/clawfleet-box-ARCH.tar holds Debian bookworm (mmdebstrap, from Debian's
# packages) with systemd, NetworkManager, dnsmasq-base and wpasupplicant;
# the agent ($AGENT, default dist/clawfleet-agent-linux-ARCH from `make
# cross`) as /usr/local/bin/clawfleet-agent; the overlays firmware/rootfs and
# firmware/box/rootfs, the agent's unit enabled; Node.js and OpenClaw for ARCH
# in /opt/openclaw (firmware/openclaw/install.sh, from npm); and the empty
# credentials slot /var/lib/clawfleet-agent. docs/box.md describes it.
#
# Cached, in three layers under $CLAWFLEET_CACHE (default /var/cache/clawfleet):
# the Debian base (box/debian-*-ARCH-<key>.tar, rebuilt only when its
# package list changes), the Node.js + OpenClaw tree (box/openclaw-ARCH,
# install.sh does nothing when the versions are there), and the image itself,
# remade only when one of its inputs changed (OUT/clawfleet-box-ARCH.inputs).
# Needs root, mmdebstrap and Debian's mirror; for arm64 on another machine,
# qemu-user-static and arch-test with binfmt_misc (mmdebstrap runs the
# packages' scripts under qemu, and npm installs OpenClaw on the box's own
# Node.js under qemu), and npm.
set -euo pipefail
arch=${1:?usage: build.sh amd64|arm64 [OUT]}
out=${2:-dist}
cache=${CLAWFLEET_CACHE:-/var/cache/clawfleet}
agent=${AGENT:-dist/clawfleet-agent-linux-$arch}
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
firmware=$(cd "$(dirname "$0")/.." && pwd)
suite=bookworm
case "$arch" in
  amd64) nodearch=x64 ;;
  arm64) nodearch=arm64 ;;
  *) echo "build.sh: ARCH $arch: want amd64 or arm64" >&2; exit 2 ;;
esac
[ "$(id -u)" = 0 ] || { echo "build.sh: run as root (mmdebstrap, and the image's files owned by root)" >&2; exit 1; }
[ -s "$agent" ] || { echo "build.sh: no agent binary $agent (make cross)" >&2; exit 1; }
command -v mmdebstrap >/dev/null || { echo "build.sh: mmdebstrap is needed (apt-get install mmdebstrap)" >&2; exit 1; }
umask 022
mkdir -p "$cache/box" "$out"
sha() { sha256sum | cut -c1-16; }

# 1. The Debian base. What the agent and its runtime use on the box:
# systemd (init, the unit), NetworkManager with dnsmasq-base and
# wpasupplicant (Wi-Fi and its setup hotspot), iproute2 (the pool's
# blackhole route of the gateways' networks), util-linux and e2fsprogs (their
# disks: mount, mkfs), kmod and udev (the board's devices and modules), CA certificates
# (the broker over TLS), and the C++ runtime Node.js links (libatomic1,
# libstdc++6).
packages=libatomic1,libstdc++6,systemd,systemd-sysv,dbus,udev,kmod,network-manager,dnsmasq-base,wpasupplicant,iproute2,util-linux,e2fsprogs,ca-certificates
# The hostname until the box is named otherwise.
hooks=(--customize-hook='echo openclaw > "$1/etc/hostname"'
  --customize-hook='printf "127.0.0.1\tlocalhost\n127.0.1.1\topenclaw\n::1\tlocalhost ip6-localhost ip6-loopback\n" > "$1/etc/hosts"')
basekey=$(printf '%s\n' "$suite" "$arch" "$packages" "${hooks[@]}" | sha)
base=$cache/box/debian-$suite-box-$arch-$basekey.tar
if [ ! -s "$base" ]; then
  if [ "$arch" != "$(dpkg --print-architecture)" ] && ! arch-test "$arch" >/dev/null 2>&1; then
    echo "build.sh: this machine cannot run $arch programs, which mmdebstrap needs for the packages' scripts: apt-get install qemu-user-static binfmt-support arch-test (and binfmt_misc mounted)" >&2
    exit 1
  fi
  echo "build.sh: building the Debian base for $arch with mmdebstrap (a few minutes)" >&2
  mmdebstrap --quiet --variant=minbase --arch="$arch" --format=tar --include="$packages" "${hooks[@]}" \
    "$suite" "$base.tmp" "$mirror"
  mv "$base.tmp" "$base"
  # Bases of earlier package lists are not used again.
  find "$cache/box" -maxdepth 1 -name "debian-$suite-box-$arch-*.tar" ! -path "$base" -delete
fi

# 2. Node.js and OpenClaw for the box, at /opt/openclaw when it runs. For
# another architecture npm runs on the box's Node.js under qemu, which finds
# the box's C library in the Debian base, unpacked (QEMU_LD_PREFIX).
oc=$cache/box/openclaw-$arch
case "$(uname -m)" in x86_64) hostarch=x64 ;; aarch64) hostarch=arm64 ;; *) hostarch=$(uname -m) ;; esac
hostnode=
stage=
trap 'rm -rf "${stage:-}" "${img:-}.tmp" "${ldroot:-}"' EXIT
if [ "$nodearch" != "$hostarch" ]; then
  bash "$firmware/openclaw/install.sh" "$cache" >/dev/null
  hostnode=$(sed -n 's/^exec "\([^"]*\)".*/\1/p' "$cache/bin/openclaw")
  # Only the libraries: qemu looks every path up in QEMU_LD_PREFIX first,
  # and npm must read this machine's /etc (its CA bundle, which may hold a
  # proxy's CA, resolv.conf), not the box's.
  ldroot=$(mktemp -d)
  tar -C "$ldroot" -xf "$base" ./lib ./usr/lib ./etc/ld.so.cache
  export QEMU_LD_PREFIX=$ldroot
fi
CLAWFLEET_NODE_ARCH=$nodearch CLAWFLEET_OPENCLAW_PREFIX=/opt/openclaw CLAWFLEET_HOST_NODE=$hostnode \
  bash "$firmware/openclaw/install.sh" "$oc" >&2

# 3. The image: the base, then the box's own files appended (later entries
# of a tar win), so only these are written again when they change.
inputs=$( {
  echo "base $basekey"
  sha256sum "$0" "$firmware/openclaw/install.sh" | cut -d' ' -f1
  echo "agent $(sha256sum < "$agent")"
  (cd "$firmware" && find rootfs box/rootfs -type f -print0 | sort -z | xargs -0 sha256sum)
  (cd "$firmware" && find rootfs box/rootfs -printf '%p %m\n' | sort)
  cat "$oc/openclaw/package-lock.json" "$oc/node/package-lock.json" 2>/dev/null | sha
} | sha)
img=$out/clawfleet-box-$arch.tar
if [ -s "$img" ] && [ "$(cat "$out/clawfleet-box-$arch.inputs" 2>/dev/null)" = "$inputs" ]; then
  echo "$img"
  exit 0
fi
echo "build.sh: assembling $img" >&2
stage=$(mktemp -d)
install -D -m 0755 "$agent" "$stage/usr/local/bin/clawfleet-agent"
cp -a "$firmware/rootfs/." "$firmware/box/rootfs/." "$stage/"
# What `systemctl enable clawfleet-agent` does (WantedBy=multi-user.target).
mkdir -p "$stage/etc/systemd/system/multi-user.target.wants"
ln -s /etc/systemd/system/clawfleet-agent.service "$stage/etc/systemd/system/multi-user.target.wants/clawfleet-agent.service"
# The credentials slot: empty, the factory puts credentials.json (0600) here.
mkdir -m 0711 -p "$stage/var/lib/clawfleet-agent"
mkdir -p "$stage/opt/openclaw"
# A machine ID of its own on each box's first boot (systemd's
# ConditionFirstBoot), not one shared by every copy of the image.
echo uninitialized > "$stage/etc/machine-id"
cp "$base" "$img.tmp"
tar -rf "$img.tmp" --numeric-owner --owner=0 --group=0 -C "$stage" .
# The Node.js + OpenClaw tree as /opt/openclaw (regular names and hard
# links moved; symlink targets, relative, kept).
tar -rf "$img.tmp" --numeric-owner --owner=0 --group=0 -C "$oc" --transform='flags=rh;s,^,./opt/openclaw/,' bin node openclaw
mv "$img.tmp" "$img"
echo "$inputs" > "$out/clawfleet-box-$arch.inputs"
echo "$img"
