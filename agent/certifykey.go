package agent

import (
	"bytes"
	"context"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"slices"
	"time"
)

// Signing certificates for format keys. A Notation signature carries an
// X.509 chain whose leaf is the signing key's certificate, with a critical
// keyUsage digitalSignature and the code-signing EKU. CertifyKey makes a
// self-signed one inside the agent, as CertifyRoot does for root keys (the
// key signs a TBSCertificate the agent built itself, never a digest a
// client chose), or stores a chain a CA issued for the key. Either way the
// chain is kept on the hardware beside the key, as certificate objects
// labelled ChainLabel(name, role), and KeyInfo.Chain hands it out.
//
// What the index accepts as a key's chain (signingChain): only
// certificates under that label, and only when the leaf's public key is the
// key's and the leaf is a code-signing leaf. The backend already drops a
// certificate planted beside the key for another public key.

// CertifyKeyRequest asks for a signing certificate for a format key.
type CertifyKeyRequest struct {
	KeyID string `json:"key_id"`
	// Chain is a CA-issued chain to store instead, DER, leaf first; its
	// leaf must be the key's. Empty asks for a self-signed certificate.
	Chain [][]byte `json:"chain,omitempty"`
	// NotAfter ends a self-signed certificate's validity; zero means a
	// year from now.
	NotAfter time.Time `json:"not_after,omitzero"`
	// Renew makes a new self-signed certificate even when one is stored.
	Renew bool `json:"renew,omitempty"`
}

// ChainStorer is a KeyStore that can keep a whole chain (a CA's
// certificates too) beside a key. A KeyStore without it keeps a
// one-certificate chain through StoreCertificate.
type ChainStorer interface {
	StoreChain(id []byte, label string, chain [][]byte) error
}

// ChainLabel is the label a format key's chain is stored under: the key's
// name, a colon, and its role ("release:notation"). Certificates of other
// labels beside the key are not its signing chain.
func ChainLabel(name string, role Role) string { return name + ":" + string(role) }

// maxChainLength bounds a stored chain: leaf, intermediates, root.
const maxChainLength = 5

// maxSigningCertValidity bounds a self-signed signing certificate.
const maxSigningCertValidity = 10 * 365 * 24 * time.Hour

// signingChain returns the chain stored beside key under its label, leaf
// first, or nil when there is none the agent vouches for.
func signingChain(key Key) [][]byte {
	if !key.Meta.Role.ForFormat() {
		return nil
	}
	label := ChainLabel(key.Meta.Name, key.Meta.Role)
	var leaf []byte
	var rest [][]byte
	for _, c := range key.Certs {
		switch {
		case c.GUN == label:
			leaf = c.DER
		case len(c.GUN) == len(label)+2 && c.GUN[:len(label)] == label && c.GUN[len(label)] == '/' && c.GUN[len(label)+1] >= '1' && c.GUN[len(label)+1] < '1'+maxChainLength-1:
			i := int(c.GUN[len(label)+1] - '1')
			for len(rest) <= i {
				rest = append(rest, nil)
			}
			rest[i] = c.DER
		}
	}
	if leaf == nil {
		return nil
	}
	cert, err := x509.ParseCertificate(leaf)
	if err != nil || !publicKeysEqual(key.Public(), cert.PublicKey) || checkSigningLeaf(cert) != nil {
		return nil
	}
	chain := [][]byte{leaf}
	for _, der := range rest {
		if der == nil {
			break
		}
		chain = append(chain, der)
	}
	if verifyChainLinks(chain) != nil {
		return [][]byte{leaf}
	}
	return chain
}

// checkSigningLeaf requires what notation requires of a signing leaf.
func checkSigningLeaf(c *x509.Certificate) error {
	if c.KeyUsage&x509.KeyUsageDigitalSignature == 0 {
		return fmt.Errorf("the leaf certificate's keyUsage lacks digitalSignature")
	}
	code := false
	for _, u := range c.ExtKeyUsage {
		code = code || u == x509.ExtKeyUsageCodeSigning
	}
	if !code {
		return fmt.Errorf("the leaf certificate lacks the code-signing extended key usage")
	}
	if c.IsCA {
		return fmt.Errorf("the leaf certificate is a CA certificate")
	}
	return nil
}

// verifyChainLinks checks that each certificate is signed by the next.
func verifyChainLinks(chain [][]byte) error {
	var certs []*x509.Certificate
	for i, der := range chain {
		c, err := x509.ParseCertificate(der)
		if err != nil {
			return fmt.Errorf("certificate %d of the chain does not parse: %w", i+1, err)
		}
		certs = append(certs, c)
	}
	for i := 0; i+1 < len(certs); i++ {
		if err := certs[i].CheckSignatureFrom(certs[i+1]); err != nil {
			return fmt.Errorf("certificate %d of the chain is not signed by certificate %d: %w", i+1, i+2, err)
		}
	}
	return nil
}

