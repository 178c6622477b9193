package trust

import (
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"

	"github.com/theupdateframework/notary/tuf/data"
	"github.com/theupdateframework/notary/tuf/utils"
)

// ErrWrongPassphrase means an encrypted key file did not decrypt.
var ErrWrongPassphrase = errors.New("trust: wrong passphrase: the key file did not decrypt")

// KeyFile is a private key read from a PEM file, ready for the agent.
type KeyFile struct {
	PKCS8 []byte // unencrypted PKCS#8 DER: hand it to the agent, then clear it
	Role  string // the file's "role" header, as docker and notary write it
	GUN   string // the file's "gun" header
}

// ParseKeyFile reads a private key in any PEM form docker and notary write:
// PKCS#8 (encrypted or not) and legacy PKCS#1/SEC 1 with DEK-Info.
// passphrase is called only when the key is encrypted, with the file's
// role header (docker asks for a root key's passphrase by another name).
func ParseKeyFile(pemBytes []byte, passphrase func(role string) ([]byte, error)) (KeyFile, error) {
	block, _ := pem.Decode(pemBytes)
	if block == nil {
		return KeyFile{}, errors.New("trust: no PEM private key in the file")
	}
	kf := KeyFile{Role: block.Headers["role"], GUN: block.Headers["gun"]}
	if _, _, err := utils.ExtractPrivateKeyAttributes(pemBytes); err != nil {
		return KeyFile{}, fmt.Errorf("trust: not a supported private key (%s); to add a signer's public key use `trust-agent signer add`", block.Type)
	}
	var pass []byte
	if block.Type == "ENCRYPTED PRIVATE KEY" || block.Headers["DEK-Info"] != "" {
		var err error
		if pass, err = passphrase(kf.Role); err != nil {
			return KeyFile{}, err
		}
		defer clear(pass)
	}
	key, err := parsePEMPrivateKey(pemBytes, string(pass))
	if err != nil {
		if pass != nil {
			return KeyFile{}, ErrWrongPassphrase
		}
		return KeyFile{}, fmt.Errorf("trust: reading the private key: %w", err)
	}
	signer := key.CryptoSigner()
	if signer == nil {
		return KeyFile{}, fmt.Errorf("trust: %s keys cannot be held by the agent; use ECDSA or RSA", key.Algorithm())
	}
	kf.PKCS8, err = x509.MarshalPKCS8PrivateKey(signer)
	if err != nil {
		return KeyFile{}, fmt.Errorf("trust: %w", err)
	}
	return kf, nil
}

// parsePEMPrivateKey is notary's utils.ParsePEMPrivateKey, made safe for a
// hostile file: notary v0.7.0 panics on an encrypted PKCS#8 key whose
// PBES2 parameters carry an IV shorter than the cipher's block
// (cipher.NewCBCDecrypter: "IV length must equal block size"; found by
// FuzzParseKeyFile, seed encrypted-pkcs8-short-iv), and `key load` must
// say the file is bad rather than crash.
func parsePEMPrivateKey(pemBytes []byte, pass string) (key data.PrivateKey, err error) {
	defer func() {
		if r := recover(); r != nil {
			key, err = nil, fmt.Errorf("malformed key file: %v", r)
		}
	}()
	return utils.ParsePEMPrivateKey(pemBytes, pass)
}
