package agent

import (
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"fmt"
)

// keyID computes notary's canonical key ID: the hex SHA-256 of the
// canonical JSON {"keytype":T,"keyval":{"private":null,"public":B64}}.
// The JSON is written by hand because it is fixed and tiny, and because the
// agent must not import notary.
func keyID(keytype string, public []byte) string {
	doc := `{"keytype":"` + keytype + `","keyval":{"private":null,"public":"` +
		base64.StdEncoding.EncodeToString(public) + `"}}`
	sum := sha256.Sum256([]byte(doc))
	return hex.EncodeToString(sum[:])
}

// publicKeyID is the canonical ID of a bare public key (PKIX DER).
func publicKeyID(pub any) (id, algorithm string, der []byte, err error) {
	der, err = x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return "", "", nil, fmt.Errorf("agent: encoding public key: %w", err)
	}
	switch pub.(type) {
	case *ecdsa.PublicKey:
		algorithm = AlgorithmECDSA
	case *rsa.PublicKey:
		algorithm = AlgorithmRSA
	default:
		return "", "", nil, fmt.Errorf("agent: unsupported public key type %T", pub)
	}
	return keyID(algorithm, der), algorithm, der, nil
}

// certKeyID is the ID notary gives a root key in root.json, where it appears
// as a PEM certificate ("ecdsa-x509"/"rsa-x509"); it differs per repository.
func certKeyID(algorithm string, certDER []byte) string {
	p := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: certDER})
	return keyID(algorithm+"-x509", p)
}