// CertifyKey makes (or stores) the signing certificate chain of a format
// key and returns it, DER, leaf first.
func (k *Keyring) CertifyKey(ctx context.Context, req CertifyKeyRequest) ([][]byte, error) {
	ev := k.event(ctx, "certify-key")
	ev.KeyID = req.KeyID
	chain, role, err := k.certifyKey(req)
	ev.Role = string(role)
	if err := k.record(ev, err); err != nil {
		return nil, err
	}
	return chain, nil
}

func (k *Keyring) certifyKey(req CertifyKeyRequest) ([][]byte, Role, error) {
	e, err := k.lookup(req.KeyID)
	if err != nil {
		return nil, "", err
	}
	role := e.info.Role
	if !role.ForFormat() {
		return nil, role, &DeniedError{Reason: fmt.Sprintf("key %s is a %s key; signing certificates are made for notation and cosign keys (key generate NAME --role notation)", shortID(e.info.ID), role)}
	}
	if e.info.Name == "" {
		return nil, role, &DeniedError{Reason: fmt.Sprintf("key %s has no name to store its certificate under", shortID(e.info.ID))}
	}
	now := k.opts.Now()
	copies := k.copiesOf(e)
	var chain [][]byte
	if len(req.Chain) == 0 && !req.Renew {
		// A valid chain stored beside any copy is the key's (the newest by
		// NotBefore when copies disagree, as when one was renewed through
		// another token; on a tie, the first backend's):
		// handed back as it is, and stored below beside the copies that
		// lack it.
		var newest time.Time
		for _, c := range copies {
			if len(c.info.Chain) == 0 {
				continue
			}
			if leaf, err := x509.ParseCertificate(c.info.Chain[0]); err == nil && !now.Before(leaf.NotBefore) && now.Before(leaf.NotAfter) &&
				(chain == nil || leaf.NotBefore.After(newest)) {
				chain, newest = c.info.Chain, leaf.NotBefore
			}
		}
		if chain != nil && len(k.lackingChain(copies, chain)) == 0 {
			return chain, role, nil
		}
	}
	if len(req.Chain) > 0 {
		if err := checkGivenChain(e, req.Chain, now); err != nil {
			return nil, role, &DeniedError{Reason: err.Error()}
		}
		chain = req.Chain
	}
	if k.storeLocked(e.store) {
		return nil, role, fmt.Errorf("%w: %s needs its PIN; run `trust-agent unlock`", ErrLocked, e.store.Name())
	}
	why := e.everyUse()
	if r := givenChainReason(e.info.Chain, req.Chain, now); r != "" {
		why = append(why, r)
	}
	if len(why) > 0 {
		q := fmt.Sprintf("Store a signing certificate for key %s held here (%s, %s)?\n", shortID(e.info.ID), e.info.Backend, e.info.Name)
		if len(req.Chain) > 0 {
			q += "new: " + describeLeaf(req.Chain[0]) + "\n"
		}
		if len(e.info.Chain) > 0 {
			q += "replacing: " + describeLeaf(e.info.Chain[0]) + "\n"
		}
		if err := k.confirm(why, q); err != nil {
			return nil, role, err
		}
	}
	if chain == nil {
		der, err := signingCertificate(e.key, e.info.Name, now, req.NotAfter)
		if err != nil {
			return nil, role, err
		}
		chain = [][]byte{der}
	}
	k.refreshMu.Lock()
	defer k.refreshMu.Unlock()
	label := ChainLabel(e.info.Name, role)
	// Root custody: every copy of the key keeps the chain, so a signature
	// made with any copy carries it. The copy the request reached must
	// take it; the others are written in the same request, and one that
	// cannot be (locked, unplugged, a backend that keeps no chain) is
	// logged and gets the chain from the next `key certify NAME` that
	// finds it unlocked (the chain is then reused, not made again).
	if !sameChain(e.info.Chain, chain) {
		if err := storeChain(e, label, chain); err != nil {
			return nil, role, fmt.Errorf("agent: storing the signing certificate of key %s: %w", shortID(e.info.ID), err)
		}
	}
	for _, c := range k.lackingChain(copies, chain) {
		if c == e {
			continue
		}
		if err := storeChain(c, label, chain); err != nil {
			k.logf("agent: could not store the signing certificate of key %s on %s: %v", shortID(e.info.ID), c.store.Name(), err)
		}
	}
	k.refreshHeld()
	return chain, role, nil
}

