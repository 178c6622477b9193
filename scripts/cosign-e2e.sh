#!/usr/bin/env bash
# make test-cosign: the cosign CLI (v2.6.5, built in a scratch module: about
# ten minutes here, so not part of make test) signs an image with a key held
# by the agent through sigstore-kms-trustagent, and verifies it with the key
# trust-agent key export prints. Offline: no Rekor, no Fulcio.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
W=$(mktemp -d)
trap 'bin/trust-agent stop >/dev/null 2>&1 || true; kill $(jobs -p) 2>/dev/null || true; rm -rf "$W"' EXIT
chmod 700 "$W"; mkdir -m 700 "$W/tokens" "$W/run" "$W/cosign-build"
COSIGN=${COSIGN:-$ROOT/.tmp/cosign}
if [ ! -x "$COSIGN" ]; then
  echo "test-cosign: building cosign v2.6.5 (about ten minutes)"
  mkdir -p "$(dirname "$COSIGN")"
  (cd "$W/cosign-build" && go mod init cosignbuild >/dev/null 2>&1 &&
   GOFLAGS=-mod=mod go get github.com/sigstore/cosign/v2/cmd/cosign@v2.6.5 >/dev/null 2>&1 &&
   GOFLAGS=-mod=mod go build -o "$COSIGN" github.com/sigstore/cosign/v2/cmd/cosign)
fi
go build -o "$W/devregistry" ./internal/cmd/devregistry
export SOFTHSM2_CONF=$W/softhsm2.conf
printf 'directories.tokendir = %s/tokens\nobjectstore.backend = file\nlog.level = ERROR\n' "$W" > "$SOFTHSM2_CONF"
softhsm2-util --init-token --free --label cosign --pin 123456 --so-pin 12345678 >/dev/null
(umask 077; echo 123456 > "$W/pin")
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$W/devregistry" -addr "127.0.0.1:$PORT" -push demo/app:v1 > "$W/reg.out" 2>&1 &
for _ in $(seq 100); do [ -s "$W/reg.out" ] && break; sleep 0.1; done
read -r IMAGE DIGEST < "$W/reg.out"
REPO=${IMAGE%:*}
eval "$(bin/trust-agent start --socket "$W/run/agent.sock" --pkcs11 "pkcs11:token=cosign?module-path=/usr/lib/softhsm/libsofthsm2.so&pin-source=file:$W/pin")"
bin/trust-agent key generate release --role cosign --repo "$REPO" --dir "$W" >/dev/null
bin/trust-agent key export release > "$W/release.pub"
PATH=$ROOT/bin:$PATH "$COSIGN" sign --key trustagent://release --tlog-upload=false --allow-insecure-registry -y "$REPO@$DIGEST"
"$COSIGN" verify --key "$W/release.pub" --insecure-ignore-tlog --allow-insecure-registry "$REPO@$DIGEST" >/dev/null
# a reference in another repository is refused by the key's binding
if PATH=$ROOT/bin:$PATH "$COSIGN" sign --key trustagent://release --tlog-upload=false --allow-insecure-registry -y "127.0.0.1:$PORT/other/app@$DIGEST" 2>/dev/null; then
  echo "test-cosign: FAIL: a key bound to $REPO signed for other/app"; exit 1
fi
grep -q '"op":"sign-payload".*"result":"refused"' "$W/run/audit.log"
echo "test-cosign: cosign signed $REPO@$DIGEST with a key on the token and verified it: 1 passed, 0 failed"
