#!/usr/bin/env bash
# Installs the npm packages of cloud/clients (the TypeScript client, the
# Next.js example and the tools that generate and check them: the versions
# package-lock.json pins) and prints the directory whose node_modules holds
# them. The tests and `make openapi-client` call it; so does CI ahead of them.
# Idempotent: a directory keyed by the hash of the package files is
# installed once (about 400 MB, most of it Next.js's compiler) and reused.
#
#   cloud/clients/install.sh [DIR]
#
# DIR defaults to $CLAWFLEET_CACHE, else /var/cache/clawfleet for root, else
# ~/.cache/clawfleet; the packages go to DIR/clients-npm/<hash>.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
default=$HOME/.cache/clawfleet
[ "$(id -u)" = 0 ] && default=/var/cache/clawfleet
base=${1:-${CLAWFLEET_CACHE:-$default}}/clients-npm
command -v npm >/dev/null || { echo "install.sh: npm is needed (apt-get install npm)" >&2; exit 1; }
files=(package.json package-lock.json .npmrc typescript/package.json nextjs-example/package.json)
mkdir -p "$base"
sum=$(cd "$here" && cat "${files[@]}" | sha256sum | cut -c1-16)
dir=$base/$sum
if ! [ -f "$dir/.installed" ]; then
  echo "install.sh: installing the clients' packages from npm into $dir" >&2
  tmp=$(mktemp -d "$base/.tmp-XXXXXX")
  trap 'rm -rf "$tmp"' EXIT
  (cd "$here" && cp --parents "${files[@]}" "$tmp/")
  # The workspaces' package.json files are enough for npm to link them;
  # their sources are copied next to node_modules where it is used.
  (cd "$tmp" && npm ci --no-audit --no-fund --loglevel=error >&2)
  touch "$tmp/.installed"
  # Another run may have finished first: keep its copy.
  mv -T "$tmp" "$dir" 2>/dev/null || true
fi
echo "$dir"
