package notation_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"strings"
	"testing"

	"github.com/trust-agent/trust-agent/agent"
	"github.com/trust-agent/trust-agent/format/notation"
)

// FuzzCheck: Check never panics, and what it accepts names a sha256/384/512
// digest and says which envelope it was. Its seeds run in every go test.
func FuzzCheck(f *testing.F) {
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	f.Add(jwsInput(goodHeader(), payload(nil)))
	f.Add(coseInput(&testing.T{}, map[any]any{1: -7, 3: notation.MediaTypePayload, "io.cncf.notary.signingScheme": "notary.x509", "io.cncf.notary.signingTime": now}, payload(nil), "Signature1"))
	f.Add([]byte("."))
	f.Add([]byte{0x84, 0x6a})
	f.Fuzz(func(t *testing.T, in []byte) {
		key := keyInfo(t, ec, "")
		d, err := (notation.Policy{}).Check(agent.PolicyRequest{Key: key, Payload: in, Now: now})
		facts := d.Facts
		if err != nil {
			return
		}
		if !strings.HasPrefix(facts["digest"], "sha") || (facts["envelope"] != "jws" && facts["envelope"] != "cose") {
			t.Fatalf("accepted %q with facts %v", in, facts)
		}
	})
}
