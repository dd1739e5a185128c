#!/bin/sh
# clawfleet agent installer for worker VMs, served by the cloud at
# <cloud>/install.sh (docs/workers.md):
#
#   curl -fsSL <cloud>/install.sh | sudo sh -s -- --token <enrollment token>
#
# It downloads the agent for this machine's architecture from
# <cloud>/downloads/ (checked against <cloud>/downloads/SHA256SUMS), installs
# it as /usr/local/bin/clawfleet-agent, writes the systemd unit, enrolls the
# host with the token and starts the agent. Run again, it upgrades the agent
# in place and keeps the host's credentials (no token needed then).
#
# Options:
#   --token T        enrollment token (console: Enrollment tokens); needed
#                    the first time only (or CLAWFLEET_ENROLL_TOKEN)
#   --name N         the host's name in the console (default: its hostname)
#   --label k=v      a label (repeatable), added to the token's
#   --cloud URL      the cloud (default: the one this script came from)
#   --arch A         amd64, arm64 or armv7 (default: from uname -m)
#   --no-start       install and enroll, but do not touch systemd; also
#                    what happens when systemd is not running: start
#                    `clawfleet-agent run --state-dir /var/lib/clawfleet-agent`
#                    yourself
set -eu

CLOUD_URL=@CLOUD_URL@
BIN=/usr/local/bin/clawfleet-agent
UNIT=/etc/systemd/system/clawfleet-agent.service
ENV_FILE=/etc/clawfleet/agent.env
STATE_DIR=/var/lib/clawfleet-agent

say() { printf 'clawfleet install: %s\n' "$*" >&2; }
die() { say "error: $*"; exit 1; }
usage() {
  cat >&2 <<'CLAWFLEET_USAGE'
usage: curl -fsSL <cloud>/install.sh | sudo sh -s -- --token <enrollment token> [options]
  --token T     enrollment token (needed the first time only)
  --name N      the host's name in the console
  --label k=v   a label (repeatable)
  --cloud URL   the cloud (default: the one this script came from)
  --arch A      amd64, arm64 or armv7 (default: from uname -m)
  --no-start    install and enroll, leave systemd alone
CLAWFLEET_USAGE
}

token=${CLAWFLEET_ENROLL_TOKEN:-}
name=
labels=
arch=
start=yes
while [ $# -gt 0 ]; do
  case $1 in
    --token) [ $# -ge 2 ] || die "--token needs a value"; token=$2; shift 2 ;;
    --token=*) token=${1#*=}; shift ;;
    --name) [ $# -ge 2 ] || die "--name needs a value"; name=$2; shift 2 ;;
    --name=*) name=${1#*=}; shift ;;
    --label) [ $# -ge 2 ] || die "--label needs a value"; labels="$labels
$2"; shift 2 ;;
    --label=*) labels="$labels
${1#*=}"; shift ;;
    --cloud) [ $# -ge 2 ] || die "--cloud needs a value"; CLOUD_URL=$2; shift 2 ;;
    --cloud=*) CLOUD_URL=${1#*=}; shift ;;
    --arch) [ $# -ge 2 ] || die "--arch needs a value"; arch=$2; shift 2 ;;
    --arch=*) arch=${1#*=}; shift ;;
    --no-start) start=no; shift ;;
    -h|--help) usage; exit 0 ;;
    *) die "unknown option $1 (see the top of this script, or docs/workers.md)" ;;
  esac
done
CLOUD_URL=${CLOUD_URL%/}

[ "$(id -u)" = 0 ] || die "run as root (curl -fsSL $CLOUD_URL/install.sh | sudo sh -s -- --token <token>)"
[ "$(uname -s)" = Linux ] || die "the agent runs on Linux only, not $(uname -s)"

if [ -z "$arch" ]; then
  case $(uname -m) in
    x86_64|amd64) arch=amd64 ;;
    aarch64|arm64) arch=arm64 ;;
    armv7*|armv8l|armhf) arch=armv7 ;;
    *) die "no agent for this machine's architecture $(uname -m) (there are amd64, arm64 and armv7)" ;;
  esac
