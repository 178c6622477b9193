//go:build !cgo

package pivtest

import (
	"testing"

	"github.com/trust-agent/trust-agent/piv/virtualcard"
)

// Require needs piv-go, which needs cgo: without it the test skips
// (fails under CI).
func Require(t testing.TB) {
	t.Helper()
	unavailable(t, "built without cgo; piv-go needs libpcsclite")
}

// Card needs piv-go, which needs cgo: without it the test skips (fails
// under CI).
func Card(t testing.TB) *Fixture { return CardWith(t, virtualcard.Options{}) }

// CardWith is Card with card options.
func CardWith(t testing.TB, opts virtualcard.Options) *Fixture {
	t.Helper()
	unavailable(t, "built without cgo; piv-go needs libpcsclite")
	return nil
}

// Insert is unreachable without cgo (Card never returns a Fixture).
func (f *Fixture) Insert(t testing.TB) {
	t.Helper()
	unavailable(t, "built without cgo")
}
