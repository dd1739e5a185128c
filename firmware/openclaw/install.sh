#!/usr/bin/env bash
# Installs the pinned OpenClaw gateway and the Node.js it needs into a cache
# directory, from the npm registry, and writes DIR/bin/openclaw: the
# executable that clawfleet-agent's process runtime runs (--openclaw-bin).
# Used by `make run`, CI and box images. Idempotent: does nothing when the
# pinned versions are already there.
#
#   firmware/openclaw/install.sh [DIR]
#
# DIR defaults to $CLAWFLEET_CACHE, else /var/cache/clawfleet for root (the
# agent runs gateways as an unprivileged user, who cannot enter /root), else
# ~/.cache/clawfleet. Everything in it is world-readable, nothing writable.
#
# For a box image (firmware/image/build.sh) the tree is made for another
# place and possibly another machine:
#   CLAWFLEET_NODE_ARCH     x64, arm64 or armv7l (default: this machine's)
#   CLAWFLEET_OPENCLAW_PREFIX  where DIR will be when bin/openclaw runs
#                           (default DIR itself)
#   CLAWFLEET_HOST_NODE     a Node.js that runs here, to check versions
#                           with before the target's Node.js is fetched,
#                           when CLAWFLEET_NODE_ARCH is not this machine's
# npm installs OpenClaw on the target's own Node.js so that the packages'
# install scripts see the target's platform (koffi's picks its prebuilt
# module by process.arch, and compiles one when it finds none). On another
# machine that Node.js runs under qemu-user through binfmt_misc, with
# QEMU_LD_PREFIX at a root filesystem of the target's (its C library):
# firmware/image/build.sh sets it to the image's Debian base.
set -euo pipefail
OPENCLAW_VERSION=${OPENCLAW_VERSION:-2026.9.6}
NODE_MAJOR=${NODE_MAJOR:-26}
default=$HOME/.cache/clawfleet
[ "$(id -u)" = 0 ] && default=/var/cache/clawfleet
dir=${1:-${CLAWFLEET_CACHE:-$default}}
umask 022
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)

case "$(uname -m)" in
  x86_64) here=x64 ;;
  aarch64) here=arm64 ;;
  armv7l) here=armv7l ;;
  *) here=$(uname -m) ;;
esac
arch=${CLAWFLEET_NODE_ARCH:-$here}
case "$arch" in
  x64) npmcpu=x64 ;;
  arm64) npmcpu=arm64 ;;
  armv7l) npmcpu=arm ;;
  *) echo "install.sh: no Node.js package for $arch (want x64, arm64 or armv7l)" >&2; exit 1 ;;
esac
nodepkg=node-linux-$arch
command -v npm >/dev/null || { echo "install.sh: npm is needed (apt-get install npm)" >&2; exit 1; }

node="$dir/node/node_modules/$nodepkg/bin/node"
# runner: the Node that runs here (npm, the version checks); the target's own
# unless it is for another machine.
runner=$node
foreign=()
if [ "$arch" != "$here" ]; then
  runner=${CLAWFLEET_HOST_NODE:?install.sh: CLAWFLEET_NODE_ARCH=$arch is not this machine ($here): set CLAWFLEET_HOST_NODE to a Node.js that runs here}
  # npm, on this machine's Node.js, fetches the target's: its package passes
  # npm's platform check with --force.
  foreign=(--cpu="$npmcpu" --os=linux --libc=glibc --force)
fi
version() { # the version of the npm package whose package.json is $1, or ""
  [ -x "$runner" ] && "$runner" -p "try{require('$1').version}catch(e){''}" || true
}

have=$(version "$dir/node/node_modules/$nodepkg/package.json")
if ! [ -x "$node" ] || [ "${have%%.*}" != "$NODE_MAJOR" ]; then
  echo "install.sh: fetching Node.js $NODE_MAJOR ($nodepkg) from npm into $dir/node"
  mkdir -p "$dir/node"
  npm install --prefix "$dir/node" --no-audit --no-fund --loglevel=error "${foreign[@]}" "$nodepkg@$NODE_MAJOR" >/dev/null
fi
if [ "$arch" != "$here" ]; then
  "$node" -e 0 2>/dev/null || { echo "install.sh: the $arch Node.js cannot run on this $here machine, and npm must run on it (install scripts pick their native modules by its platform): apt-get install qemu-user-static binfmt-support, mount binfmt_misc, and set QEMU_LD_PREFIX to a $arch root filesystem (firmware/image/build.sh does)" >&2; exit 1; }
  runner=$node
fi

ocdir="$dir/openclaw"
have=$(version "$ocdir/node_modules/openclaw/package.json")
if [ "$have" != "$OPENCLAW_VERSION" ]; then
  echo "install.sh: fetching openclaw@$OPENCLAW_VERSION from npm into $ocdir (about 650 MB, a minute)"
  mkdir -p "$ocdir"
  # OpenClaw's install script checks the Node version, so npm must run on Node $NODE_MAJOR.
  PATH="$(dirname "$runner"):$PATH" npm install --prefix "$ocdir" --no-audit --no-fund --loglevel=error "openclaw@$OPENCLAW_VERSION" >/dev/null
fi

prefix=${CLAWFLEET_OPENCLAW_PREFIX:-$dir}
mkdir -p "$dir/bin"
cat > "$dir/bin/openclaw.tmp" <<WRAP
#!/bin/sh
exec "$prefix/node/node_modules/$nodepkg/bin/node" "$prefix/openclaw/node_modules/openclaw/openclaw.mjs" "\$@"
WRAP
chmod 0755 "$dir/bin/openclaw.tmp"
mv "$dir/bin/openclaw.tmp" "$dir/bin/openclaw"
echo "$dir/bin/openclaw"
