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
# The workspaces' package.json files are enough for npm to link them;
# their sources are copied next to node_modules where it is used.
exec bash "$here/../../pkg/tstest/npm-install.sh" clients-npm "the clients' packages" "$here" "${1:-}" \
  package.json package-lock.json .npmrc typescript/package.json nextjs-example/package.json