// storeChain stores chain beside c's key under label.
func storeChain(c *entry, label string, chain [][]byte) error {
	if cs, ok := c.store.(ChainStorer); ok {
		return cs.StoreChain(c.key.Handle, label, chain)
	}
	if len(chain) == 1 {
		return c.store.StoreCertificate(c.key.Handle, label, chain[0])
	}
	return fmt.Errorf("%w: backend %s keeps one certificate beside a key, not a chain of %d; store a self-signed certificate (key certify NAME) or keep the key on a PKCS#11 token", ErrInvalidRequest, c.store.Name(), len(chain))
}

// lackingChain are the copies whose backend is unlocked and that do not
// hold chain yet.
func (k *Keyring) lackingChain(copies []*entry, chain [][]byte) []*entry {
	var out []*entry
	for _, c := range copies {
		if !sameChain(c.info.Chain, chain) && !k.storeLocked(c.store) {
			out = append(out, c)
		}
	}
	return out
}

// sameChain reports whether a and b are the same certificates in order.
func sameChain(a, b [][]byte) bool {
	return slices.EqualFunc(a, b, func(x, y []byte) bool { return bytes.Equal(x, y) })
}

// checkGivenChain checks a CA-issued chain before it is stored.
func checkGivenChain(e *entry, chain [][]byte, now time.Time) error {
	if len(chain) > maxChainLength {
		return fmt.Errorf("the chain has %d certificates; the agent stores at most %d", len(chain), maxChainLength)
	}
	leaf, err := x509.ParseCertificate(chain[0])
	if err != nil {
		return fmt.Errorf("the chain's first certificate does not parse: %v", err)
	}
	if !publicKeysEqual(e.key.Public(), leaf.PublicKey) {
		return fmt.Errorf("the chain's leaf certificate is for another key than %s; put the leaf first", shortID(e.info.ID))
	}
	if err := checkSigningLeaf(leaf); err != nil {
		return err
	}
	if now.After(leaf.NotAfter) {
		return fmt.Errorf("the leaf certificate expired on %s", leaf.NotAfter.UTC().Format(time.DateOnly))
	}
	return verifyChainLinks(chain)
}

// signingCertificate self-signs a code-signing certificate for key.
func signingCertificate(key Key, name string, now, notAfter time.Time) ([]byte, error) {
	notBefore := now.Add(-time.Minute).Truncate(time.Second)
	if notAfter.IsZero() {
		notAfter = now.Add(365 * 24 * time.Hour)
	}
	if !notAfter.After(now) || notAfter.Sub(notBefore) > maxSigningCertValidity {
		return nil, &DeniedError{Reason: fmt.Sprintf("a signing certificate valid until %s is not allowed (at most ten years)", notAfter.UTC().Format(time.DateOnly))}
	}
	der, err := selfSignedCodeSigning(key, pkix.Name{CommonName: name, Organization: []string{"trust-agent"}}, notBefore, notAfter)
	if err != nil {
		return nil, fmt.Errorf("agent: self-signing the certificate of %s: %w", name, err)
	}
	return der, nil
}

// givenChainReason says why storing given (a chain from the caller; nil
// when the agent makes a self-signed certificate) over stored needs a
// person's yes, or "". The chain a key's signatures carry decides who can
// verify them, and `key certify` hands a stored chain out as the key's
// (people put its last certificate in their trust store): a chain a
// process of the user brings, a stranger's CA's for the key's public key,
// would be trusted from then on. So every given chain asks, unless it is
// the one stored already; and a self-signed certificate over a CA's chain
// asks too (signatures then verify only for who trusts the new one). The
// agent making or renewing its own self-signed certificate asks nobody.
func givenChainReason(stored, given [][]byte, now time.Time) string {
	if given != nil {
		if sameChain(stored, given) {
			return ""
		}
		return fmt.Sprintf("a certificate chain from the caller (%s) would become the key's signing chain", describeLeaf(given[0]))
	}
	if len(stored) == 0 {
		return ""
	}
	old, err := x509.ParseCertificate(stored[0])
	if err != nil || now.After(old.NotAfter) {
		return ""
	}
	if bytes.Equal(old.RawIssuer, old.RawSubject) && old.CheckSignature(old.SignatureAlgorithm, old.RawTBSCertificate, old.Signature) == nil {
		return ""
	}
	return fmt.Sprintf("a self-signed certificate would replace the key's chain (%s), and signatures made after it verify only for who trusts the new one", describeLeaf(stored[0]))
}

// describeLeaf names a certificate for a question: subject, issuer, expiry.
func describeLeaf(der []byte) string {
	c, err := x509.ParseCertificate(der)
	if err != nil {
		return "unreadable certificate"
	}
	return fmt.Sprintf("%q issued by %q, until %s", c.Subject.CommonName, c.Issuer.CommonName, c.NotAfter.UTC().Format("2006-01-02"))
}
