package agent_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/trust-agent/trust-agent/agent"
	"github.com/trust-agent/trust-agent/agent/agenttest"
	"github.com/trust-agent/trust-agent/pkcs11"
	"github.com/trust-agent/trust-agent/pkcs11/softhsmtest"
)

// clock is a settable agent clock, so throttle tests need no sleeps.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2026, 12, 2, 2, 31, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }

func (c *clock) Add(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

// countingStore wraps a KeyStore and counts what reaches it: the logins
// (each one a PIN tried on the token) and the writes.
type countingStore struct {
	agent.KeyStore
	logins, generates, certs atomic.Int64
}

func (c *countingStore) Login(pin []byte) error {
	c.logins.Add(1)
	return c.KeyStore.Login(pin)
}

func (c *countingStore) Generate(m agent.KeyMeta, alg string, bits int) (agent.Key, error) {
	c.generates.Add(1)
	return c.KeyStore.Generate(m, alg, bits)
}

func (c *countingStore) StoreCertificate(id []byte, gun string, der []byte) error {
	c.certs.Add(1)
	return c.KeyStore.StoreCertificate(id, gun, der)
}

// lockedSoftHSM is a Keyring over a SoftHSM token that starts locked, the
// token wrapped in a countingStore, on clock c.
func lockedSoftHSM(t *testing.T, c *clock) (*agent.Keyring, *countingStore, string) {
	t.Helper()
	tok := softhsmtest.New(t, "246810")
	store, err := pkcs11.Open(tok.LockedURI())
	if err != nil {
		t.Fatal(err)
	}
	cs := &countingStore{KeyStore: store}
	k := agent.New(agent.Options{Stores: []agent.KeyStore{cs}, Now: c.Now})
	t.Cleanup(func() { k.Close() })
	return k, cs, tok.PIN
}

// TestPINGuessingThrottled is the attack: wrong PINs as fast as a client
// can send them. Only the first three reach the token; every later one is
// refused by the agent at once, saying when the next try is accepted;
// after the wait, a wrong PIN doubles the wait, and the right PIN unlocks
// and starts the count again.
func TestPINGuessingThrottled(t *testing.T) {
	c := newClock()
	k, cs, pin := lockedSoftHSM(t, c)
	ctx := context.Background()
	for i := 0; i < 10; i++ {
		err := k.Unlock(ctx, agent.UnlockRequest{PIN: []byte("000000")})
		if !errors.Is(err, agent.ErrPINIncorrect) {
			t.Fatalf("wrong PIN %d: %v, want ErrPINIncorrect", i+1, err)
		}
		var te *agent.ThrottledError
		if i >= 3 {
			if !errors.As(err, &te) {
				t.Fatalf("wrong PIN %d, tried before the wait was over: %v, want *agent.ThrottledError", i+1, err)
			}
			if want := c.Now().Add(time.Second); !te.RetryAt.Equal(want) {
				t.Errorf("RetryAt %v, want %v", te.RetryAt, want)
			}
			if !strings.Contains(err.Error(), "wait 1s: next try accepted at 02:31:01 UTC") {
				t.Errorf("throttled message %q does not say when to try again", err)
			}
		}
		if strings.Contains(err.Error(), "-1") {
			t.Errorf("message %q says -1", err)
		}
	}
	if n := cs.logins.Load(); n != 3 {
		t.Fatalf("10 fast wrong PINs made %d logins on the token, want 3", n)
	}
	// After the wait, another wrong PIN reaches the token and doubles the wait.
	c.Add(time.Second)
	err := k.Unlock(ctx, agent.UnlockRequest{PIN: []byte("000000")})
	var te *agent.ThrottledError
	if !errors.Is(err, agent.ErrPINIncorrect) || errors.As(err, &te) || cs.logins.Load() != 4 {
		t.Fatalf("wrong PIN after the wait: %v (%d logins), want the token's own answer", err, cs.logins.Load())
	}
	c.Add(time.Second)
	err = k.Unlock(ctx, agent.UnlockRequest{PIN: []byte(pin)})
	if !errors.As(err, &te) || !te.RetryAt.Equal(c.Now().Add(time.Second)) || cs.logins.Load() != 4 {
		t.Fatalf("the right PIN 1s into a 2s wait: %v (%d logins), want throttled 1s more without a login", err, cs.logins.Load())
	}
	if st, _ := k.Status(ctx); !st.Locked {
		t.Fatal("unlocked while throttled")
	}
	c.Add(time.Second)
	if err := k.Unlock(ctx, agent.UnlockRequest{PIN: []byte(pin)}); err != nil {
		t.Fatalf("the right PIN after the wait: %v", err)
	}
	// The count starts again: three wrong PINs reach the token.
	if err := k.Lock(ctx); err != nil {
		t.Fatal(err)
	}
	before := cs.logins.Load()
	for i := 0; i < 3; i++ {
		err := k.Unlock(ctx, agent.UnlockRequest{PIN: []byte("000000")})
		if errors.As(err, &te) {
			t.Fatalf("wrong PIN %d after a good unlock was throttled: the count did not reset", i+1)
		}
	}
	if n := cs.logins.Load() - before; n != 3 {
		t.Fatalf("%d logins, want 3", n)
	}
}

// TestPINWaitCapped: the wait doubles up to its cap and no further.
func TestPINWaitCapped(t *testing.T) {
	c := newClock()
	s := &softStore{name: "soft", pin: "246810"}
	k := agent.New(agent.Options{Stores: []agent.KeyStore{s}, Now: c.Now})
	defer k.Close()
	var waits []time.Duration
	for i := 0; i < 12; i++ {
		err := k.Unlock(context.Background(), agent.UnlockRequest{PIN: []byte("000000")})
		var te *agent.ThrottledError
		if errors.As(err, &te) {
			t.Fatalf("try %d throttled although the clock moved past every wait", i+1)
		}
		// ask once more at once: refused, and how long it says to wait
		err = k.Unlock(context.Background(), agent.UnlockRequest{PIN: []byte("000000")})
		if errors.As(err, &te) {
			w := te.RetryAt.Sub(c.Now())
			waits = append(waits, w)
			c.Add(w)
		}
	}
	// the first two rounds' second tries are wrong PINs 2 and 3, the third
	// starts the first wait
	want := "[1s 2s 4s 8s 16s 32s 1m0s 1m0s 1m0s 1m0s 1m0s]"
	if got := fmt.Sprint(waits); got != want {
		t.Errorf("waits %s, want %s", got, want)
	}
	if n := s.logins.Load(); n != 13 {
		t.Errorf("%d logins, want 13 (the two free second tries, then one per waited-for try)", n)
	}
}

// TestPINErrorNeverMinusOne: a token that does not say how many tries are
// left gets a sentence, not -1.
func TestPINErrorNeverMinusOne(t *testing.T) {
	for _, e := range []error{&agent.PINError{Retries: -1}, &agent.ThrottledError{Retries: -1, RetryAt: time.Now(), Wait: time.Second}} {
		if msg := e.Error(); strings.Contains(msg, "-1") || !strings.Contains(msg, "does not report how many tries are left") {
			t.Errorf("message %q", msg)
		}
	}
	if msg := (&agent.PINError{Retries: 2}).Error(); !strings.Contains(msg, "2 tries left") {
		t.Errorf("message %q does not say 2 tries left", msg)
	}
	if err := (&agent.ThrottledError{Retries: 0}); !errors.Is(err, agent.ErrPINBlocked) {
		t.Error("a throttled PIN with no tries left is not ErrPINBlocked")
	}
}

// TestSignRefusedWhileLockedBySoftwareStore: the lock is the agent's own
// promise. A backend that would sign anyway (a software store whose
// Logout forgets nothing) is not asked once the agent is locked.
func TestSignRefusedWhileLockedBySoftwareStore(t *testing.T) {
	s := &softStore{name: "soft", pin: "246810", in: true, ignoreLogout: true}
	k := agent.New(agent.Options{Stores: []agent.KeyStore{s}})
	defer k.Close()
	ctx := context.Background()
	deleg, err := k.Generate(ctx, agent.GenerateRequest{KeyMeta: agent.KeyMeta{Role: agent.RoleDelegation, Name: "jeff"}})
	if err != nil {
		t.Fatal(err)
	}
	root, err := k.Generate(ctx, agent.GenerateRequest{KeyMeta: agent.KeyMeta{Role: agent.RoleRoot, Name: "root"}})
	if err != nil {
		t.Fatal(err)
	}
	req := agent.SignRequest{KeyID: deleg.ID, GUN: agenttest.GUN, Role: "targets/releases", Data: agenttest.TargetsJSON("v1")}
	if _, err := k.Sign(ctx, req); err != nil {
		t.Fatalf("Sign while unlocked: %v", err)
	}
	if err := k.Lock(ctx); err != nil {
		t.Fatal(err)
	}
	signs := s.signs.Load()
	if _, err := k.Sign(ctx, req); !errors.Is(err, agent.ErrLocked) {
		t.Fatalf("Sign after Lock: %v, want ErrLocked", err)
	}
	if _, err := k.CertifyRoot(ctx, agent.CertifyRequest{KeyID: root.ID, GUN: agenttest.GUN}); !errors.Is(err, agent.ErrLocked) {
		t.Fatalf("CertifyRoot after Lock: %v, want ErrLocked", err)
	}
	if _, err := k.Generate(ctx, agent.GenerateRequest{KeyMeta: agent.KeyMeta{Role: agent.RoleDelegation, Name: "new"}, Backend: "soft"}); !errors.Is(err, agent.ErrLocked) {
		t.Fatalf("Generate on a named backend after Lock: %v, want ErrLocked", err)
	}
	if n := s.signs.Load() - signs; n != 0 {
		t.Fatalf("the locked agent used the key %d times", n)
	}
	if st, _ := k.Status(ctx); !st.Locked || !st.Backends[0].Locked {
		t.Errorf("Status after Lock: %+v, want locked", st)
	}
	if err := k.Unlock(ctx, agent.UnlockRequest{PIN: []byte("246810")}); err != nil {
		t.Fatalf("Unlock: %v", err)
	}
	if _, err := k.Sign(ctx, req); err != nil {
		t.Fatalf("Sign after Unlock: %v", err)
	}
}

// TestLongNameRefusedBeforeTheToken: a 10 KiB key name, or a name just
// over the limit, never reaches the token.
func TestLongNameRefusedBeforeTheToken(t *testing.T) {
	tok := softhsmtest.New(t, "246810")
	store, err := pkcs11.Open(tok.URI())
	if err != nil {
		t.Fatal(err)
	}
	cs := &countingStore{KeyStore: store}
	k := agent.New(agent.Options{Stores: []agent.KeyStore{cs}})
	defer k.Close()
	ctx := context.Background()
	for _, name := range []string{strings.Repeat("a", 10<<10), strings.Repeat("a", agent.MaxNameBytes+1)} {
		_, err := k.Generate(ctx, agent.GenerateRequest{KeyMeta: agent.KeyMeta{Role: agent.RoleDelegation, Name: name}})
		if !errors.Is(err, agent.ErrInvalidRequest) || !strings.Contains(err.Error(), "at most 64 bytes") {
			t.Fatalf("Generate with a %d-byte name: %v, want ErrInvalidRequest naming the limit", len(name), err)
		}
		if len(err.Error()) > 500 {
			t.Errorf("the error repeats the name: %d bytes", len(err.Error()))
		}
		_, err = k.Import(ctx, agent.ImportRequest{KeyMeta: agent.KeyMeta{Role: agent.RoleDelegation, Name: name}, PKCS8: []byte("x")})
		if !errors.Is(err, agent.ErrInvalidRequest) {
			t.Fatalf("Import with a %d-byte name: %v", len(name), err)
		}
	}
	gun := "example.com/" + strings.Repeat("a", 250)
	_, err = k.Generate(ctx, agent.GenerateRequest{KeyMeta: agent.KeyMeta{Role: agent.RoleTargets, Name: "repo", GUN: gun}})
	if !errors.Is(err, agent.ErrInvalidRequest) {
		t.Fatalf("Generate bound to a %d-byte GUN: %v", len(gun), err)
	}
	if n := cs.generates.Load(); n != 0 {
		t.Fatalf("%d keys generated on the token", n)
	}
	if agent.ValidName(strings.Repeat("a", agent.MaxNameBytes+1)) || !agent.ValidName(strings.Repeat("a", agent.MaxNameBytes)) {
		t.Errorf("ValidName does not draw the line at %d bytes", agent.MaxNameBytes)
	}
	if _, err := k.Generate(ctx, agent.GenerateRequest{KeyMeta: agent.KeyMeta{Role: agent.RoleDelegation, Name: strings.Repeat("a", agent.MaxNameBytes)}}); err != nil {
		t.Fatalf("a name of exactly %d bytes: %v", agent.MaxNameBytes, err)
	}
}

// TestRootCertificatesBounded: certify-root for made-up repositories
// stops at the per-key limit, with an error naming it and the way out;
// repositories already certified still get theirs, and every call is
// audited.
func TestRootCertificatesBounded(t *testing.T) {
	s := &softStore{name: "soft", pin: "246810", in: true}
	audit := &eventLog{}
	k := agent.New(agent.Options{Stores: []agent.KeyStore{s}, Audit: audit})
	defer k.Close()
	ctx := context.Background()
	root, err := k.Generate(ctx, agent.GenerateRequest{KeyMeta: agent.KeyMeta{Role: agent.RoleRoot, Name: "root"}})
	if err != nil {
		t.Fatal(err)
	}
	gun := func(i int) string { return fmt.Sprintf("example.com/made-up/app%d", i) }
	for i := 0; i < agent.MaxRootCertificates; i++ {
		if _, err := k.CertifyRoot(ctx, agent.CertifyRequest{KeyID: root.ID, GUN: gun(i)}); err != nil {
			t.Fatalf("certificate %d: %v", i+1, err)
		}
	}
	_, err = k.CertifyRoot(ctx, agent.CertifyRequest{KeyID: root.ID, GUN: gun(agent.MaxRootCertificates)})
	if !errors.Is(err, agent.ErrDenied) || !strings.Contains(err.Error(), "100 repositories") || !strings.Contains(err.Error(), "another root key") {
		t.Fatalf("certificate %d: %v, want a refusal naming the limit and the way out", agent.MaxRootCertificates+1, err)
	}
	if n := s.certCount(); n != agent.MaxRootCertificates {
		t.Fatalf("%d certificates stored, want %d", n, agent.MaxRootCertificates)
	}
	if _, err := k.CertifyRoot(ctx, agent.CertifyRequest{KeyID: root.ID, GUN: gun(7)}); err != nil {
		t.Fatalf("a repository already certified: %v", err)
	}
	ok, refused := audit.count("certify-root")
	if ok != agent.MaxRootCertificates+1 || refused != 1 {
		t.Fatalf("audit: %d ok, %d refused certify-root lines", ok, refused)
	}
}

// eventLog keeps the audit events.
type eventLog struct {
	mu sync.Mutex
	ev []agent.Event
}

func (l *eventLog) Record(e agent.Event) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.ev = append(l.ev, e)
	return nil
}

