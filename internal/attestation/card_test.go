package attestation

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	pivgo "github.com/go-piv/piv-go/v2/piv"

	"github.com/trust-agent/trust-agent/agent"
	"github.com/trust-agent/trust-agent/internal/trust"
	"github.com/trust-agent/trust-agent/piv"
	"github.com/trust-agent/trust-agent/piv/pivtest"
)

// TestOnTheVirtualCard runs the flow on a key the virtual YubiKey made,
// through a real keyring: Check verifies it against the card's CA and
// refuses it against Yubico's roots, Write writes a chain Verifier accepts
// for that key, and never over an existing file.
func TestOnTheVirtualCard(t *testing.T) {
	f := pivtest.Card(t)
	const pin, puk = "24681357", "87654321"
	if err := piv.Setup(piv.SetupOptions{Serial: f.Card.Serial(), OldPIN: pivgo.DefaultPIN, NewPIN: pin,
		OldPUK: pivgo.DefaultPUK, NewPUK: puk}); err != nil {
		t.Fatal(err)
	}
	s, err := piv.Open(piv.Options{Serial: f.Card.Serial()})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Login([]byte(pin)); err != nil {
		t.Fatal(err)
	}
	k := agent.New(agent.Options{Stores: []agent.KeyStore{s}})
	ctx := context.Background()
	info, err := k.Generate(ctx, agent.GenerateRequest{KeyMeta: agent.KeyMeta{Role: agent.RoleDelegation, Name: "ci"}})
	if err != nil {
		t.Fatal(err)
	}
	if !Attestable(info) {
		t.Fatal("a key made on the card is not Attestable")
	}
	roots := pivtest.Roots(t)

	st := Check(ctx, k, info, roots)
	if st == nil || !st.Verified || st.Serial != f.Card.Serial() || st.Slot == "" {
		t.Fatalf("Check with the card's CA: %+v, want verified, serial %d", st, f.Card.Serial())
	}
	if !strings.HasPrefix(st.Column(), "yes (serial ") {
		t.Errorf("Column: %q", st.Column())
	}
	if st := Check(ctx, k, info, nil); st == nil || st.Verified || !strings.Contains(st.Error, "does not verify") {
		t.Errorf("Check with Yubico's roots: %+v, want not verified", st)
	}
	// Another key's KeyInfo with this key's ID: the chain is about
	// another key than the one meant.
	other := info
	other.PublicKey = mustPKIX(t, &mustKey(t).PublicKey)
	if st := Check(ctx, k, other, roots); st == nil || st.Verified || !strings.Contains(st.Error, "another key") {
		t.Errorf("Check of the wrong key: %+v", st)
	}

	path := filepath.Join(t.TempDir(), "ci.attest.pem")
	if err := Write(ctx, k, info, path); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	chain, err := trust.DecodeAttestation(b)
	if err != nil || len(chain) != 2 {
		t.Fatalf("written chain: %d certificates, %v; want 2", len(chain), err)
	}
	attested, about, err := Verifier(roots)(chain)
	if err != nil {
		t.Fatalf("Verifier: %v", err)
	}
	if err := SameKey(info, attested); err != nil || !strings.HasPrefix(about, "generated on PIV card ") {
		t.Errorf("Verifier: %q, %v", about, err)
	}
	if _, _, err := Verifier(nil)(chain); err == nil {
		t.Error("Yubico's roots accepted the virtual card's chain")
	}
	if err := Write(ctx, k, info, path); !errors.Is(err, fs.ErrExist) {
		t.Errorf("Write over an existing file: %v, want fs.ErrExist", err)
	}
	if err := Write(ctx, k, other, filepath.Join(t.TempDir(), "x.pem")); err == nil {
		t.Error("Write of a chain about another key succeeded")
	}
	if b2, _ := os.ReadFile(path); !bytes.Equal(b, b2) {
		t.Error("the existing file was changed")
	}
}
