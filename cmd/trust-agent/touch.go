package main

import (
	"context"
	"fmt"
	"io"
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
	defer t.notice(t.keyBackend(ctx, req.KeyID), fmt.Sprintf("sign %s for %s", req.Role, req.GUN))()
	return t.Agent.Sign(ctx, req)
}

func (t *touchNotifier) CertifyRoot(ctx context.Context, req agent.CertifyRequest) ([]byte, error) {
	defer t.notice(t.keyBackend(ctx, req.KeyID), "certify the root key for "+req.GUN)()
	return t.Agent.CertifyRoot(ctx, req)
}

func (t *touchNotifier) Generate(ctx context.Context, req agent.GenerateRequest) (agent.KeyInfo, error) {
	defer t.notice(t.backend(ctx, req.Backend), "certify the new key "+req.Name)()
	return t.Agent.Generate(ctx, req)
}

// keyBackend is the backend of key id when it may wait for a touch, ""
// otherwise or if the agent does not say.
func (t *touchNotifier) keyBackend(ctx context.Context, id string) string {
	t.mu.Lock()
	defer t.mu.Unlock()
	k, ok := t.keys[id]
	if !ok {
		// First use, or a key made since (a rotation's new root): read again.
		keys, err := t.Agent.List(ctx)
		if err != nil {
			return ""
		}
		t.keys = map[string]agent.KeyInfo{}
		for _, k := range keys {
			t.keys[k.ID] = k
		}
		k = t.keys[id]
	}
	if !k.Abilities.Touch {
		return ""
	}
	return k.Backend
}

// backend is name when that backend may wait for a touch, "" otherwise.
// An empty name (the agent picks the backend) gives no notice.
func (t *touchNotifier) backend(ctx context.Context, name string) string {
	if name == "" {
		return ""
	}
	st, err := t.Agent.Status(ctx)
	if err != nil {
		return ""
	}
	for _, b := range st.Backends {
		if b.Name == name && b.Abilities.Touch {
			return name
		}
	}
	return ""
}

// notice arms a timer that tells the user to touch the device backend
// (one whose Abilities say Touch) to do what; the returned func disarms
// it. An empty backend needs no touch.
func (t *touchNotifier) notice(backend, what string) func() {
	if backend == "" {
		return func() {}
	}
	timer := time.AfterFunc(touchNoticeDelay, func() {
		fmt.Fprintf(t.out, "Touch your card or key (%s) to %s...\n", backend, what)
	})
	return func() { timer.Stop() }
}
