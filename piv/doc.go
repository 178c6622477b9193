// Package piv is trust-agent's PIV backend: a YubiKey (or any card
// piv-go can drive) as an agent.KeyStore whose keys are crypto.Signers.
//
// # What
//
// Open(Options{Serial: N}) finds the card with serial N (zero: the first
// card). Name is "piv:serial=N", Kind "piv". Keys are EC P-256 (or P-384), made on
// the card: the root key in slot 9c, other keys in the first free retired
// slot 82–95, then 9a and 9d (never 9e, whose key needs no PIN by
// design). A slot never holding a certificate or key is free; trust-agent
// never overwrites one.
//
// A key's metadata lives in its slot's certificate: Generate stores a
// self-signed certificate, signed by the new key on the card, whose
// subject CN is agent.KeyMeta.Label() ("dct:ROLE:NAME:GUN"). Keys reads the
// certificates (no PIN) and lists the slots whose CN parses with
// agent.ParseLabel and (firmware 5.3+) whose key matches the certificate.
// Location is "piv:serial=N;slot=9c", Handle the slot's key reference.
//
// Root certificates (StoreCertificate): PIV has one certificate object
// per slot and 9c's holds the metadata, so a root certificate per
// repository goes into the certificate object of a free retired slot,
// with no key there; Keys attaches to the root key every such certificate
// with its public key (CN = repository). They share the 20 retired slots
// with repository keys. Storing them (rather than certifying afresh each
// time) matters: notary names a root key by its certificate's ID.
//
// # Management key, PIN, touch
//
// Setup (`trust-agent piv setup`) replaces the factory management key
// with a random one kept in the card's PIN-protected data object and
// changes PIN and PUK, as yubikey-agent does; Generate reads the
// management key with the PIN. Setup changes the PUK first, so a wrong
// PUK (*PUKError, not a PIN error) leaves the card untouched, and it
// finishes a card an earlier Setup left with its PIN or PUK at the
// factory default. The agent never tries a default PIN or
// management key; Generate on a card not set up fails and says so.
//
// Login verifies the PIN with the card and keeps it in memory: the card is
// opened per operation and forgets a verification when closed, so each
// signature verifies again as the slot's PIN policy asks (once: if the
// card says it is needed; always: before every signature). A wrong PIN is
// *agent.PINError with the tries left; blocked is Retries 0. A PIN the
// card rejects after Login (changed with ykman, say) locks the Store,
// whichever operation tried it, so it costs one try, not all. Logout
// clears the PIN's bytes (piv-go takes the PIN as a string, copies we
// cannot wipe). New keys get Options.PINPolicy (default once) and
// TouchPolicy (default never) or, for root, RootTouchPolicy (default
// always). Options.OnTouch is called when a signature on a touch-enabled
// slot has run for TouchNoticeDelay, so the CLI can say "Touch your
// YubiKey".
//
// Import is refused unless Options.AllowImport: an imported key existed
// outside hardware and the card cannot attest it. Attest and
// VerifyAttestation prove a key was made on the card. The Store is an
// agent.Attester: AttestationChain gives the agent the two certificates
// (the slot's attestation, then the card's f9 certificate that signed it,
// which the maker's CA signs), and VerifyAttestationChain checks them, as
// the CLI does for `key list --attest` and `signer add
// --require-attestation`.
//
// # Concurrency and unplugging
//
// All methods are safe for concurrent use. piv-go opens a card
// exclusively and holds a transaction until Close, so the Store opens the
// card for one operation and closes it again, serialised by a mutex:
// ykman and yubico-piv-tool keep working between operations (and while
// they hold the card, operations fail with agent.ErrDeviceUnavailable).
// The card is found again by serial each time, so it may be unplugged and
// plugged back in (into any reader): meanwhile operations fail with
// errors wrapping agent.ErrDeviceUnavailable; afterwards they work again,
// PIN included (the Store still holds it).
//
// Built without cgo (piv-go needs libpcsclite), Open fails saying so.
package piv
