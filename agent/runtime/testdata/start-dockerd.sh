#!/usr/bin/env bash
# Makes a Docker Engine answer on /var/run/docker.sock for the runtime tests:
# installs docker.io when dockerd is missing, starts dockerd in the
# background when the socket does not answer, and waits for it (up to 60 s).
# Idempotent; CI calls it before `go test ./agent/runtime/...`.
set -euo pipefail
sock=${DOCKER_SOCK:-/var/run/docker.sock}
answers() { curl -fsS --max-time 3 --unix-socket "$sock" http://d/_ping >/dev/null 2>&1; }
if answers; then exit 0; fi
if ! command -v dockerd >/dev/null 2>&1; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends docker.io >/dev/null
fi
command -v curl >/dev/null 2>&1 || { apt-get install -y -qq curl >/dev/null; }
if ! answers; then
  # A dockerd or containerd killed without cleanup (e.g. at the end of an
  # earlier session) leaves pid files that make the next dockerd refuse to start.
  for pidfile in /var/run/docker.pid /var/run/docker/containerd/containerd.pid; do
    if [ -f "$pidfile" ] && ! kill -0 "$(cat "$pidfile" 2>/dev/null)" 2>/dev/null; then
      rm -f "$pidfile"
    fi
  done
  log=${DOCKERD_LOG:-/var/log/clawfleet-dockerd.log}
  # No registry is reachable: keep dockerd from trying one at startup, and keep
  # its iptables rules (port publishing to 127.0.0.1 needs them).
  nohup dockerd --host "unix://$sock" >"$log" 2>&1 </dev/null &
  for _ in $(seq 1 120); do
    answers && break
    sleep 0.5
  done
fi
if ! answers; then
  echo "dockerd did not answer on $sock; last log lines:" >&2
  tail -n 30 "${DOCKERD_LOG:-/var/log/clawfleet-dockerd.log}" >&2 || true
  exit 1
fi
