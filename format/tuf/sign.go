package tuf

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/asn1"
	"fmt"
	"math/big"
)

// TUF signature methods, as notary names them.
const (
	methodECDSA  = "ecdsa"
	methodRSAPSS = "rsapss"
)

// signTUF signs msg in TUF's format: ECDSA as raw r||s at the curve's fixed
// width over SHA-256(msg); RSA as PSS with SHA-256 and a salt as long as the
// hash, which is what notary verifies. The signer's own errors come back
// as they are: the agent wraps them with the key's location.
func signTUF(key crypto.Signer, msg []byte) ([]byte, string, error) {
	digest := sha256.Sum256(msg)
	return signTUFDigest(key, digest[:])
}

// signTUFDigest is signTUF given SHA-256(msg).
func signTUFDigest(key crypto.Signer, digest []byte) ([]byte, string, error) {
	switch pub := key.Public().(type) {
	case *ecdsa.PublicKey:
		der, err := key.Sign(rand.Reader, digest, crypto.SHA256)
		if err != nil {
			return nil, "", err
		}
		raw, err := derToRaw(der, (pub.Curve.Params().BitSize+7)/8)
		if err != nil {
			return nil, "", fmt.Errorf("tuf: the key's signature: %w", err)
		}
		return raw, methodECDSA, nil
	case *rsa.PublicKey:
		opts := &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash, Hash: crypto.SHA256}
		sig, err := key.Sign(rand.Reader, digest, opts)
		if err != nil {
			return nil, "", err
		}
		return sig, methodRSAPSS, nil
	default:
		return nil, "", fmt.Errorf("tuf: unsupported key type %T; TUF keys are ECDSA or RSA", pub)
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