func (l *eventLog) count(op string) (ok, refused int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, e := range l.ev {
		if e.Op != op {
			continue
		}
		if e.Result == "ok" {
			ok++
		} else {
			refused++
		}
	}
	return ok, refused
}

// softStore is a software KeyStore: it checks a PIN, signs with keys in
// memory and stores certificates, and, with ignoreLogout, keeps signing
// after Logout (what a careless backend would do).
type softStore struct {
	name         string
	pin          string
	ignoreLogout bool

	mu     sync.Mutex
	in     bool
	keys   []agent.Key
	logins atomic.Int64
	signs  atomic.Int64
}

func (s *softStore) Name() string { return s.name }
func (s *softStore) Kind() string { return "soft" }
func (s *softStore) Keys() ([]agent.Key, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]agent.Key, len(s.keys))
	for i, k := range s.keys {
		out[i] = k
		out[i].Certs = append([]agent.Cert(nil), k.Certs...)
	}
	return out, nil
}

func (s *softStore) Generate(meta agent.KeyMeta, _ string, _ int) (agent.Key, error) {
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return agent.Key{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	k := agent.Key{Signer: &countingSigner{priv, &s.signs}, Meta: meta, Location: s.name, Handle: []byte{byte(len(s.keys))}}
	s.keys = append(s.keys, k)
	return k, nil
}

func (s *softStore) Import(agent.KeyMeta, crypto.Signer) (agent.Key, error) {
	return agent.Key{}, agent.ErrInvalidRequest
}

func (s *softStore) StoreCertificate(id []byte, gun string, der []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := &s.keys[id[0]]
	for i, c := range k.Certs {
		if c.GUN == gun {
			k.Certs[i].DER = der
			return nil
		}
	}
	k.Certs = append(k.Certs, agent.Cert{GUN: gun, DER: der})
	return nil
}

func (s *softStore) certCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, k := range s.keys {
		n += len(k.Certs)
	}
	return n
}

