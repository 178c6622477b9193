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

// touchNoticeDelay is how long a PIV operation may take before the user is
// told to touch the card: a card answers in milliseconds unless it waits
// for a finger (yubikey-agent waits a few seconds; we are less patient,
// since a publish may need several touches).
const touchNoticeDelay = time.Second

// touchNotifier tells the user to touch their card when an operation on a
// PIV key is slow: a signature, a root certificate (signed by the key), a
// new key (whose slot certificate the new key signs). The agent runs
// without a terminal; the CLI has one.
type touchNotifier struct {
	agent.Agent
	out io.Writer

	mu   sync.Mutex
	keys map[string]agent.KeyInfo // nil until first needed; re-read on a miss
}

// withTouchNotice wraps a for commands that may need a touch.
func withTouchNotice(a agent.Agent, out io.Writer) agent.Agent {
	return &touchNotifier{Agent: a, out: out}
}

func (t *touchNotifier) Sign(ctx context.Context, req agent.SignRequest) (agent.Signature, error) {
	defer t.notice(t.location(ctx, req.KeyID), fmt.Sprintf("sign %s for %s", req.Role, req.GUN))()
	return t.Agent.Sign(ctx, req)
}

func (t *touchNotifier) CertifyRoot(ctx context.Context, req agent.CertifyRequest) ([]byte, error) {
	defer t.notice(t.location(ctx, req.KeyID), "certify the root key for "+req.GUN)()
	return t.Agent.CertifyRoot(ctx, req)
}

func (t *touchNotifier) Generate(ctx context.Context, req agent.GenerateRequest) (agent.KeyInfo, error) {
	defer t.notice(req.Backend, "certify the new key "+req.Name)()
	return t.Agent.Generate(ctx, req)
}

// location is where key id lives, "" if the agent does not say.
func (t *touchNotifier) location(ctx context.Context, id string) string {
	t.mu.Lock()
	defer t.mu.Unlock()
	if k, ok := t.keys[id]; ok {
		return k.Location
	}
	// First use, or a key made since (a rotation's new root): read again.
	keys, err := t.Agent.List(ctx)
	if err != nil {
		return ""
	}
	t.keys = map[string]agent.KeyInfo{}
	for _, k := range keys {
		t.keys[k.ID] = k
	}
	return t.keys[id].Location
}

// notice arms a timer that tells the user to touch the card at location
// ("piv:serial=N;slot=9c" or a backend name "piv:serial=N") to do what;
// the returned func disarms it. Other locations need no touch.
func (t *touchNotifier) notice(location, what string) func() {
	if !strings.HasPrefix(location, "piv:") {
		return func() {}
	}
	card, _, _ := strings.Cut(strings.TrimPrefix(location, "piv:"), ";")
	timer := time.AfterFunc(touchNoticeDelay, func() {
		fmt.Fprintf(t.out, "Touch your YubiKey (%s) to %s...\n", strings.ReplaceAll(card, "=", " "), what)
	})
	return func() { timer.Stop() }
}
