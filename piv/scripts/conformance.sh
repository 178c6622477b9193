#!/usr/bin/env bash
# conformance.sh: judge the virtual PIV card by clients no one here wrote.
#
#   piv/scripts/conformance.sh
#
# 0. The fixture's own Go tests (piv/virtualcard, piv/pivtest) through a
#    private pcscd, with CI=true so that nothing can skip.
# 1. piv-go v2.6.0's own test suite against the card (firmware 5.7.1),
#    except TestYubiKeyAttestation, which verifies against Yubico's real
#    root CA and so must fail on any card Yubico did not make.
#    GODEBUG=rsa1024min=0 because one test imports a 512-bit RSA key to
#    check that it is refused.
# 2. yubico-piv-tool 2.x on a firmware 5.4.3 card (3DES management key:
#    yubico-piv-tool 2.2.0 cannot authenticate with AES, just as with a
#    real 5.7 YubiKey): generate, import certificates made by openssl,
#    then -a status, read-certificate, attest, and openssl verify of the
#    attestation chain up to the fixture CA.
#    Then OpenSC's PKCS#11 module (pkcs11-tool) on the same card: objects,
#    ECDSA and RSA signatures checked by openssl, RSA decryption.
# 3. Both cards restarted from their state files (a new card process, as
#    after unplugging): same serial, and the 5.4.3 card's certificates.
#
# Needs root (see with-pcscd.sh), pcscd, vsmartcard-vpcd, yubico-piv-tool,
# openssl, cgo. Exits non-zero if anything fails; the summary is on stdout,
# logs in $PIV_STATE_DIR/conformance (default .tmp/piv/conformance).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
export PIV_STATE_DIR=${PIV_STATE_DIR:-$root/.tmp/piv}
out=$PIV_STATE_DIR/conformance

