#!/usr/bin/env bash
# Renders every config the compose stacks mount, with the duplex CLI — the same commands a
# reader runs for a real deployment. test/compose.test.ts fails when a committed file differs.
# The demo passwords below are for local stacks: set your own before exposing anything.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-$root/compose/generated}
cli() { "$root/node_modules/.bin/bun" run "$root/src/cli.ts" "$@" >/dev/null; }
export RABBITMQ_PASSWORD=${RABBITMQ_PASSWORD:-duplex-demo-password}
export REDIS_PASSWORD=${REDIS_PASSWORD:-duplex-demo-password}
nginx=(--domain localhost)

cli nginx "${nginx[@]}" --upstream node:8080 --out "$out/ws/nginx"
"$root/compose/make-cert.sh" "$out/wss/nginx/certs"
# HTTPS on 8443 inside the container too, published as 8443: the http → https redirect
# names the port nginx listens on, so it must be the one the host reaches it by.
(cd "$out/wss/nginx" && cli nginx "${nginx[@]}" --upstream node:8080 --tls --cert certs/tls.crt --key certs/tls.key --https-port 8443 --out .)
cli nginx "${nginx[@]}" --upstream bun:8080 --upstream deno:8080 --upstream node:8080 --out "$out/cluster/nginx"
cli redis-conf --maxmemory 256mb --bind 0.0.0.0 --dir /data --out "$out/redis"
rabbit=(--namespace duplex --user duplex --definitions-path /etc/rabbitmq/definitions.json)
cli rabbitmq "${rabbit[@]}" --out "$out/rabbitmq"
cli rabbitmq "${rabbit[@]}" --cluster-node rabbit@rabbit1 --cluster-node rabbit@rabbit2 --cluster-node rabbit@rabbit3 --out "$out/rabbitmq-cluster"
