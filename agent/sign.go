package agent

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"fmt"
	"math/big"
	"time"
)

// TUF signature methods, as notary names them.
const (
	methodECDSA  = "ecdsa"
	methodRSAPSS = "rsapss"
)

// signTUF signs msg in TUF's format: ECDSA as raw r||s at the curve's fixed
// width over SHA-256(msg); RSA as PSS with SHA-256 and a salt as long as the
// hash, which is what notary verifies.
func signTUF(key Key, msg []byte) ([]byte, string, error) {
	digest := sha256.Sum256(msg)
	switch pub := key.Public().(type) {
	case *ecdsa.PublicKey:
		der, err := key.Sign(rand.Reader, digest[:], crypto.SHA256)
		if err != nil {
			return nil, "", fmt.Errorf("agent: signing with %s: %w", key.Location, err)
		}
		raw, err := derToRaw(der, (pub.Curve.Params().BitSize+7)/8)
		if err != nil {
			return nil, "", fmt.Errorf("agent: signature from %s: %w", key.Location, err)
		}
		return raw, methodECDSA, nil
	case *rsa.PublicKey:
		opts := &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash, Hash: crypto.SHA256}
		sig, err := key.Sign(rand.Reader, digest[:], opts)
		if err != nil {
			return nil, "", fmt.Errorf("agent: signing with %s: %w", key.Location, err)
		}
		return sig, methodRSAPSS, nil
	default:
		return nil, "", fmt.Errorf("agent: unsupported key type %T at %s", pub, key.Location)
	}
}

// derToRaw turns an ASN.1 ECDSA signature into r||s, each left-padded to size.
func derToRaw(der []byte, size int) ([]byte, error) {
	var sig struct{ R, S *big.Int }
	rest, err := asn1.Unmarshal(der, &sig)
	if err != nil || len(rest) != 0 || sig.R == nil || sig.S == nil {
		return nil, fmt.Errorf("malformed ECDSA signature")
	}
	if sig.R.Sign() <= 0 || sig.S.Sign() <= 0 || len(sig.R.Bytes()) > size || len(sig.S.Bytes()) > size {
		return nil, fmt.Errorf("ECDSA signature out of range")
	}
	raw := make([]byte, 2*size)
	sig.R.FillBytes(raw[:size])
	sig.S.FillBytes(raw[size:])
	return raw, nil
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
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
	if err != nil {
		return nil, fmt.Errorf("agent: serial number: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: gun},
		NotBefore:             notBefore,
		NotAfter:              notAfter,
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageCodeSigning},
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key.Signer)
	if err != nil {
		return nil, fmt.Errorf("agent: self-signing the root certificate for %s: %w", gun, err)
	}
	return der, nil
}
