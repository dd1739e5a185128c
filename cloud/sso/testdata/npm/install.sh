#!/usr/bin/env bash
# Installs the npm packages that cloud/sso's interoperability tests run with
# node (the versions package-lock.json pins) and prints the directory that
# holds their node_modules. The tests call it; so does CI ahead of them.
# Idempotent: a directory keyed by the hash of these files is installed once
# (about 40 MB, 15 s) and reused.
#
#   cloud/sso/testdata/npm/install.sh [DIR]
#
# DIR defaults to $CLAWFLEET_CACHE, else /var/cache/clawfleet for root, else
# ~/.cache/clawfleet; the packages go to DIR/sso-npm/<hash>.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
default=$HOME/.cache/clawfleet
[ "$(id -u)" = 0 ] && default=/var/cache/clawfleet
base=${1:-${CLAWFLEET_CACHE:-$default}}/sso-npm
command -v npm >/dev/null || { echo "install.sh: npm is needed (apt-get install npm)" >&2; exit 1; }
mkdir -p "$base"
sum=$(cd "$here" && cat package.json package-lock.json .npmrc | sha256sum | cut -c1-16)
dir=$base/$sum
if ! [ -f "$dir/.installed" ]; then
  echo "install.sh: installing the SSO test packages from npm into $dir" >&2
  tmp=$(mktemp -d "$base/.tmp-XXXXXX")
  trap 'rm -rf "$tmp"' EXIT
  cp "$here/package.json" "$here/package-lock.json" "$here/.npmrc" "$tmp/"
  # .npmrc: legacy-peer-deps, so next-auth v4 does not pull in Next.js and
  # React (its jwt module needs neither).
  (cd "$tmp" && npm ci --no-audit --no-fund --loglevel=error >&2)
  touch "$tmp/.installed"
  # Another run may have finished first: keep its copy.
  mv -T "$tmp" "$dir" 2>/dev/null || true
fi
echo "$dir"
