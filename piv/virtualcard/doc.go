// Package virtualcard is a virtual YubiKey: a PIV card application in Go
// that plugs into pcscd through vsmartcard's vpcd reader driver, so tests
// run the real chain piv-go → libpcsclite → pcscd → vpcd → this card.
//
// # What
//
// Card answers command APDUs as a YubiKey 5 (firmware 5.7.1 by default,
// older versions on request) does, after NIST SP 800-73-4 and Yubico's
// PIV extensions:
//
//   - SELECT of the PIV applet (by AID prefix), and of Yubico's OTP and
//     management applets for the serial (firmware < 5) and form factor;
//   - GET VERSION, GET SERIAL, GET METADATA (slots, PIN, PUK, management
//     key), VERIFY (retries, 63Cx, 6983, empty VERIFY for status),
//     CHANGE REFERENCE DATA, RESET RETRY COUNTER, SET PIN RETRIES, RESET;
//   - management-key authentication (3DES, AES-128/192/256; the default
//     key is AES-192 from 5.7 on, 3DES before) and SET MANAGEMENT KEY;
//   - GENERATE and IMPORT for RSA-1024/2048/3072/4096, P-256, P-384,
//     Ed25519 and X25519, with PIN policy never/once/always and touch
//     policy never/always/cached; GENERAL AUTHENTICATE for signing, RSA
//     decryption and ECDH;
//   - GET and PUT DATA (certificates, the PIN-protected printed
//     information object 5FC109, the discovery object);
//   - ATTEST, with the card's f9 certificate signed by a fixture CA;
//   - command chaining in, 61xx and GET RESPONSE out, minimal DER lengths.
//
// Card.Connect plugs a card into vpcd (a TCP client of vpcd's port) and
// serves it from a goroutine; Link.Remove and Link.Insert unplug and
// replug it. Command virtualcard runs one as a process, and package
// pivtest wraps all of it for Go tests.
//
// # Why
//
// There is no YubiKey on the machines this project builds on, and a mock
// of piv-go would test our guesses about a card instead of the card. This
// card is judged by clients nobody here wrote: piv-go's own test suite
// and yubico-piv-tool (piv/scripts/conformance.sh).
//
// # Behaviour worth knowing
//
// The session (PIN verified, management key authenticated) ends at any
// SELECT and at power-off, reset or removal, so every piv.Open starts
// unauthenticated. PIN policy "always" accepts only a VERIFY that is the
// command immediately before the operation. A touch is given at once
// unless Options.Touch refuses it (then 6982); Card.Touches counts the
// touches asked for. A cached touch lasts 15 seconds. Choices a real
// YubiKey may make differently, written down so nobody relies on them:
// GENERAL AUTHENTICATE on an empty slot answers 6A80, not "not found";
// a refused touch answers 6982; the biometric PIN policies are refused.
//
// # Attestation
//
// Every card's f9 certificate is signed by one fixture CA whose Ed25519
// key comes from a fixed seed, so AttestationCA is byte for byte the same
// in every process: a test verifies a card running in another process
// with piv.Verifier{Roots: AttestationRoots()}, and piv.Verify, which
// trusts only Yubico's roots, rejects it.
//
// # State
//
// Keys, PIN, PUK, management key and objects live in memory, or in a JSON
// file (Options.StatePath) rewritten atomically after every change, so a
// card process can be stopped and started again with the same keys. The
// firmware version and serial are kept there too.
//
// # Concurrency
//
// Card's methods are safe for concurrent use; APDUs are handled one at a
// time, as a card does. vpcd serves one card per port: ClaimAddr keeps
// two cards in different processes from plugging into the same reader.
// After a removal, wait ReinsertDelay before plugging a card into the
// same reader again (Link.Insert does): pcscd 1.9.9 misses a card that
// reconnects between two of its polls.
//
// # Security
//
// This is a test fixture. The CA key is public by construction, RSA uses
// math/big (not constant time), and the state file holds private keys in
// the clear (it is written 0600). Nothing here may guard a real secret.
package virtualcard