func (s *softStore) Login(pin []byte) error {
	s.logins.Add(1)
	if string(pin) != s.pin {
		return &agent.PINError{Retries: -1}
	}
	s.mu.Lock()
	s.in = true
	s.mu.Unlock()
	return nil
}

func (s *softStore) Logout() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.ignoreLogout {
		s.in = false
	}
	return nil
}

func (s *softStore) Locked() bool { s.mu.Lock(); defer s.mu.Unlock(); return !s.in }
func (s *softStore) Close() error { return nil }

// countingSigner signs in software whatever the store's state, counting.
type countingSigner struct {
	*ecdsa.PrivateKey
	n *atomic.Int64
}

func (c *countingSigner) Sign(r io.Reader, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	c.n.Add(1)
	return c.PrivateKey.Sign(r, digest, opts)
}

// TestUnlockWipesPIN: the agent keeps no copy of a PIN it was given,
// whether the PIN was right, wrong, or refused by the throttle.
func TestUnlockWipesPIN(t *testing.T) {
	c := newClock()
	s := &softStore{name: "soft", pin: "246810"}
	k := agent.New(agent.Options{Stores: []agent.KeyStore{s}, Now: c.Now})
	defer k.Close()
	for i, p := range []string{"000000", "000000", "000000", "246810", "246810"} {
		if i == 4 {
			c.Add(time.Minute)
		}
		pin := []byte(p)
		err := k.Unlock(context.Background(), agent.UnlockRequest{PIN: pin})
		if strings.Trim(string(pin), "\x00") != "" {
			t.Errorf("try %d (%v): the PIN's bytes are still there", i+1, err)
		}
	}
	if s.Locked() {
		t.Error("the right PIN after the wait did not unlock")
	}
}