# Inner part of check 2, run inside with-pcscd.sh (the card is up).
if [[ ${1:-} == --inner-ykpiv ]]; then
	cd "$out"
	pass=0 fail=0
	check() { # check NAME CMD...: run, count, keep output in NAME.log
		local name=$1; shift
		if "$@" >"$name.log" 2>&1; then
			pass=$((pass + 1)); echo "  ok   $name"
		else
			fail=$((fail + 1)); echo "  FAIL $name (see $out/$name.log)"; sed 's/^/       /' "$name.log" | tail -5
		fi
	}
	certify() { # certify PUB CN OUT: a certificate for a card key, issued by a throwaway CA
		openssl req -new -key issuer.key -subj "/CN=$2/" -out "$3.csr" &&
			openssl x509 -req -in "$3.csr" -CA issuer.pem -CAkey issuer.key -set_serial 1 -days 1 \
				-force_pubkey "$1" -out "$3"
	}
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=conformance issuer/" \
		-keyout issuer.key -out issuer.pem -days 1 2>/dev/null
	"$VIRTUALCARD_BIN" --print-ca >fixture-ca.pem

	check generate-9a yubico-piv-tool -a generate -s 9a -A ECCP256 -o pub9a.pem
	check generate-9c yubico-piv-tool -a generate -s 9c -A RSA2048 --pin-policy=once -o pub9c.pem
	check certify certify pub9a.pem "conformance 9a" cert9a.pem
	check certify-rsa certify pub9c.pem "conformance 9c" cert9c.pem
	check import-cert-9a yubico-piv-tool -a import-certificate -s 9a -i cert9a.pem
	check import-cert-9c yubico-piv-tool -a import-certificate -s 9c -i cert9c.pem
	check status yubico-piv-tool -a status
	check status-lists-9a grep -A3 "^Slot 9a" status.log
	check status-9a-subject grep -q "Subject DN:.*conformance 9a" status.log
	check status-9c-rsa grep -A1 "^Slot 9c" status.log
	check status-9c-rsa-alg bash -c 'grep -A1 "^Slot 9c" status.log | grep -q RSA2048'
	check read-certificate yubico-piv-tool -a read-certificate -s 9a -o read9a.pem
	check read-matches cmp <(openssl x509 -in read9a.pem -outform der) <(openssl x509 -in cert9a.pem -outform der)
	check attest yubico-piv-tool -a attest -s 9a -o attest9a.pem
	check read-f9 yubico-piv-tool -a read-certificate -s f9 -o f9.pem
	check attest-chain openssl verify -CAfile fixture-ca.pem -untrusted f9.pem attest9a.pem
	check attest-key-matches cmp <(openssl x509 -in attest9a.pem -noout -pubkey) pub9a.pem
	check verify-pin yubico-piv-tool -a verify-pin -P 123456
	check wrong-pin-counts bash -c '! yubico-piv-tool -a verify-pin -P 654321 && yubico-piv-tool -a status | grep -q "PIN tries left:.2"'
	echo "yubico-piv-tool: $pass passed, $fail failed"

	# OpenSC's PKCS#11 module, a client with a PIV driver of its own.
	module=$(ls /usr/lib/*/opensc-pkcs11.so /usr/lib/opensc-pkcs11.so 2>/dev/null | head -1 || true)
	if [[ -z $module ]]; then
		echo "opensc-pkcs11: not installed, skipped"
	else
		p11() { pkcs11-tool --module "$module" "$@"; }
		pass0=$pass fail0=$fail
		echo "conformance data" >data.txt
		check p11-objects p11 --list-objects
		check p11-sees-9a grep -q "subject:.*CN=conformance 9a" p11-objects.log
		check p11-sign-ec p11 --login --pin 123456 --sign --id 01 -m ECDSA-SHA256 --signature-format openssl -i data.txt -o sig-ec.bin
		check p11-verify-ec openssl dgst -sha256 -verify pub9a.pem -signature sig-ec.bin data.txt
		check p11-sign-rsa p11 --login --pin 123456 --sign --id 02 -m SHA256-RSA-PKCS -i data.txt -o sig-rsa.bin
		check p11-verify-rsa openssl dgst -sha256 -verify pub9c.pem -signature sig-rsa.bin data.txt
		check p11-decrypt bash -c 'openssl pkeyutl -encrypt -pubin -inkey pub9c.pem -in data.txt -out ct.bin &&
			pkcs11-tool --module "$0" --login --pin 123456 --decrypt --id 02 -m RSA-PKCS -i ct.bin -o pt.txt && cmp pt.txt data.txt' "$module"
		echo "opensc-pkcs11: $((pass - pass0)) passed, $((fail - fail0)) failed"
	fi
	[[ $fail == 0 ]]
	exit
fi

rm -rf "$out"
mkdir -p "$out"
status=0

echo "== fixture Go tests through pcscd (CI=true: no skipping)"
# Compiled outside the namespace, which has no network for the toolchain.
for pkg in virtualcard pivtest; do
	(cd "$root" && go test -c -o "$out/$pkg.test" "./piv/$pkg")
done
set +e
"$here/with-pcscd.sh" -- env CI=true bash -c "'$out/virtualcard.test' -test.count=1 -test.v && '$out/pivtest.test' -test.count=1 -test.v" \
	>"$out/fixture.log" 2>&1
rc=$?
set -e
echo "fixture: $(grep -c -- '--- PASS' "$out/fixture.log" || true) passed, $(grep -c -- '--- SKIP' "$out/fixture.log" || true) skipped, $(grep -c -- '--- FAIL' "$out/fixture.log" || true) failed (exit $rc; log $out/fixture.log)"
if [[ $rc != 0 ]]; then
	grep -E -- '--- FAIL|_test.go' "$out/fixture.log" | head -20 | sed 's/^/  /'
	status=1
fi

echo "== piv-go v2.6.0 test suite (firmware 5.7.1)"
(cd "$root" && go test -c -o "$out/pivgo.test" github.com/go-piv/piv-go/v2/piv)
set +e
"$here/with-pcscd.sh" --card --state "$out/card57.json" -- \
	env GODEBUG=rsa1024min=0 "$out/pivgo.test" --wipe-yubikey -test.v -test.skip '^TestYubiKeyAttestation$' \
	>"$out/pivgo.log" 2>&1
rc=$?
set -e
pass=$(grep -c -- '--- PASS' "$out/pivgo.log" || true)
skip=$(grep -c -- '--- SKIP' "$out/pivgo.log" || true)
failn=$(grep -c -- '--- FAIL' "$out/pivgo.log" || true)
echo "piv-go: $pass passed, $skip skipped, $failn failed (exit $rc; log $out/pivgo.log)"
if [[ $rc != 0 ]]; then
	grep -- '--- FAIL' "$out/pivgo.log" | sed 's/^/  /'
	status=1
fi

echo "== yubico-piv-tool and OpenSC (firmware 5.4.3)"
VIRTUALCARD_BIN=$PIV_STATE_DIR/virtualcard \
	"$here/with-pcscd.sh" --card --version 5.4.3 --state "$out/card54.json" -- "$0" --inner-ykpiv || status=1

echo "== re-plugged from state files: keys and certificates survive a new card process"
replug() { # replug STATE WANT...: status of a card restarted from STATE must contain every WANT
	local name=$1; shift
	local log=$out/replug-$name.log
	set +e
	"$here/with-pcscd.sh" --card --state "$out/$name.json" -- yubico-piv-tool -a status >"$log" 2>&1
	local rc=$?
	set -e
	local serial
	serial=$(sed -n 's/^ *"serial": *\([0-9]*\),*$/\1/p' "$out/$name.json")
	local miss=
	[[ $rc == 0 ]] || miss="exit $rc"
	grep -q "^Serial Number:.$serial\$" "$log" || miss="$miss serial $serial"
	for want in "$@"; do grep -q "$want" "$log" || miss="$miss '$want'"; done
	if [[ -z $miss ]]; then
		echo "  ok   $name"
	else
		echo "  FAIL $name: missing$miss (see $log)"
		status=1
	fi
}
replug card57 "Version:.5.7.1"
replug card54 "Version:.5.4.3" "Subject DN:.CN=conformance 9a" "Subject DN:.CN=conformance 9c"

if [[ $status == 0 ]]; then echo "conformance: PASS"; else echo "conformance: FAIL"; fi
exit $status
