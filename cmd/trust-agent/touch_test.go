package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/trust-agent/trust-agent/agent"
	"github.com/trust-agent/trust-agent/internal/syncbuf"
)

// slowCard is an agent whose one PIV key takes a touch's time to sign.
type slowCard struct {
	agent.Agent
	wait time.Duration
}

func (s slowCard) List(context.Context) ([]agent.KeyInfo, error) {
	return []agent.KeyInfo{
		{ID: "piv-key", Location: "piv:serial=1234;slot=9c", Backend: "piv:serial=1234", Abilities: agent.Abilities{Touch: true}},
		{ID: "hsm-key", Location: "pkcs11:token=t;id=%01", Backend: "pkcs11:token=t"},
	}, nil
}

func (s slowCard) Status(context.Context) (agent.Status, error) {
	return agent.Status{Backends: []agent.BackendStatus{
		{Name: "piv:serial=1234", Abilities: agent.Abilities{Touch: true}},
		{Name: "pkcs11:token=t"},
	}}, nil
}

func (s slowCard) Sign(context.Context, agent.SignRequest) (agent.Signature, error) {
	time.Sleep(s.wait)
	return agent.Signature{}, nil
}

func (s slowCard) CertifyRoot(context.Context, agent.CertifyRequest) ([]byte, error) {
	time.Sleep(s.wait)
	return nil, nil
}

func (s slowCard) Generate(context.Context, agent.GenerateRequest) (agent.KeyInfo, error) {
	time.Sleep(s.wait)
	return agent.KeyInfo{}, nil
}

// TestTouchNoticeCertifyAndGenerate: a root certificate and a new key's
// slot certificate are signed by the card too, and may wait for a touch.
func TestTouchNoticeCertifyAndGenerate(t *testing.T) {
	var out syncbuf.Buffer
	a := withTouchNotice(slowCard{wait: touchNoticeDelay + 300*time.Millisecond}, &out)
	if _, err := a.CertifyRoot(context.Background(), agent.CertifyRequest{KeyID: "piv-key", GUN: "example.com/app"}); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Generate(context.Background(), agent.GenerateRequest{KeyMeta: agent.KeyMeta{Name: "root"}, Backend: "piv:serial=1234"}); err != nil {
		t.Fatal(err)
	}
	want := "Touch your card or key (piv:serial=1234) to certify the root key for example.com/app...\n" +
		"Touch your card or key (piv:serial=1234) to certify the new key root...\n"
	if got := out.String(); got != want {
		t.Fatalf("notices:\n%s\nwant:\n%s", got, want)
	}
}

// TestTouchNotice: a slow PIV signature tells the user to touch the card;
// a fast one, or a PKCS#11 key's, says nothing.
func TestTouchNotice(t *testing.T) {
	for _, tc := range []struct {
		name, key string
		wait      time.Duration
		want      bool
	}{
		{"slow card", "piv-key", touchNoticeDelay + 300*time.Millisecond, true},
		{"fast card", "piv-key", 0, false},
		{"slow token", "hsm-key", touchNoticeDelay + 300*time.Millisecond, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out syncbuf.Buffer
			a := withTouchNotice(slowCard{wait: tc.wait}, &out)
			if _, err := a.Sign(context.Background(), agent.SignRequest{KeyID: tc.key, Role: "root", GUN: "example.com/app"}); err != nil {
				t.Fatal(err)
			}
			time.Sleep(50 * time.Millisecond)
			got := out.String()
			if want := "Touch your card or key (piv:serial=1234) to sign root for example.com/app...\n"; tc.want != (got == want) || (!tc.want && strings.TrimSpace(got) != "") {
				t.Fatalf("notice %q (want one: %v)", got, tc.want)
			}
		})
	}
}
