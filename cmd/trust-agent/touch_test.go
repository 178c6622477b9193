package main

import (
	"bytes"
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/trust-agent/trust-agent/agent"
)

// slowCard is an agent whose one PIV key takes a touch's time to sign.
type slowCard struct {
	agent.Agent
	wait time.Duration
}

func (s slowCard) List(context.Context) ([]agent.KeyInfo, error) {
	return []agent.KeyInfo{
		{ID: "piv-key", Location: "piv:serial=1234;slot=9c"},
		{ID: "hsm-key", Location: "pkcs11:token=t;id=%01"},
	}, nil
}

func (s slowCard) Sign(context.Context, agent.SignRequest) (agent.Signature, error) {
	time.Sleep(s.wait)
	return agent.Signature{}, nil
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}
func (l *lockedBuffer) String() string { l.mu.Lock(); defer l.mu.Unlock(); return l.b.String() }

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
			var out lockedBuffer
			a := withTouchNotice(slowCard{wait: tc.wait}, &out)
			if _, err := a.Sign(context.Background(), agent.SignRequest{KeyID: tc.key, Role: "root", GUN: "example.com/app"}); err != nil {
				t.Fatal(err)
			}
			time.Sleep(50 * time.Millisecond)
			got := out.String()
			if want := "Touch your YubiKey (serial 1234) to sign root for example.com/app...\n"; tc.want != (got == want) || (!tc.want && strings.TrimSpace(got) != "") {
				t.Fatalf("notice %q (want one: %v)", got, tc.want)
			}
		})
	}
}
