package agent

// Status: the backends (with their Abilities), keys and counters.

import (
	"context"
	"os"
)

// Status reports the backends and counters.
func (k *Keyring) Status(ctx context.Context) (Status, error) {
	k.mu.RLock()
	st := Status{
		PID: os.Getpid(), Started: k.started, LockAt: k.lockAt,
		Signatures: k.signatures.Load(), Refusals: k.refusals.Load(),
	}
	m := k.metrics.snapshot()
	if c, ok := k.opts.Audit.(interface{ Commits() AuditCommits }); ok {
		commits := c.Commits()
		m.AuditCommits = &commits
	}
	st.Metrics = &m
	for _, s := range k.opts.Stores {
		bs := BackendStatus{Name: s.Name(), Kind: s.Kind(), Keys: len(k.perStore[s]), Abilities: abilitiesOf(s)}
		if err := k.errs[s]; err != nil {
			bs.Error = err.Error()
		}
		st.Backends = append(st.Backends, bs)
	}
	k.mu.RUnlock()
	for i, s := range k.opts.Stores { // may ask the device: outside mu
		st.Backends[i].Locked = k.storeLocked(s)
		st.Locked = st.Locked || st.Backends[i].Locked
	}
	if h, ok := k.opts.Audit.(interface{ Head() AuditHead }); ok { // see audit verify
		head := h.Head()
		st.Audit = &head
	}
	return st, nil
}
