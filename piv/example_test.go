package piv_test

import (
	"crypto/rand"
	"crypto/sha256"
	"fmt"

	"github.com/trust-agent/trust-agent/agent"
	"github.com/trust-agent/trust-agent/piv"
)

// Example opens the first card, logs in and makes a delegation key on it.
// The card must have been through Setup (`trust-agent piv setup`).
func Example() {
	s, err := piv.Open(piv.Options{OnTouch: func(slot byte) {
		fmt.Printf("Touch your YubiKey (slot %x)\n", slot)
	}})
	if err != nil {
		fmt.Println(err) // wraps agent.ErrDeviceUnavailable without a card
		return
	}
	defer s.Close()
	if err := s.Login([]byte("24681357")); err != nil {
		fmt.Println(err) // *agent.PINError with the tries left
		return
	}
	k, err := s.Generate(agent.KeyMeta{Role: agent.RoleDelegation, Name: "ci"}, agent.AlgorithmECDSA, 0)
	if err != nil {
		fmt.Println(err)
		return
	}
	digest := sha256.Sum256([]byte("canonical JSON"))
	sig, err := k.Sign(rand.Reader, digest[:], nil) // ASN.1 DER
	fmt.Println(k.Location, len(sig) > 0, err)
}
