//go:build cgo

package piv

import (
	"bytes"
	"crypto/rand"
	"errors"
	"strings"
	"testing"

	pivgo "github.com/go-piv/piv-go/v2/piv"

	"github.com/trust-agent/trust-agent/agent"
	"github.com/trust-agent/trust-agent/piv/pivtest"
)

// TestSetupWrongPUK: a wrong current PUK is a PUK error (not a PIN one),
// and it leaves the card as it was, so setup can be run again.
func TestSetupWrongPUK(t *testing.T) {
	f := pivtest.Card(t)
	err := Setup(SetupOptions{Serial: f.Card.Serial(), OldPIN: pivgo.DefaultPIN, NewPIN: testPIN, OldPUK: "11223344", NewPUK: testPUK})
	var pe *PUKError
	if !errors.As(err, &pe) || pe.Retries != 2 || !errors.Is(err, ErrPUKIncorrect) || errors.Is(err, ErrPUKBlocked) {
		t.Fatalf("Setup with a wrong PUK: %v, want PUKError with 2 retries", err)
	}
	if errors.Is(err, agent.ErrPINIncorrect) || errors.As(err, new(*agent.PINError)) {
		t.Errorf("a wrong PUK reads as a PIN error: %v", err)
	}
	if !strings.Contains(err.Error(), "PUK incorrect, 2 tries left") {
		t.Errorf("message %q does not say the PUK is wrong with 2 tries left", err)
	}
	if n := pinRetries(t, f); n != 3 {
		t.Errorf("PIN tries left %d, want 3", n)
	}
	// Nothing else changed: the default PIN still works, and setup runs
	// again from the start.
	if err := Setup(SetupOptions{Serial: f.Card.Serial(), OldPIN: pivgo.DefaultPIN, NewPIN: testPIN, OldPUK: pivgo.DefaultPUK, NewPUK: testPUK}); err != nil {
		t.Fatalf("Setup after a wrong PUK: %v", err)
	}
	s := openStore(t, f, Options{}, testPIN)
	if _, err := s.Generate(targetsMeta, "", 0); err != nil {
		t.Fatalf("Generate after setup: %v", err)
	}

	// A blocked PUK says so.
	g := pivtest.Card(t)
	for i := 0; i < 3; i++ {
		err = Setup(SetupOptions{Serial: g.Card.Serial(), OldPIN: pivgo.DefaultPIN, NewPIN: testPIN, OldPUK: "11223344", NewPUK: testPUK})
	}
	if !errors.As(err, &pe) || pe.Retries != 0 || !errors.Is(err, ErrPUKBlocked) || !strings.Contains(err.Error(), "PUK blocked") {
		t.Errorf("third wrong PUK: %v, want PUK blocked", err)
	}
}

// TestSetupResumes: a card left half set up (by the older order: the
// management key stored and the PIN changed, the PUK still the default)
// is finished, keeping its management key; once finished, setup is
// refused.
func TestSetupResumes(t *testing.T) {
	f := pivtest.Card(t)
	mk := make([]byte, managementKeyBytes)
	rand.Read(mk)
	yk := f.Open(t)
	if err := yk.VerifyPIN(pivgo.DefaultPIN); err != nil {
		t.Fatal(err)
	}
	if err := yk.SetManagementKey(pivgo.DefaultManagementKey, mk); err != nil {
		t.Fatal(err)
	}
	if err := yk.SetMetadata(mk, &pivgo.Metadata{ManagementKey: &mk}); err != nil {
		t.Fatal(err)
	}
	if err := yk.SetPIN(pivgo.DefaultPIN, "13572468"); err != nil {
		t.Fatal(err)
	}
	yk.Close()

	if err := Setup(SetupOptions{Serial: f.Card.Serial(), OldPIN: "13572468", NewPIN: testPIN, OldPUK: pivgo.DefaultPUK, NewPUK: testPUK}); err != nil {
		t.Fatalf("Setup of a half set-up card: %v", err)
	}
	yk = f.Open(t)
	m, err := yk.Metadata(testPIN)
	if err != nil {
		t.Fatalf("the new PIN: %v", err)
	}
	if m.ManagementKey == nil || !bytes.Equal(*m.ManagementKey, mk) {
		t.Error("the management key was replaced")
	}
	if err := yk.SetPUK(testPUK, "11223344"); err != nil {
		t.Errorf("the new PUK: %v", err)
	}
	if err := yk.SetPUK("11223344", testPUK); err != nil {
		t.Fatal(err)
	}
	yk.Close()

	err = Setup(SetupOptions{Serial: f.Card.Serial(), OldPIN: testPIN, NewPIN: "13572468", OldPUK: testPUK, NewPUK: "11223344"})
	if !errors.Is(err, agent.ErrInvalidRequest) || !strings.Contains(err.Error(), "already set up") {
		t.Errorf("Setup of a card set up: %v, want ErrInvalidRequest saying it is set up", err)
	}
	if n := pinRetries(t, f); n != 3 {
		t.Errorf("PIN tries left %d, want 3", n)
	}
	s := openStore(t, f, Options{}, testPIN)
	if _, err := s.Generate(targetsMeta, "", 0); err != nil {
		t.Fatalf("Generate after setup: %v", err)
	}
}

// TestSetupRefusesWeakValues: the factory defaults, or the current value,
// as the new PIN or PUK are refused before the card is touched.
func TestSetupRefusesWeakValues(t *testing.T) {
	f := pivtest.Card(t)
	ok := SetupOptions{Serial: f.Card.Serial(), OldPIN: pivgo.DefaultPIN, NewPIN: testPIN, OldPUK: pivgo.DefaultPUK, NewPUK: testPUK}
	for name, c := range map[string]struct {
		mod  func(*SetupOptions)
		want string
	}{
		"default PIN": {func(o *SetupOptions) { o.NewPIN = pivgo.DefaultPIN }, "factory default"},
		"default PUK": {func(o *SetupOptions) { o.NewPUK = pivgo.DefaultPUK }, "factory default"},
		"same PIN":    {func(o *SetupOptions) { o.OldPIN = "13572468"; o.NewPIN = "13572468" }, "new PIN is the current one"},
		"same PUK":    {func(o *SetupOptions) { o.OldPUK = "11223344"; o.NewPUK = "11223344" }, "new PUK is the current one"},
		"short PIN":   {func(o *SetupOptions) { o.NewPIN = "12345" }, "6 to 8 characters"},
		"long PUK":    {func(o *SetupOptions) { o.NewPUK = "123456789" }, "6 to 8 characters"},
	} {
		o := ok
		c.mod(&o)
		err := Setup(o)
		if !errors.Is(err, agent.ErrInvalidRequest) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want ErrInvalidRequest saying %q", name, err, c.want)
		}
	}
	// Nothing was tried on the card.
	yk := f.Open(t)
	if n, err := yk.Retries(); err != nil || n != 3 {
		t.Errorf("PIN tries left %d, %v, want 3", n, err)
	}
	if m, err := yk.Metadata(pivgo.DefaultPIN); err != nil || m.ManagementKey != nil {
		t.Errorf("metadata after refused setups: %+v, %v", m, err)
	}
	yk.Close()
	if err := Setup(ok); err != nil {
		t.Fatalf("Setup: %v", err)
	}
}
