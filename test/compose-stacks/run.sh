#!/usr/bin/env bash
# npm run test:compose: every compose stack brought up for real. Starts a Docker engine if
# none answers (and stops only that one), builds the local images (the base is kept between
# runs), then runs stacks.compose.ts. DUPLEX_STACKS=ws,cluster runs only those stacks.
set -uo pipefail
cd "$(dirname "$0")/../.."
here=test/compose-stacks

if ! command -v docker-compose >/dev/null || ! command -v docker >/dev/null; then
  echo "test:compose: docker and docker-compose are needed (Debian: apt-get install docker.io docker-compose debootstrap)" >&2
  exit 1
fi
started=0
if ! docker info >/dev/null 2>&1; then
  "$here/engine.sh" start || { echo "test:compose: no Docker engine could be started; the stacks were not tested" >&2; exit 1; }
  started=1
fi
stop() { ((started)) && "$here/engine.sh" stop; }
trap stop EXIT

for port in 8080 8443; do
  if (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null; then
    echo "test:compose: port $port is in use; the stacks publish it (stop what listens there)" >&2
    exit 1
  fi
done

t0=$SECONDS
"$here/images.sh" || { echo "test:compose: building the local images failed" >&2; exit 1; }
echo "test:compose: images ready in $((SECONDS - t0)) s"
# The wss stack's certificate, made as README.md says; the tests trust it (not --insecure)
# for their own traffic, while `verify` runs exactly as a reader types it.
compose/make-cert.sh compose/generated/wss/nginx/certs
NODE_EXTRA_CA_CERTS=$PWD/compose/generated/wss/nginx/certs/tls.crt \
  node_modules/.bin/bun test --timeout 300000 "./$here/stacks.compose.ts"
