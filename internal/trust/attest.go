package trust

import (
	"bytes"
	"crypto"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"strings"

	"github.com/theupdateframework/notary/tuf/data"
	"github.com/theupdateframework/notary/tuf/utils"
	"github.com/trust-agent/trust-agent/internal/smallfile"
)

// Attestation files. `trust-agent key generate` on a PIV card writes the
// key's attestation chain to NAME.attest.pem beside NAME.pub: PEM
// CERTIFICATE blocks, leaf first (the certificate the card made for the
// key's slot, then the card's own attestation certificate, which the
// card's maker signs). A signer hands both files to the repository admin;
// `signer add --require-attestation` adds a key only when its chain
// verifies and certifies exactly that key. This package does not know how
// to verify a chain (that needs the PIV backend and the maker's roots): the
// caller passes an AttestationVerifier, so internal/trust stays free of
// hardware code.

// maxAttestationFileBytes caps an attestation file, which comes from a
// signer: a YubiKey's two certificates are under 2 KB of PEM together, so
// 64 KiB is generous and still refuses a file that is something else.
const maxAttestationFileBytes = 64 << 10

// AttestationVerifier checks an attestation chain (DER certificates, leaf
// first) against the roots the caller trusts. It returns the public key
// the chain attests and a short description of where that key was made
// ("PIV card serial 123, slot 82, pin once, touch never"). The caller of
// the verifier compares the key; the verifier need not know which key was
// meant.
type AttestationVerifier func(chain [][]byte) (attested crypto.PublicKey, about string, err error)

// AttestationPath is where the attestation of the public key file pub is
// kept: NAME.attest.pem beside NAME.pub (a file not ending in .pub gets
// .attest.pem appended).
func AttestationPath(pub string) string {
	return strings.TrimSuffix(pub, ".pub") + ".attest.pem"
}

// EncodeAttestation is chain as PEM CERTIFICATE blocks, in order.
func EncodeAttestation(chain [][]byte) []byte {
	var b bytes.Buffer
	for _, der := range chain {
		_ = pem.Encode(&b, &pem.Block{Type: "CERTIFICATE", Bytes: der})
	}
	return b.Bytes()
}

// DecodeAttestation reads the chain EncodeAttestation writes. Anything but
// CERTIFICATE blocks (and whitespace between them) is an error.
func DecodeAttestation(b []byte) ([][]byte, error) {
	var chain [][]byte
	rest := b
	for {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			return nil, fmt.Errorf("a %s block where only CERTIFICATE blocks belong", block.Type)
		}
		chain = append(chain, block.Bytes)
	}
	if len(bytes.TrimSpace(rest)) != 0 {
		return nil, errors.New("text that is not a PEM certificate")
	}
	if len(chain) == 0 {
		return nil, errors.New("no PEM certificate in the file")
	}
	return chain, nil
}

// readAttestationFile reads and decodes an attestation file, at most
// maxAttestationFileBytes of it.
func readAttestationFile(path string) ([][]byte, error) {
	b, err := smallfile.Read(path, maxAttestationFileBytes, "not an attestation chain")
	if err != nil {
		return nil, err
	}
	return DecodeAttestation(b)
}

// checkAttestations checks every key file's attestation before anything
// is published, and says which ones verified.
func checkAttestations(out io.Writer, keyFiles []string, keys []data.PublicKey, verify AttestationVerifier) error {
	for i, path := range keyFiles {
		about, err := checkAttestation(path, keys[i], verify)
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "Attestation verified: %s: %s\n", path, about)
	}
	return nil
}

// checkAttestation checks that the attestation beside pubPath verifies and
// attests exactly key, the key read from pubPath.
func checkAttestation(pubPath string, key data.PublicKey, verify AttestationVerifier) (string, error) {
	const flag = "--require-attestation"
	attPath := AttestationPath(pubPath)
	chain, err := readAttestationFile(attPath)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return "", &Error{
			Msg:  fmt.Sprintf("%s: %s has no attestation: %s not found", flag, pubPath, attPath),
			Hint: "a key generated on a YubiKey with `trust-agent key generate` comes with NAME.attest.pem beside NAME.pub: ask the signer for both files; a key made elsewhere cannot be attested (leave out " + flag + " to add it anyway)",
			Err:  err,
		}
	case err != nil:
		return "", &Error{
			Msg:  fmt.Sprintf("%s: %s: %v", flag, attPath, err),
			Hint: "an attestation file holds the PEM certificates `trust-agent key generate` wrote; ask the signer for it again",
			Err:  err,
		}
	}
	want, err := cryptoPublicKey(key)
	if err != nil {
		return "", &Error{Msg: fmt.Sprintf("%s: %s: %v", flag, pubPath, err), Err: err}
	}
	attested, about, err := verify(chain)
	if err != nil {
		return "", &Error{
			Msg:  fmt.Sprintf("%s: %s (%s): %v", flag, pubPath, attPath, err),
			Hint: "a YubiKey's attestation verifies against Yubico's roots, the default; for other roots pass --attestation-roots FILE",
			Err:  err,
		}
	}
	eq, ok := attested.(interface{ Equal(crypto.PublicKey) bool })
	if !ok || !eq.Equal(want) {
		return "", &Error{
			Msg:  fmt.Sprintf("%s: %s attests another key than the one in %s", flag, attPath, pubPath),
			Hint: "an attestation belongs with the .pub file the same `trust-agent key generate` wrote: ask the signer for the pair",
		}
	}
	return about, nil
}

// cryptoPublicKey is k as a crypto.PublicKey, whether the file held a bare
// public key or a certificate.
func cryptoPublicKey(k data.PublicKey) (crypto.PublicKey, error) {
	switch k.Algorithm() {
	case data.ECDSAx509Key, data.RSAx509Key:
		cert, err := utils.LoadCertFromPEM(k.Public())
		if err != nil {
			return nil, err
		}
		return cert.PublicKey, nil
	case data.ECDSAKey, data.RSAKey:
		return x509.ParsePKIXPublicKey(k.Public())
	}
	return nil, fmt.Errorf("a %s key cannot be attested", k.Algorithm())
}
