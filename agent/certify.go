package agent

// What the agent certifies about a key: CertifyRoot (the root certificate
// made inside the agent) and Attest (the hardware's proof, passed on).

import (
	"context"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"math/big"
	"time"
)

// MaxRootCertificates bounds the repositories one root key holds a
// certificate for: each is an object written to the token, and a client
// must not fill the token with certificates for made-up repositories.
const MaxRootCertificates = 100

// maxGUNBytes is the longest repository name ValidGUN accepts, checked
// first so an error never repeats a longer one.
const maxGUNBytes = 255

// minRootReuse is how long a stored root certificate must stay valid to be
// handed out again rather than replaced.
const minRootReuse = 365 * 24 * time.Hour

// CertifyRoot returns the root certificate for req.GUN, making and storing
// it beside the key when there is none still valid.
func (k *Keyring) CertifyRoot(ctx context.Context, req CertifyRequest) ([]byte, error) {
	ev := k.event(ctx, "certify-root")
	ev.KeyID, ev.Role, ev.GUN = req.KeyID, string(RoleRoot), req.GUN
	der, err := k.certifyRoot(req)
	if err := k.record(ev, err); err != nil {
		return nil, err
	}
	return der, nil
}

func (k *Keyring) certifyRoot(req CertifyRequest) ([]byte, error) {
	e, err := k.lookup(req.KeyID)
	if err != nil {
		return nil, err
	}
	if e.info.Role != RoleRoot {
		return nil, &DeniedError{Reason: fmt.Sprintf("key %s is a %s key, not a root key", shortID(e.info.ID), e.info.Role)}
	}
	if len(req.GUN) > maxGUNBytes {
		return nil, &DeniedError{Reason: fmt.Sprintf("a repository name has at most %d bytes, this one %d", maxGUNBytes, len(req.GUN))}
	}
	if !ValidGUN(req.GUN) {
		return nil, &DeniedError{Reason: fmt.Sprintf("%q is not a repository name", req.GUN)}
	}
	now := k.opts.Now()
	for _, c := range k.certsOfAllCopies(e) { // only certificates rootCerts vouched for
		if c.GUN != req.GUN {
			continue
		}
		// Reuse keeps the root key's ID stable for a repository; but not a
		// certificate about to expire, which would break the repository
		// soon after (notary warns within six months).
		if cert, err := x509.ParseCertificate(c.DER); err == nil && !now.Before(cert.NotBefore) && now.Add(minRootReuse).Before(cert.NotAfter) {
			return c.DER, nil
		}
	}
	if k.storeLocked(e.store) {
		return nil, fmt.Errorf("%w: %s needs its PIN; run `trust-agent unlock`", ErrLocked, e.store.Name())
	}
	if why := e.everyUse(); len(why) > 0 {
		q := fmt.Sprintf("Make a root certificate for %s with key %s held here (%s, %s)?\n", req.GUN, shortID(e.info.ID), e.info.Backend, e.info.Name)
		if err := k.confirm(why, q); err != nil {
			return nil, err
		}
	}
	// refreshMu makes counting and storing one step: two requests for
	// new repositories cannot both take the last place.
	k.refreshMu.Lock()
	defer k.refreshMu.Unlock()
	k.mu.RLock()
	if cur, ok := k.entries[e.info.ID]; ok {
		e = cur
	}
	k.mu.RUnlock()
	guns := map[string]bool{}
	for _, c := range e.info.Certs {
		guns[c.GUN] = true
	}
	if !guns[req.GUN] && len(guns) >= MaxRootCertificates {
		return nil, &DeniedError{Reason: fmt.Sprintf("root key %s already holds certificates for %d repositories, the limit per root key (each is an object on the token); certify %s with another root key (`trust-agent key generate NAME --role root`), or delete from the token the certificates of repositories this key no longer serves",
			shortID(e.info.ID), len(guns), req.GUN)}
	}
	der, err := rootCertificate(e.key, req.GUN, req.NotBefore, req.NotAfter, now)
	if err != nil {
		return nil, err
	}
	if err := e.store.StoreCertificate(e.key.Handle, req.GUN, der); err != nil {
		return nil, fmt.Errorf("agent: storing the root certificate for %s: %w", req.GUN, err)
	}
	// Every other copy of the key (root custody) keeps the certificate
	// too, so the repository's root.json names a key ID each copy knows.
	// Best effort: a copy that is locked or gone gets it when certified
	// again through it.
	for _, c := range k.copiesOf(e) {
		if c != e && !k.storeLocked(c.store) {
			if err := c.store.StoreCertificate(c.key.Handle, req.GUN, der); err != nil {
				k.logf("agent: could not store the root certificate for %s on %s: %v", req.GUN, c.store.Name(), err)
			}
		}
	}
	k.refreshHeld()
	return der, nil
}

