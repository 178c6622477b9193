//go:build cgo

package pkcs11_test

import (
	"crypto"
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"log"

	"github.com/trust-agent/trust-agent/agent"
	"github.com/trust-agent/trust-agent/pkcs11"
)

// Opening a token, making a key and signing with it. (Not run: it needs a
// token; the tests do the same against SoftHSM.)
func ExampleOpen() {
	s, err := pkcs11.Open("pkcs11:token=dct?module-path=/usr/lib/softhsm/libsofthsm2.so&pin-source=file:/run/user/1000/dct-pin")
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()
	k, err := s.Generate(agent.KeyMeta{Role: agent.RoleTargets, Name: "alpine", GUN: "docker.io/library/alpine"}, agent.AlgorithmECDSA, 0)
	if err != nil {
		log.Fatal(err)
	}
	digest := sha256.Sum256([]byte("signed metadata"))
	sig, err := k.Sign(rand.Reader, digest[:], crypto.SHA256) // ASN.1 DER
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(k.Location, len(sig) > 0)
}
