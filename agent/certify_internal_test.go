package agent

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"testing"
	"time"
)

// TestSigningChainIndex: what the index hands out as a format key's chain
// is only a code-signing leaf for the key under NAME:ROLE, plus CA links
// under NAME:ROLE/N whose signatures check; nothing else beside the key.
func TestSigningChainIndex(t *testing.T) {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ca, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	other, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "ca"}, IsCA: true, BasicConstraintsValid: true,
		NotBefore: time.Now(), NotAfter: time.Now().Add(time.Hour), KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, ca.Public(), ca)
	if err != nil {
		t.Fatal(err)
	}
	caCert, _ := x509.ParseCertificate(caDER)
	leaf := func(pub crypto.PublicKey, eku bool, parent *x509.Certificate, signer crypto.Signer) []byte {
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "release"},
			NotBefore: time.Now(), NotAfter: time.Now().Add(time.Hour), KeyUsage: x509.KeyUsageDigitalSignature, BasicConstraintsValid: true}
		if eku {
			tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageCodeSigning}
		}
		if parent == nil {
			parent = tmpl
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, pub, signer)
		if err != nil {
			t.Fatal(err)
		}
		return der
	}
	meta := KeyMeta{Role: RoleNotation, Name: "release"}
	good := leaf(key.Public(), true, caCert, ca)
	cases := []struct {
		name  string
		meta  KeyMeta
		certs []Cert
		want  int // certificates in the chain handed out
	}{
		{"leaf and CA", meta, []Cert{{"release:notation", good}, {"release:notation/1", caDER}}, 2},
		{"self-signed", meta, []Cert{{"release:notation", leaf(key.Public(), true, nil, key)}}, 1},
		{"another key's leaf", meta, []Cert{{"release:notation", leaf(other.Public(), true, nil, other)}}, 0},
		{"no code-signing EKU", meta, []Cert{{"release:notation", leaf(key.Public(), false, nil, key)}}, 0},
		{"under another label", meta, []Cert{{"other:notation", good}}, 0},
		{"a CA link that did not sign the leaf", meta, []Cert{{"release:notation", leaf(key.Public(), true, nil, key)}, {"release:notation/1", caDER}}, 1},
		{"a DCT key", KeyMeta{Role: RoleRoot, Name: "release"}, []Cert{{"release:root", good}}, 0},
	}
	for _, c := range cases {
		got := signingChain(Key{Signer: key, Meta: c.meta, Certs: c.certs})
		if len(got) != c.want {
			t.Errorf("%s: a chain of %d, want %d", c.name, len(got), c.want)
		}
	}
}
