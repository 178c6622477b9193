//go:build cgo

package pivtest

import (
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/go-piv/piv-go/v2/piv"
	"github.com/trust-agent/trust-agent/piv/virtualcard"
)

// readyTimeout bounds the wait for pcscd to see an inserted card; it polls
// about twice a second, but a loaded machine and a re-plug (replugAfter)
// can take several of its rounds.
const readyTimeout = 30 * time.Second

// replugAfter is how long a card may stay unseen before waitReady plugs it
// in again: pcscd 1.9.9 can miss a card that came back between two of its
// polls and then reports the reader empty until the next insertion (see
// PIV.md), which a loaded CI machine hits now and then.
const replugAfter = 4 * time.Second

// Card starts a fresh virtual YubiKey (firmware 5.7.1, default PIN, PUK
// and management key) and returns once piv.Open succeeds on it. The card
// is unplugged at the end of the test.
func Card(t testing.TB) *Fixture { return CardWith(t, virtualcard.Options{}) }

// Require skips the test (fails it when CI is set) unless pcscd is
// reachable, without claiming a reader: for a test that starts costly
// fixtures first and makes its cards later, in subtests.
func Require(t testing.TB) {
	t.Helper()
	if _, err := piv.Cards(); err != nil {
		unavailable(t, "pcscd not reachable: %v", err)
	}
}

// CardWith is Card with card options (firmware version, serial, a state
// file, a touch hook).
func CardWith(t testing.TB, opts virtualcard.Options) *Fixture {
	t.Helper()
	if _, err := piv.Cards(); err != nil {
		unavailable(t, "pcscd not reachable: %v", err)
	}
	card, err := virtualcard.New(opts)
	if err != nil {
		t.Fatalf("pivtest: %v", err)
	}
	var problems []string
	for _, addr := range addrs() {
		release, err := virtualcard.ClaimAddr(addr)
		if err != nil {
			problems = append(problems, err.Error())
			continue
		}
		link, err := card.Connect(addr)
		if err != nil {
			release()
			problems = append(problems, err.Error())
			continue
		}
		t.Cleanup(func() {
			link.Close()
			// Keep the reader claimed while pcscd notices the
			// removal, so the next card does not meet the race.
			time.Sleep(virtualcard.ReinsertDelay)
			release()
		})
		f := &Fixture{Card: card, Link: link}
		if f.Reader, err = readerFor(addr); err != nil {
			unavailable(t, "%v", err)
		}
		if err := f.waitReady(); err != nil {
			unavailable(t, "%v", err)
		}
		return f
	}
	unavailable(t, "no vpcd reader free: %s", strings.Join(problems, "; "))
	return nil
}

// readerFor finds the PC/SC reader served by the vpcd port of addr.
func readerFor(addr string) (string, error) {
	if r := os.Getenv("PIVTEST_READER"); r != "" {
		return r, nil
	}
	suffix, err := readerSuffix(addr)
	if err != nil {
		return "", err
	}
	readers, err := piv.Cards()
	if err != nil {
		return "", fmt.Errorf("listing readers: %w", err)
	}
	for _, r := range readers {
		if strings.HasSuffix(r, suffix) {
			return r, nil
		}
	}
	return "", fmt.Errorf("no PC/SC reader ending in %q among %q (is pcscd using vpcd?)", suffix, readers)
}

// waitReady polls until piv.Open works on the reader and finds this
// card's serial, proving pcscd sees this card and not a stale one.
func (f *Fixture) waitReady() error {
	deadline := time.Now().Add(readyTimeout)
	replugAt := time.Now().Add(replugAfter)
	var last error
	for time.Now().Before(deadline) {
		if time.Now().After(replugAt) && f.Link.Inserted() {
			if err := f.Link.Remove(); err != nil {
				return err
			}
			if err := f.Link.Insert(); err != nil {
				return err
			}
			replugAt = time.Now().Add(replugAfter)
		}
		yk, err := piv.Open(f.Reader)
		if err == nil {
			serial, serr := yk.Serial()
			yk.Close()
			if serr == nil && serial == f.Card.Serial() {
				return nil
			}
			err = serr
			if err == nil {
				err = fmt.Errorf("reader %q holds serial %d, not ours (%d)", f.Reader, serial, f.Card.Serial())
			}
		}
		last = err
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("card never became ready on %q: %v", f.Reader, last)
}

// Insert plugs a removed card back in (after virtualcard.ReinsertDelay)
// and waits until piv.Open works on it again.
func (f *Fixture) Insert(t testing.TB) {
	t.Helper()
	if err := f.Link.Insert(); err != nil {
		t.Fatalf("pivtest: %v", err)
	}
	if err := f.waitReady(); err != nil {
		t.Fatalf("pivtest: %v", err)
	}
}

// Open opens the card with piv-go and closes it at the end of the test
// (closing it earlier is fine). piv-go holds the card exclusively while
// open.
func (f *Fixture) Open(t testing.TB) *piv.YubiKey {
	t.Helper()
	yk, err := piv.Open(f.Reader)
	if err != nil {
		t.Fatalf("pivtest: opening %q: %v", f.Reader, err)
	}
	t.Cleanup(func() { yk.Close() })
	return yk
}
