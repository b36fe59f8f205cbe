#!/usr/bin/env bash
# The Docker engine for the compose tests: `engine.sh start` starts dockerd only when no
# engine answers (and records that it did); `engine.sh stop` stops only an engine it
# started. Exits non-zero, saying why, when no engine can be had.
#   DUPLEX_DOCKER_ROOT   data-root of an engine started here (images persist across runs)
set -euo pipefail
root=${DUPLEX_DOCKER_ROOT:-/var/lib/duplex-docker}
pidfile=$root.pid
log=$root.log

case ${1:-start} in
start)
  if docker info >/dev/null 2>&1; then
    echo "engine: already running ($(docker info --format '{{.ServerVersion}}'))"
    exit 0
  fi
  if ! command -v dockerd >/dev/null; then
    echo "engine: no dockerd on this machine (Debian: apt-get install docker.io)" >&2
    exit 1
  fi
  mkdir -p "$root"
  # vfs and no iptables: what works inside this sandbox (no overlay mounts, no netfilter);
  # published ports still reach the containers through docker-proxy on loopback.
  setsid dockerd --data-root "$root" --storage-driver=vfs --iptables=false \
    --pidfile "$pidfile" >"$log" 2>&1 </dev/null &
  for _ in $(seq 1 60); do
    if docker info >/dev/null 2>&1; then
      echo "engine: started dockerd (pid $(cat "$pidfile"), data-root $root)"
      exit 0
    fi
    sleep 1
  done
  echo "engine: dockerd did not answer within 60 s; last lines of $log:" >&2
  tail -n 20 "$log" >&2 || true
  exit 1
  ;;
stop)
  [[ -s $pidfile ]] || { echo "engine: not started by us, left running"; exit 0; }
  pid=$(cat "$pidfile")
  kill "$pid" 2>/dev/null || true
  for _ in $(seq 1 30); do kill -0 "$pid" 2>/dev/null || break; sleep 1; done
  rm -f "$pidfile"
  echo "engine: stopped dockerd (pid $pid)"
  ;;
*) echo "usage: engine.sh start|stop" >&2; exit 2 ;;
esac