// TestLongGUNRefusedForEveryRole: the repository a request claims is
// bounded whatever the key's role; a delegation key (bound to no
// repository) signed for a 10 KiB claim, which then went to the audit log.
func TestLongGUNRefusedForEveryRole(t *testing.T) {
	s := &softStore{name: "soft", pin: "246810", in: true}
	k := agent.New(agent.Options{Stores: []agent.KeyStore{s}})
	defer k.Close()
	ctx := context.Background()
	deleg, err := k.Generate(ctx, agent.GenerateRequest{KeyMeta: agent.KeyMeta{Role: agent.RoleDelegation, Name: "jeff"}})
	if err != nil {
		t.Fatal(err)
	}
	for _, gun := range []string{strings.Repeat("a", 10<<10), "example.com/" + strings.Repeat("a", 250), ""} {
		_, err := k.Sign(ctx, agent.SignRequest{KeyID: deleg.ID, GUN: gun, Role: "targets/releases", Data: agenttest.TargetsJSON()})
		if !errors.Is(err, agent.ErrDenied) {
			t.Errorf("a delegation key signing for a %d-byte repository name: %v, want ErrDenied", len(gun), err)
		}
	}
	if n := s.signs.Load(); n != 0 {
		t.Fatalf("%d signatures", n)
	}
}