// Attest returns the attestation chain of a key whose backend is an
// Attester. It needs no PIN, so it works while the agent is locked.
func (k *Keyring) Attest(ctx context.Context, req AttestRequest) ([][]byte, error) {
	ev := k.event(ctx, "attest")
	ev.KeyID = req.KeyID
	chain, err := k.attest(req, &ev)
	if err := k.record(ev, err); err != nil {
		return nil, err
	}
	return chain, nil
}

func (k *Keyring) attest(req AttestRequest, ev *Event) ([][]byte, error) {
	e, err := k.lookup(req.KeyID)
	if err != nil {
		return nil, err
	}
	ev.Role = string(e.info.Role)
	at, ok := e.store.(Attester)
	if !ok {
		return nil, fmt.Errorf("%w: keys on %s cannot be attested; only keys generated on a PIV card have an attestation", ErrInvalidRequest, e.store.Name())
	}
	chain, err := at.AttestationChain(e.key.Handle)
	if err != nil {
		return nil, err
	}
	if len(chain) == 0 {
		return nil, fmt.Errorf("agent: %s returned an empty attestation chain for key %s", e.store.Name(), shortID(e.info.ID))
	}
	return chain, nil
}

// maxRootValidity caps what a client may ask for; notary uses 10 years.
const maxRootValidity = 20 * 365 * 24 * time.Hour

// rootCertificate makes the self-signed certificate notary expects for a
// root key: the template of notary's utils.NewCertificate (CN = repository,
// digital signature, code signing), signed by the key itself.
func rootCertificate(key Key, gun string, notBefore, notAfter, now time.Time) ([]byte, error) {
	if notBefore.IsZero() {
		notBefore = now
	}
	if notAfter.IsZero() {
		notAfter = notBefore.Add(10 * 365 * 24 * time.Hour)
	}
	if !notAfter.After(notBefore) || notAfter.Sub(notBefore) > maxRootValidity {
		return nil, &DeniedError{Reason: fmt.Sprintf("root certificate validity %s to %s is not allowed", notBefore.Format(time.DateOnly), notAfter.Format(time.DateOnly))}
	}
	der, err := selfSignedCodeSigning(key, pkix.Name{CommonName: gun}, notBefore, notAfter)
	if err != nil {
		return nil, fmt.Errorf("agent: self-signing the root certificate for %s: %w", gun, err)
	}
	return der, nil
}

// selfSignedCodeSigning has key sign a code-signing certificate of its own
// (digital signature, which Go marks critical; the code-signing EKU; a
// random 128-bit serial): notary's root certificates and notation's
// signing certificates alike.
func selfSignedCodeSigning(key Key, subject pkix.Name, notBefore, notAfter time.Time) ([]byte, error) {
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
	if err != nil {
		return nil, fmt.Errorf("serial number: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               subject,
		NotBefore:             notBefore,
		NotAfter:              notAfter,
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageCodeSigning},
		BasicConstraintsValid: true,
	}
	return x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key.Signer)
}
