#!/usr/bin/env bash
# make demo-fleet: a small fleet on one machine (docs/FLEET.md).
#   - one Notary: notary-server + notary-signer on PostgreSQL, mutual TLS;
#   - one network token: the release host's SoftHSM token served by
#     `p11-kit server`, used by the release agent through p11-kit-client.so;
#   - two CI runners, each with its own agent, token and docker config,
#     each holding one delegation key.
# The release agent makes the repository and adds both runners; each runner
# signs the tag; the whole Notary is restarted; inspect still shows both.
# Everything lives in .demo-fleet/ (PostgreSQL's data in a /tmp directory
# another user can reach when run as root) and is stopped on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
DEMO=$ROOT/.demo-fleet
TA=$ROOT/bin/trust-agent
MODULE=/usr/lib/softhsm/libsofthsm2.so

step() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }
run() { printf '$ %s\n' "$*"; "$@"; }

PIDS=() SOCKS=() PGDIR=
cleanup() {
  for s in "${SOCKS[@]}"; do [ -S "$s" ] && TRUST_AGENT_SOCK=$s "$TA" stop >/dev/null 2>&1 || true; done
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  [ -n "$PGDIR" ] && { stop_postgres; rm -rf "$PGDIR"; }
  wait 2>/dev/null || true
}
trap cleanup EXIT

free_port() {
  for p in $(seq "$1" $(( $1 + 200 ))); do
    if ! (exec 3<>/dev/tcp/127.0.0.1/"$p") 2>/dev/null; then echo "$p"; return; fi
  done
  echo "no free port near $1" >&2; exit 1
}
wait_port() { for _ in $(seq 200); do (exec 3<>/dev/tcp/127.0.0.1/"$1") 2>/dev/null && return; sleep 0.05; done; echo "nothing on port $1" >&2; exit 1; }

for m in /usr/lib/x86_64-linux-gnu/pkcs11/p11-kit-client.so /usr/lib/aarch64-linux-gnu/pkcs11/p11-kit-client.so /usr/lib64/pkcs11/p11-kit-client.so; do
  [ -f "$m" ] && CLIENT=$m && break
done
[ -n "${CLIENT:-}" ] || { echo "demo-fleet: p11-kit-client.so not found (apt-get install p11-kit-modules)" >&2; exit 1; }
PGBIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
MIGRATIONS=$(go list -m -f '{{.Dir}}' github.com/theupdateframework/notary)/migrations

rm -rf "$DEMO"
mkdir -p "$DEMO"/{tls,run}
chmod 700 "$DEMO"
umask 077

step "1. PostgreSQL with notary v0.7.0's schema (migrations from the Go module)"
PGDIR=$(mktemp -d /tmp/trust-agent-demo-pg.XXXXXX)
chmod 755 "$PGDIR"
PG=()
if [ "$(id -u)" = 0 ]; then chown nobody "$PGDIR"; PG=(setpriv --reuid=nobody --regid=nogroup --clear-groups --); fi
PG_PORT=$(free_port 5432)
"${PG[@]}" "$PGBIN/initdb" -D "$PGDIR/data" -U postgres --auth=trust --no-sync --no-instructions >/dev/null
start_postgres() {
  "${PG[@]}" "$PGBIN/postgres" -D "$PGDIR/data" -p "$PG_PORT" -k "$PGDIR" -c listen_addresses=127.0.0.1 >"$DEMO/postgres.log" 2>&1 &
  PG_PID=$!
  until "$PGBIN/pg_isready" -q -U postgres -h 127.0.0.1 -p "$PG_PORT"; do sleep 0.1; done
}
stop_postgres() { [ -n "${PG_PID:-}" ] && kill -INT "$PG_PID" 2>/dev/null && while kill -0 "$PG_PID" 2>/dev/null; do sleep 0.1; done; PG_PID=; }
start_postgres
psql() { command psql -X -q -v ON_ERROR_STOP=1 "postgres://$1@127.0.0.1:$PG_PORT/$2?sslmode=disable" "${@:3}"; }
run psql postgres postgres -c 'CREATE ROLE server LOGIN' -c 'CREATE ROLE signer LOGIN' \
  -c 'CREATE DATABASE notaryserver OWNER server' -c 'CREATE DATABASE notarysigner OWNER signer'
