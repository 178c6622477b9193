// Package backend opens agent.KeyStores by URI scheme, as smallstep's
// kms/apiv1.Register and database/sql's Register do: each backend package
// (pkcs11, piv) registers an Opener for its scheme in init, and a binary
// that serves the agent opens every backend it is given through Open,
// knowing none of them by name.
//
// # Adding a backend
//
// One package that implements agent.KeyStore (and agent.AbilityReporter,
// so the CLI and agenttest know what it can do), calls Register in an
// init function of a file without build tags (so a binary built without
// cgo still knows the scheme and says what it lacks), and passes
// agenttest.Run. cmd/trust-agent imports it for the side effect in
// backends.go. See docs/DESIGN.md, "Adding a backend".
//
// # Concurrency
//
// Register is meant for init; Open and Schemes are safe to call from
// multiple goroutines.
package backend

import (
	"context"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync"

	"github.com/trust-agent/trust-agent/agent"
)

// Options are what every Opener may use; a backend ignores what it has no
// use for.
type Options struct {
	// Logger receives what the backend reports while it serves (keys left
	// out of a listing, a card waiting for a touch). Nil: slog.Default().
	Logger *slog.Logger
	// AllowImport lets a backend that refuses software keys by default
	// (a PIV card: such a key has no attestation) import them.
	AllowImport bool
}

// Opener opens the backend named by uri (the whole URI, scheme included).
type Opener func(ctx context.Context, uri string, opts Options) (agent.KeyStore, error)

var (
	mu      sync.RWMutex
	openers = map[string]Opener{}
)

// Register makes scheme ("pkcs11", "piv": without the colon) known. A
// second registration of a scheme, or a nil Opener, panics.
func Register(scheme string, open Opener) {
	mu.Lock()
	defer mu.Unlock()
	if _, dup := openers[scheme]; dup || open == nil || scheme == "" || strings.Contains(scheme, ":") {
		panic("backend: Register called twice, with nil or with a bad scheme for " + scheme)
	}
	openers[scheme] = open
}

// Schemes lists the registered schemes, sorted.
func Schemes() []string {
	mu.RLock()
	defer mu.RUnlock()
	out := make([]string, 0, len(openers))
	for s := range openers {
		out = append(out, s)
	}
	sort.Strings(out)
	return out
}

// Open opens the backend uri names, chosen by its scheme (what comes
// before the first colon).
func Open(ctx context.Context, uri string, opts Options) (agent.KeyStore, error) {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	scheme, _, ok := strings.Cut(uri, ":")
	if !ok || scheme == "" {
		return nil, fmt.Errorf("backend: %q is not a backend URI: give SCHEME:..., one of %s", uri, schemeList())
	}
	mu.RLock()
	open, ok := openers[scheme]
	mu.RUnlock()
	if !ok {
		return nil, fmt.Errorf("backend: no backend for scheme %q in this binary; it knows %s", scheme, schemeList())
	}
	s, err := open(ctx, uri, opts)
	if err != nil {
		return nil, err
	}
	if s == nil {
		return nil, fmt.Errorf("backend: the %s opener returned no store and no error for %s", scheme, uri)
	}
	return s, nil
}

func schemeList() string {
	s := Schemes()
	if len(s) == 0 {
		return "none (import a backend package, e.g. github.com/trust-agent/trust-agent/pkcs11)"
	}
	return strings.Join(s, ":, ") + ":"
}
