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
# .npmrc: legacy-peer-deps, so next-auth v4 does not pull in Next.js and
# React (its jwt module needs neither).
exec bash "$here/../../../../pkg/tstest/npm-install.sh" sso-npm "the SSO test packages" "$here" "${1:-}" \
  package.json package-lock.json .npmrc