for f in "$MIGRATIONS"/server/postgresql/*.up.sql; do run psql server notaryserver -f "$f"; done
for f in "$MIGRATIONS"/signer/postgresql/*.up.sql; do run psql signer notarysigner -f "$f"; done

step "2. notary-signer and notary-server on it, mutual TLS between them"
( cd "$DEMO/tls"
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=fleet-demo-ca \
    -keyout ca.key -out ca.crt 2>/dev/null
  for n in server signer; do
    openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=notary-$n" -keyout $n.key -out $n.csr 2>/dev/null
    printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth,clientAuth\n' > $n.ext
    openssl x509 -req -in $n.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 2 -extfile $n.ext -out $n.crt 2>/dev/null
  done )
SIGNER_PORT=$(free_port 7899)
NOTARY_PORT=$(free_port 4443)
cat > "$DEMO/signer.json" <<JSON
{"server":{"grpc_addr":"127.0.0.1:$SIGNER_PORT","tls_cert_file":"$DEMO/tls/signer.crt","tls_key_file":"$DEMO/tls/signer.key","client_ca_file":"$DEMO/tls/ca.crt"},
 "storage":{"backend":"postgres","default_alias":"keys","db_url":"postgres://signer@127.0.0.1:$PG_PORT/notarysigner?sslmode=disable"},
 "logging":{"level":"warning"}}
JSON
cat > "$DEMO/server.json" <<JSON
{"server":{"http_addr":"127.0.0.1:$NOTARY_PORT","tls_cert_file":"$DEMO/tls/server.crt","tls_key_file":"$DEMO/tls/server.key"},
 "trust_service":{"type":"remote","hostname":"127.0.0.1","port":"$SIGNER_PORT","key_algorithm":"ecdsa",
   "tls_ca_file":"$DEMO/tls/ca.crt","tls_client_cert":"$DEMO/tls/server.crt","tls_client_key":"$DEMO/tls/server.key"},
 "storage":{"backend":"postgres","db_url":"postgres://server@127.0.0.1:$PG_PORT/notaryserver?sslmode=disable"},
 "logging":{"level":"warning"}}
JSON
SIGNER_PASS=$(openssl rand -hex 16) # encrypts the keys notary-signer stores (alias "keys")
start_notary() {
  NOTARY_SIGNER_KEYS=$SIGNER_PASS notary-signer -config "$DEMO/signer.json" >>"$DEMO/notary-signer.log" 2>&1 &
  SIGNER_PID=$!
  wait_port "$SIGNER_PORT"
  notary-server -config "$DEMO/server.json" >>"$DEMO/notary-server.log" 2>&1 &
  SERVER_PID=$!
  for _ in $(seq 100); do
    curl -sf --cacert "$DEMO/tls/ca.crt" "https://127.0.0.1:$NOTARY_PORT/_notary_server/health" >/dev/null && break
    sleep 0.1
  done
  PIDS+=("$SIGNER_PID" "$SERVER_PID")
}
start_notary
echo "notary-server on https://127.0.0.1:$NOTARY_PORT, notary-signer on 127.0.0.1:$SIGNER_PORT"

step "3. A registry with an image"
go build -o "$DEMO/devregistry" ./internal/cmd/devregistry
REGISTRY_PORT=$(free_port 5000)
"$DEMO/devregistry" -addr "127.0.0.1:$REGISTRY_PORT" -push fleet/app:v1 >"$DEMO/registry.out" 2>&1 &
PIDS+=($!)
for _ in $(seq 100); do [ -s "$DEMO/registry.out" ] && break; sleep 0.1; done
read -r IMAGE DIGEST < "$DEMO/registry.out"
REPO=${IMAGE%:*}
echo "pushed $IMAGE ($DIGEST)"
export DOCKER_CONTENT_TRUST_SERVER=https://127.0.0.1:$NOTARY_PORT

# machine NAME: a directory with its own SoftHSM token, docker config and socket.
machine() {
  local m=$DEMO/$1
  mkdir -p "$m"/{tokens,docker/tls/127.0.0.1:$NOTARY_PORT}
  cp "$DEMO/tls/ca.crt" "$m/docker/tls/127.0.0.1:$NOTARY_PORT/ca.crt"
  printf 'directories.tokendir = %s/tokens\nobjectstore.backend = file\nlog.level = ERROR\n' "$m" > "$m/softhsm2.conf"
  SOFTHSM2_CONF=$m/softhsm2.conf softhsm2-util --init-token --free --label "$1" --pin 123456 --so-pin 12345678 >/dev/null
  echo 123456 > "$m/pin"
}
# on NAME CMD...: run CMD as machine NAME would (its agent, token, docker config).
on() {
  local m=$DEMO/$1; shift
  printf '[%s] ' "$(basename "$m")"
  (cd "$m" && SOFTHSM2_CONF=$m/softhsm2.conf DOCKER_CONFIG=$m/docker TRUST_AGENT_SOCK=$m/run/agent.sock run "$@")
}

step "4. The release host's token, served by p11-kit; the release agent uses it through p11-kit-client.so"
machine release
SOFTHSM2_CONF=$DEMO/release/softhsm2.conf p11-kit server -f -n "$DEMO/release/p11kit.sock" --provider "$MODULE" 'pkcs11:token=release' >"$DEMO/p11kit.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 100); do [ -S "$DEMO/release/p11kit.sock" ] && break; sleep 0.05; done
SOCKS+=("$DEMO/release/run/agent.sock")
P11_KIT_SERVER_ADDRESS=unix:path=$DEMO/release/p11kit.sock on release "$TA" start --socket "$DEMO/release/run/agent.sock" \
  --pkcs11 "pkcs11:token=release?module-path=$CLIENT&pin-source=file:$DEMO/release/pin" >/dev/null
on release "$TA" status

step "5. Two CI runners, each with its own agent, token and delegation key"
for n in 1 2; do
  machine runner-$n
  SOCKS+=("$DEMO/runner-$n/run/agent.sock")
  on runner-$n "$TA" start --socket "$DEMO/runner-$n/run/agent.sock" \
    --pkcs11 "pkcs11:token=runner-$n?module-path=$MODULE&pin-source=file:$DEMO/runner-$n/pin" >/dev/null
  on runner-$n "$TA" key generate ci-runner-$n
  cp "$DEMO/runner-$n/ci-runner-$n.pub" "$DEMO/release/"
done

step "6. The release agent makes the repository (root and targets keys on the network token) and adds both runners"
on release "$TA" signer add --key ci-runner-1.pub ci-runner-1 "$REPO"
on release "$TA" signer add --key ci-runner-2.pub ci-runner-2 "$REPO"

step "7. Each runner signs what it built"
on runner-1 "$TA" sign "$IMAGE"
on runner-2 "$TA" sign "$IMAGE"

step "8. Restart the whole Notary: PostgreSQL, notary-signer, notary-server"
kill "$SERVER_PID" "$SIGNER_PID"; wait "$SERVER_PID" "$SIGNER_PID" 2>/dev/null || true
stop_postgres
start_postgres
start_notary
echo "restarted"

step "9. Nothing is lost: a fresh machine sees both runners' signatures"
machine auditor
on auditor "$TA" inspect --pretty "$REPO"
on auditor "$TA" verify "$IMAGE"
if command -v docker >/dev/null; then
  on auditor docker trust inspect --pretty "$IMAGE"
fi
run psql server notaryserver -A -c "SELECT role, max(version) AS version FROM tuf_files WHERE gun = '$REPO' GROUP BY role ORDER BY role"

step "Done: one Notary on PostgreSQL, one network token, two runners with their own agents. Stopping everything."
