// Package pivtest gives tests a virtual YubiKey that piv-go can open:
// Card(t) starts a virtualcard.Card in-process, plugs it into a vpcd
// reader of the running pcscd, and returns once piv.Open works on it.
//
// # Environment
//
// A pcscd with vsmartcard's vpcd driver must run where the test runs;
// piv/scripts/with-pcscd.sh starts a private one and runs a command
// inside its namespace (go test included). When pcscd or vpcd cannot be
// reached the test is skipped, unless CI is set (CI=true, as CI systems
// do): then it fails, so a broken fixture cannot pass as green.
//
// PIVTEST_VPCD_ADDR lists vpcd addresses to try, comma-separated
// (default 127.0.0.1:35963,127.0.0.1:35964: the two readers one vpcd
// entry makes). with-pcscd.sh --card sets it to the reader its own card
// process leaves free. PIVTEST_READER overrides the PC/SC reader name
// matched to the address.
//
// # Concurrency
//
// Each fixture claims its vpcd address (virtualcard.ClaimAddr), so test
// binaries running in parallel use different readers; a test that finds
// every reader claimed skips (or fails under CI). A released reader is
// kept for virtualcard.ReinsertDelay first, clear of pcscd's reconnect
// race. piv.Open is exclusive: close a YubiKey from Open before the code
// under test opens the card.
//
// # Build
//
// piv-go needs cgo (libpcsclite). Without cgo, Card skips (or fails
// under CI) and Open does not exist.
package pivtest
