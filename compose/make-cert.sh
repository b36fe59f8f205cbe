#!/usr/bin/env bash
# A self-signed certificate for localhost, for the wss stack and tests: make-cert.sh DIR
# writes DIR/tls.crt and DIR/tls.key (kept if they exist). Never use it in production.
set -euo pipefail
dir=${1:?usage: make-cert.sh DIR}
mkdir -p "$dir"
[[ -s $dir/tls.crt && -s $dir/tls.key ]] && exit 0
openssl req -x509 -newkey rsa:2048 -nodes -days 825 -subj "/CN=localhost" \
  -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" \
  -keyout "$dir/tls.key" -out "$dir/tls.crt" 2>/dev/null
chmod 644 "$dir/tls.crt" "$dir/tls.key"
