#!/usr/bin/env bash
# Builds the images the compose tests swap in for the public ones a reader pulls (no
# registry is reachable here): a Debian bookworm base from debootstrap, made once and kept,
# and one image per service from Debian's packages and this repository's own files.
# The tags are the ones compose/test/local-images.yml names.
#   DUPLEX_DEBIAN_MIRROR   the Debian archive (default: the one apt uses on this machine)
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
here=$root/test/compose-stacks/images
base=duplex-local/debian:bookworm

mirror=${DUPLEX_DEBIAN_MIRROR:-$(grep -rhoE '^(URIs:|deb) +https?://[^ ]+/debian/?( |$)' /etc/apt/sources.list /etc/apt/sources.list.d/ 2>/dev/null \
  | head -1 | grep -oE 'https?://[^ ]+' || true)}
mirror=${mirror:-http://deb.debian.org/debian}

t0=$SECONDS
if docker image inspect "$base" >/dev/null 2>&1; then
  echo "images: $base kept from an earlier run"
else
  rootfs=$(mktemp -d /var/tmp/duplex-rootfs.XXXXXX)
  trap 'rm -rf "$rootfs"' EXIT
  echo "images: debootstrap bookworm from $mirror"
  # mktemp made the root 0700: as / of the image it must let every user in.
  chmod 755 "$rootfs"
  debootstrap --variant=minbase bookworm "$rootfs" "$mirror" >/dev/null
  # Service images install with apt from the same mirror, over the host's network at build time.
  echo "deb $mirror bookworm main" >"$rootfs/etc/apt/sources.list"
  tar -C "$rootfs" -c . | docker import -c 'CMD ["bash"]' - "$base" >/dev/null
  rm -rf "$rootfs"
  echo "images: $base built in $((SECONDS - t0)) s"
fi

# One service image from images/NAME/, with the given SOURCE:NAME files copied beside its
# Dockerfile; arguments after -- go to docker build. Docker's layer cache makes a rebuild with unchanged inputs take a second.
build() {
  local name=$1 tag=$2 ctx t=$SECONDS; shift 2
  ctx=$(mktemp -d /var/tmp/duplex-image.XXXXXX)
  cp -r "$here/$name/." "$ctx/"
  while (($#)) && [[ $1 != -- ]]; do cp -rL "${1%%:*}" "$ctx/${1#*:}"; shift; done
  (($#)) && shift
  if ! docker build --network host -t "$tag" --label duplex.local=1 "$@" "$ctx" >"$ctx.log" 2>&1; then
    tail -n 30 "$ctx.log" >&2
    rm -rf "$ctx" "$ctx.log"
    echo "images: building $tag failed" >&2
    exit 1
  fi
  rm -rf "$ctx" "$ctx.log"
  echo "images: $tag in $((SECONDS - t)) s"
}

build redis duplex-local/redis:7
build rabbitmq duplex-local/rabbitmq:3.10
build nginx duplex-local/nginx:1.22
build bun duplex-local/bun:1 "$root/node_modules/.bin/bun:bun"
build deno duplex-local/deno:2 "$root/node_modules/.bin/deno:deno"

# node: an npm cache holding the lockfile's packages, filled by the host's npm (the registry
# is reachable from the host only) and kept between runs, so only what is new is fetched.
# The image carries the lockfile's hash: an unchanged lockfile and node reuse it as it is.
stamp=$( (sha256sum "$root/package-lock.json"; node --version) | sha256sum | cut -c1-16)
if [[ $(docker image inspect --format '{{index .Config.Labels "duplex.inputs"}}' duplex-local/node:20 2>/dev/null) == "$stamp" ]]; then
  echo "images: duplex-local/node:20 kept (same lockfile and node)"
else
  cache=${DUPLEX_NPM_CACHE:-/var/tmp/duplex-npm-cache}
  lock=$(mktemp -d /var/tmp/duplex-lock.XXXXXX)
  cp "$root/package.json" "$root/package-lock.json" "$lock/"
  (cd "$lock" && npm ci --cache "$cache" --prefer-offline --ignore-scripts --no-audit --no-fund --loglevel=error >/dev/null)
  rm -rf "$lock"
  npm=$(cd "$(dirname "$(readlink -f "$(command -v npm)")")/.." && pwd)
  build node duplex-local/node:20 "$(command -v node):node" "$npm:npm" "$cache:npm-cache" -- --label "duplex.inputs=$stamp"
fi

# What a rebuild left untagged (vfs keeps every layer in full): only images built here.
docker image prune -f --filter label=duplex.local=1 >/dev/null
