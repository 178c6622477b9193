#!/usr/bin/env bash
# make demo: from nothing to a tag signed by a hardware-held delegation key,
# then migrated to Notation and cosign signatures (trust-agent migrate).
# Everything lives in .demo/ and everything started here is stopped on exit.
# With TRUST_AGENT_DEMO_PIV=1 (make demo-piv, inside piv/scripts/with-pcscd.sh
# --card) the root key is made on the project's virtual YubiKey instead.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
DEMO=$ROOT/.demo
TA=$ROOT/bin/trust-agent
MODULE=/usr/lib/softhsm/libsofthsm2.so

step() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }
run() { printf '$ %s\n' "$*"; "$@"; }

PIDS=()
cleanup() {
  if [ -n "${TRUST_AGENT_SOCK:-}" ] && [ -S "$TRUST_AGENT_SOCK" ]; then "$TA" stop >/dev/null 2>&1 || true; fi
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap cleanup EXIT

free_port() {
  for p in $(seq "$1" $(( $1 + 200 ))); do
    if ! (exec 3<>/dev/tcp/127.0.0.1/"$p") 2>/dev/null; then echo "$p"; return; fi
  done
  echo "no free port near $1" >&2; exit 1
}

rm -rf "$DEMO"
mkdir -p "$DEMO"/{softhsm/tokens,tls,docker,run}
chmod 700 "$DEMO"
umask 077

step "1. A SoftHSM token (the hardware, in a local folder)"
export SOFTHSM2_CONF=$DEMO/softhsm/softhsm2.conf
printf 'directories.tokendir = %s/softhsm/tokens\nobjectstore.backend = file\nlog.level = ERROR\n' "$DEMO" > "$SOFTHSM2_CONF"
run softhsm2-util --init-token --free --label demo --pin 123456 --so-pin 12345678 | tail -1
echo 123456 > "$DEMO/pin"

step "2. A local notary-server (Debian's build) with TLS, memory storage"
NOTARY_PORT=$(free_port 4443)
( cd "$DEMO/tls"
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=trust-agent-demo-ca \
    -keyout ca.key -out ca.crt 2>/dev/null
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=127.0.0.1 \
    -keyout server.key -out server.csr 2>/dev/null
  printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\n' > san.ext
  openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 2 -extfile san.ext \
    -out server.crt 2>/dev/null )
cat > "$DEMO/notary-server.json" <<JSON
{"server":{"http_addr":"127.0.0.1:$NOTARY_PORT","tls_cert_file":"$DEMO/tls/server.crt","tls_key_file":"$DEMO/tls/server.key"},
 "trust_service":{"type":"local"},"storage":{"backend":"memory"},"logging":{"level":"warning"}}
JSON
notary-server -config "$DEMO/notary-server.json" >"$DEMO/notary-server.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 100); do
  curl -sf --cacert "$DEMO/tls/ca.crt" "https://127.0.0.1:$NOTARY_PORT/_notary_server/health" >/dev/null && break
  sleep 0.1
done
echo "notary-server on https://127.0.0.1:$NOTARY_PORT"

step "3. A local OCI registry (go-containerregistry) with a small random image"
go build -o "$DEMO/devregistry" ./internal/cmd/devregistry
REGISTRY_PORT=$(free_port 5000)
"$DEMO/devregistry" -addr "127.0.0.1:$REGISTRY_PORT" -push demo/app:v1 >"$DEMO/registry.out" 2>&1 &
PIDS+=($!)
for _ in $(seq 100); do [ -s "$DEMO/registry.out" ] && break; sleep 0.1; done
read -r IMAGE DIGEST < "$DEMO/registry.out"
REPO=${IMAGE%:*}
echo "pushed $IMAGE ($DIGEST)"

export DOCKER_CONFIG=$DEMO/docker
export DOCKER_CONTENT_TRUST_SERVER=https://127.0.0.1:$NOTARY_PORT
mkdir -p "$DOCKER_CONFIG/tls/127.0.0.1:$NOTARY_PORT"
cp "$DEMO/tls/ca.crt" "$DOCKER_CONFIG/tls/127.0.0.1:$NOTARY_PORT/ca.crt"

START=(--socket "$DEMO/run/agent.sock" --audit-log "$DEMO/audit.log"
  --pkcs11 "pkcs11:token=demo?module-path=$MODULE&pin-source=file:$DEMO/pin")
if [ "${TRUST_AGENT_DEMO_PIV:-}" = 1 ]; then
  step "3b. The (virtual) YubiKey: a random management key on it, PIN and PUK changed from the defaults"
  printf '123456\n24681357\n12345678\n87654321\n' > "$DEMO/piv-secrets"   # current PIN, new PIN, current PUK, new PUK
  echo 24681357 > "$DEMO/piv-pin"
  run "$TA" piv setup --secrets-file "$DEMO/piv-secrets"
  START+=(--piv any)
fi

step "4. The agent, holding the token (PIN from a pin-source file, never argv)"
run eval "$("$TA" start "${START[@]}")"
run "$TA" status
if [ "${TRUST_AGENT_DEMO_PIV:-}" = 1 ]; then
  PIV_BACKEND=$("$TA" status --json | jq -r '.backends[] | select(.kind == "piv") | .name')
  run "$TA" unlock --backend "$PIV_BACKEND" --pin-file "$DEMO/piv-pin"
  step "4b. The root key is made on the card (slot 9c, touch policy always)"
  (cd "$DEMO" && run "$TA" key generate root --role root --backend "$PIV_BACKEND")
fi

step "5. A delegation key generated on the token; only alice.pub touches disk"
cd "$DEMO"
run "$TA" key generate alice
run "$TA" signer add --key alice.pub alice "$REPO"
run "$TA" key list

step "6. Sign the tag: digest from the registry, every signature from the agent"
run "$TA" sign "$IMAGE"

step "7. What the Notary server now says"
run "$TA" inspect --pretty "$REPO"
run "$TA" verify "$IMAGE"
if command -v docker >/dev/null; then
  step "8. The docker CLI reads the same trust data"
  run docker trust inspect --pretty "$IMAGE"
fi

step "9. Off DCT: Notation and cosign signatures over the DCT-trusted digest, from keys on the token"
run "$TA" key generate release --role notation
echo "\$ $TA key certify release > release.crt"
"$TA" key certify release > release.crt
run "$TA" key generate release --role cosign --dir cosign-keys
run "$TA" migrate --key release "$IMAGE"
echo "(again: nothing left to do)"
run "$TA" migrate --key release "$IMAGE"

step "The audit log: one line per request"
tail -n 3 "$DEMO/audit.log"
run "$TA" audit verify "$DEMO/audit.log"

step "Done: $IMAGE is signed by alice for DCT and by release for Notation and cosign; no key left the token. Stopping everything."
