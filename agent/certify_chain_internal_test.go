package agent

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"strings"
	"testing"
	"time"
)

// TestGivenChainReason: which signing chains need a person's yes before
// they are stored beside a key.
func TestGivenChainReason(t *testing.T) {
	now := time.Now()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	cert := func(issuerKey *ecdsa.PrivateKey, issuer string, notAfter time.Time) []byte {
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "release"},
			NotBefore: now.Add(-time.Hour), NotAfter: notAfter, KeyUsage: x509.KeyUsageDigitalSignature,
			ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageCodeSigning}}
		parent := tmpl
		if issuer != "release" {
			parent = &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: issuer}}
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, key.Public(), issuerKey)
		if err != nil {
			t.Fatal(err)
		}
		return der
	}
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	self := [][]byte{cert(key, "release", now.Add(time.Hour))}
	ca := [][]byte{cert(caKey, "a CA", now.Add(time.Hour))}
	expiredCA := [][]byte{cert(caKey, "a CA", now.Add(-time.Minute))}
	for _, c := range []struct {
		what          string
		stored, given [][]byte
		want          string // a part of the reason; "" asks nobody
	}{
		{"a first self-signed certificate", nil, nil, ""},
		{"the agent renewing its self-signed certificate", self, nil, ""},
		{"a self-signed certificate over an expired CA chain", expiredCA, nil, ""},
		{"the same CA chain again", ca, ca, ""},
		{"a first CA chain", nil, ca, "from the caller"},
		{"a CA chain over a self-signed certificate", self, ca, "from the caller"},
		{"a self-signed certificate over a CA chain", ca, nil, "self-signed certificate would replace"},
	} {
		got := givenChainReason(c.stored, c.given, now)
		if (c.want == "") != (got == "") || !strings.Contains(got, c.want) {
			t.Errorf("%s: reason %q, want %q", c.what, got, c.want)
		}
	}
}
