package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/trust-agent/trust-agent/agent"
)

// touchNoticeDelay is how long a PIV signature may take before the user is
// told to touch the card: a card answers in milliseconds unless it waits
// for a finger (yubikey-agent waits a few seconds; we are less patient,
// since a publish may need several touches).
const touchNoticeDelay = time.Second

// touchNotifier tells the user to touch their card when a signature by a
// PIV key is slow. The agent runs without a terminal; the CLI has one.
type touchNotifier struct {
	agent.Agent
	out io.Writer

	once sync.Once
	keys map[string]agent.KeyInfo
}

// withTouchNotice wraps a for the signing commands.
func withTouchNotice(a agent.Agent, out io.Writer) agent.Agent {
	return &touchNotifier{Agent: a, out: out}
}

func (t *touchNotifier) Sign(ctx context.Context, req agent.SignRequest) (agent.Signature, error) {
	t.once.Do(func() {
		t.keys = map[string]agent.KeyInfo{}
		if keys, err := t.Agent.List(ctx); err == nil {
			for _, k := range keys {
				t.keys[k.ID] = k
			}
		}
	})
	k, ok := t.keys[req.KeyID]
	if !ok || !strings.HasPrefix(k.Location, "piv:") {
		return t.Agent.Sign(ctx, req)
	}
	card, _, _ := strings.Cut(strings.TrimPrefix(k.Location, "piv:"), ";")
	timer := time.AfterFunc(touchNoticeDelay, func() {
		fmt.Fprintf(t.out, "Touch your YubiKey (%s) to sign %s for %s...\n", strings.ReplaceAll(card, "=", " "), req.Role, req.GUN)
	})
	defer timer.Stop()
	return t.Agent.Sign(ctx, req)
}
