package piv

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/trust-agent/trust-agent/agent"
	"github.com/trust-agent/trust-agent/agent/backend"
)

// Scheme is the URI scheme this backend registers: "piv:serial=N" (a
// card by its serial number, as Store.Name says it) or "piv:any" (the
// first card found).
const Scheme = "piv"

// ParseURI returns the serial number a piv: URI names, 0 for any card.
func ParseURI(uri string) (uint32, error) {
	rest, ok := strings.CutPrefix(uri, Scheme+":")
	if !ok {
		return 0, fmt.Errorf("piv: %q is not a piv: URI; give piv:serial=N or piv:any: %w", uri, agent.ErrInvalidRequest)
	}
	if rest == "any" || rest == "" {
		return 0, nil
	}
	v, ok := strings.CutPrefix(rest, "serial=")
	n, err := strconv.ParseUint(v, 10, 32)
	if !ok || err != nil || n == 0 {
		return 0, fmt.Errorf("piv: %q names no card; give piv:serial=N (ykman list --serials) or piv:any: %w", uri, agent.ErrInvalidRequest)
	}
	return uint32(n), nil
}

func init() {
	backend.Register(Scheme, func(_ context.Context, uri string, opts backend.Options) (agent.KeyStore, error) {
		serial, err := ParseURI(uri)
		if err != nil {
			return nil, err
		}
		var s *Store
		s, err = Open(Options{
			Serial:      serial,
			AllowImport: opts.AllowImport,
			OnTouch: func(slot byte) {
				opts.Logger.Info("waiting for a touch", "card", s.Name(), "slot", fmt.Sprintf("%x", slot))
			},
		})
		if err != nil {
			return nil, err
		}
		return s, nil
	})
}
