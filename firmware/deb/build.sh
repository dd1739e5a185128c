#!/bin/sh
# Builds the agent's Debian packages with nfpm (make deb):
#   build.sh <version> <dist dir> <arch>...   (arch: amd64, arm64, armv7)
# from <dist dir>/clawfleet-agent-linux-<arch> (make cross) into
# <dist dir>/clawfleet-agent_<version>_<amd64|arm64|armhf>.deb.
# NFPM is the nfpm command (default: go run of the pinned release).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
version=$1 dist=$(cd "$2" && pwd)
shift 2
NFPM=${NFPM:-go run github.com/goreleaser/nfpm/v2/cmd/nfpm@v2.48.0}
# A Debian version starts with a digit: v1.2.3 → 1.2.3, abc123-dirty → 0.0~gitabc123+dirty.
DEB_VERSION=$(printf %s "$version" | sed -e 's/^v//' -e 's/^\([^0-9]\)/0.0~git\1/' -e 's/-/+/g')
BUILD_DIR=$(mktemp -d)
trap 'rm -rf "$BUILD_DIR"' EXIT
# firmware/'s unit, with the packaged binary's path (a package owns nothing in /usr/local).
sed 's#/usr/local/bin/clawfleet-agent#/usr/bin/clawfleet-agent#g' \
  "$here/../rootfs/etc/systemd/system/clawfleet-agent.service" >"$BUILD_DIR/clawfleet-agent.service"
cp "$here/nfpm.yaml" "$here/postinst" "$here/prerm" "$here/postrm" "$here/../rootfs/etc/clawfleet/agent.env" "$BUILD_DIR/"
export DEB_VERSION
for arch in "$@"; do
  case $arch in
    amd64|arm64) DEB_ARCH=$arch ;;
    armv7) DEB_ARCH=armhf ;;
    *) echo "build.sh: unknown arch $arch (amd64, arm64, armv7)" >&2; exit 2 ;;
  esac
  AGENT_BIN=$dist/clawfleet-agent-linux-$arch
  [ -f "$AGENT_BIN" ] || { echo "build.sh: $AGENT_BIN is missing: run make cross" >&2; exit 1; }
  cp "$AGENT_BIN" "$BUILD_DIR/clawfleet-agent"
  export DEB_ARCH
  out=$dist/clawfleet-agent_${DEB_VERSION}_$DEB_ARCH.deb
  (cd "$BUILD_DIR" && $NFPM package --config nfpm.yaml --packager deb --target "$out" >&2)
  echo "$out"
done