fi
case $arch in
  amd64|arm64|armv7) ;;
  *) die "--arch $arch: use amd64, arm64 or armv7" ;;
esac

if command -v curl >/dev/null 2>&1; then
  fetch() { curl -fsSL --retry 3 -o "$2" "$1"; }
elif command -v wget >/dev/null 2>&1; then
  fetch() { wget -q -O "$2" "$1"; }
else
  die "neither curl nor wget is installed"
fi
command -v sha256sum >/dev/null 2>&1 || die "sha256sum (coreutils) is needed to check the download"

enrolled=no
[ -s "$STATE_DIR/credentials.json" ] && enrolled=yes
if [ $enrolled = no ] && [ -z "$token" ]; then
  die "this host is not enrolled yet: pass --token <enrollment token> (create one in the console's Enrollment tokens tab)"
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT INT TERM
file=clawfleet-agent-linux-$arch
say "downloading $file from $CLOUD_URL"
fetch "$CLOUD_URL/downloads/SHA256SUMS" "$tmp/SHA256SUMS" ||
  die "could not download $CLOUD_URL/downloads/SHA256SUMS (does the cloud serve agent binaries? docs/workers.md)"
grep "  $file\$" "$tmp/SHA256SUMS" >"$tmp/sum" || die "$CLOUD_URL/downloads/SHA256SUMS lists no $file"
fetch "$CLOUD_URL/downloads/$file" "$tmp/$file" || die "could not download $CLOUD_URL/downloads/$file"
(cd "$tmp" && sha256sum -c sum >/dev/null 2>&1) || die "$file does not match its checksum in SHA256SUMS; nothing was installed"
chmod 0755 "$tmp/$file"
"$tmp/$file" version >/dev/null 2>&1 || die "the downloaded agent does not run on this machine (wrong --arch $arch?)"

# Enrolled first, by the downloaded binary: a refused token changes nothing.
if [ $enrolled = yes ]; then
  say "already enrolled ($STATE_DIR/credentials.json kept)"
else
  set -- enroll --cloud "$CLOUD_URL" --state-dir "$STATE_DIR"
  [ -n "$name" ] && set -- "$@" --name "$name"
  old_ifs=$IFS
  IFS='
'
  for l in $labels; do
    [ -n "$l" ] && set -- "$@" --label "$l"
  done
  IFS=$old_ifs
  # The token goes by the environment, not the command line (ps shows that).
  CLAWFLEET_ENROLL_TOKEN=$token "$tmp/$file" "$@" || die "enrollment failed (see above); nothing was installed: run this again with a valid token"
fi

# The binary is replaced in one rename: a running agent keeps its old inode.
upgrade=no
[ -e "$BIN" ] && upgrade=yes
mkdir -p "$(dirname "$BIN")"
cp "$tmp/$file" "$BIN.new"
mv -f "$BIN.new" "$BIN"
say "installed $("$BIN" version)"

mkdir -p "$(dirname "$UNIT")" "$(dirname "$ENV_FILE")"
cat >"$UNIT.new" <<'CLAWFLEET_UNIT'
@UNIT@CLAWFLEET_UNIT
mv -f "$UNIT.new" "$UNIT"
if [ ! -e "$ENV_FILE" ]; then
  cat >"$ENV_FILE" <<'CLAWFLEET_ENV'
@ENV@CLAWFLEET_ENV
fi

if [ $start = yes ] && [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then
  systemctl daemon-reload
  systemctl enable clawfleet-agent.service >/dev/null 2>&1
  systemctl restart clawfleet-agent.service
  say "clawfleet-agent is running (systemctl status clawfleet-agent; journalctl -u clawfleet-agent)"
else
  [ $start = yes ] && say "systemd is not running here"
  say "start the agent yourself: $BIN run --state-dir $STATE_DIR"
fi
[ $upgrade = yes ] && say "upgraded in place"
exit 0
