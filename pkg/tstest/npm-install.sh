#!/usr/bin/env bash
# Installs the npm packages a package-lock.json pins, once, and prints the
# directory whose node_modules holds them: the one way the repository's npm
# packages are installed (cloud/clients/install.sh and
# cloud/sso/testdata/npm/install.sh call it with their files; tstest.NPM runs
# those). Idempotent: the directory is keyed by the hash of FILES, installed
# once and reused; concurrent runs agree on one copy.
#
#   pkg/tstest/npm-install.sh NAME WHAT SRC CACHE FILE...
#
# FILE: paths relative to SRC (package.json, package-lock.json, .npmrc, the
# workspaces' package.json), copied with their directories. CACHE empty:
# $CLAWFLEET_CACHE, else /var/cache/clawfleet for root, else
# ~/.cache/clawfleet; the packages go to CACHE/NAME/<hash>. WHAT names them
# in the progress line.
set -euo pipefail
name=$1 what=$2 src=$3 cache=$4
shift 4
default=$HOME/.cache/clawfleet
[ "$(id -u)" = 0 ] && default=/var/cache/clawfleet
base=${cache:-${CLAWFLEET_CACHE:-$default}}/$name
command -v npm >/dev/null || { echo "install.sh: npm is needed (apt-get install npm)" >&2; exit 1; }
mkdir -p "$base"
sum=$(cd "$src" && cat "$@" | sha256sum | cut -c1-16)
dir=$base/$sum
if ! [ -f "$dir/.installed" ]; then
  echo "install.sh: installing $what from npm into $dir" >&2
  tmp=$(mktemp -d "$base/.tmp-XXXXXX")
  trap 'rm -rf "$tmp"' EXIT
  (cd "$src" && cp --parents "$@" "$tmp/")
  (cd "$tmp" && npm ci --no-audit --no-fund --loglevel=error >&2)
  touch "$tmp/.installed"
  # Another run may have finished first: keep its copy.
  mv -T "$tmp" "$dir" 2>/dev/null || true
fi
echo "$dir"
