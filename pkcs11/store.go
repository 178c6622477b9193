//go:build cgo

package pkcs11

import (
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"

	"github.com/miekg/pkcs11"

	"github.com/trust-agent/trust-agent/agent"
	"github.com/trust-agent/trust-agent/internal/uri"
	"github.com/trust-agent/trust-agent/pkcs11/internal/module"
)

var _ agent.KeyStore = (*Store)(nil)

// Store is one PKCS#11 token. All methods, except Close, are safe to call
// from multiple goroutines; Close waits for operations in flight.
type Store struct {
	mod   *module.Module
	p     *pkcs11.Ctx
	slot  uint
	label string // the token's label, for locations and messages
	name  string // display URI of the token
	// token selects this very token again (label, serial, manufacturer,
	// model) when it comes back after removal; see reattachLocked.
	token uri.URI

	// mu is held for reading by every operation and for writing by Login,
	// Logout and Close, so those never run beside a signature.
	mu     sync.RWMutex
	closed bool
	// base stays open from Open to Close, only so the token's login state
	// outlives pool sessions: PKCS#11 logs the application out when its
	// last session on a token closes.
	base pkcs11.SessionHandle
	pool *pool

	handles handleCache
	bound   bindings // (id, label, public key) checked against private objects

	log    *slog.Logger // nil means slog.Default()
	warnMu sync.Mutex
	warned map[string]bool // warnings already logged, so each shows once
}

// SetLogger sets where the store reports what it leaves out of a listing
// (keys whose objects were tampered with). The default is slog.Default().
// Call it before the store is used.
func (s *Store) SetLogger(l *slog.Logger) { s.log = l }

func (s *Store) logger() *slog.Logger {
	if s.log != nil {
		return s.log
	}
	return slog.Default()
}

// Open opens the token that uriString names (RFC 7512: token=, serial=,
// manufacturer=, model=; id=, object= and type= are ignored) through the
// module at its module-path. With pin-source it logs in at once; without,
// the store starts locked. Slot ids are never used: they change when
// tokens are initialised or plugged in.
func Open(uriString string) (*Store, error) {
	u, err := uri.Parse(uriString)
	if err != nil {
		return nil, fmt.Errorf("pkcs11: %w", err)
	}
	return open(u, defaultSessions)
}

func open(u uri.URI, sessions int) (*Store, error) {
	if u.ModulePath == "" {
		return nil, fmt.Errorf("pkcs11: %s has no module-path: add ?module-path=/absolute/path/to/module.so", u)
	}
	pin, err := u.ReadPIN() // before loading anything: fail fast on a bad pin-source
	if err != nil {
		return nil, fmt.Errorf("pkcs11: %w", err)
	}
	defer clear(pin)
	mod, err := module.Acquire(u.ModulePath)
	if err != nil {
		return nil, err
	}
	slot, ti, err := findToken(mod.Ctx, u)
	if err != nil {
		mod.Release()
		return nil, err
	}
	s := &Store{
		mod:   mod,
		p:     mod.Ctx,
		slot:  slot,
		label: ti.Label,
		name:  uri.URI{Token: ti.Label, Serial: ti.SerialNumber}.String(),
		token: uri.URI{Token: ti.Label, Serial: ti.SerialNumber, Manufacturer: ti.ManufacturerID, Model: ti.Model, ModulePath: u.ModulePath},
	}
	s.base, err = s.p.OpenSession(slot, pkcs11.CKF_SERIAL_SESSION)
	if err != nil {
		mod.Release()
		return nil, wrap("open session on token "+ti.Label, err)
	}
	s.pool = newPool(s.p, slot, min(sessions, sessionLimit(ti)))
	if pin != nil {
		if err := s.Login(pin); err != nil {
			s.Close()
			return nil, err
		}
	}
	return s, nil
}

// sessionLimit leaves room for the base session under the token's own
// limit. CK_EFFECTIVELY_INFINITE (0) and CK_UNAVAILABLE_INFORMATION (~0)
// mean no limit we can use.
func sessionLimit(ti pkcs11.TokenInfo) int {
	const unavailable = ^uint(0)
	if ti.MaxSessionCount == 0 || ti.MaxSessionCount == unavailable || ti.MaxSessionCount > 1<<16 {
		return defaultSessions
	}
	return max(1, int(ti.MaxSessionCount)-1)
}

// findToken finds the one initialised token matching u's token attributes.
func findToken(p *pkcs11.Ctx, u uri.URI) (uint, pkcs11.TokenInfo, error) {
	slots, err := p.GetSlotList(true)
	if err != nil {
		return 0, pkcs11.TokenInfo{}, wrap("list slots", err)
	}
	var (
		found   []uint
		infos   []pkcs11.TokenInfo
		present []string
	)
	for _, slot := range slots {
		ti, err := p.GetTokenInfo(slot)
		if err != nil || ti.Flags&pkcs11.CKF_TOKEN_INITIALIZED == 0 {
			continue // SoftHSM always offers one uninitialised token
		}
		// Some tokens pad CK_TOKEN_INFO strings with NULs, not spaces.
		ti.Label = strings.TrimRight(ti.Label, " \x00")
		ti.SerialNumber = strings.TrimRight(ti.SerialNumber, " \x00")
		ti.ManufacturerID = strings.TrimRight(ti.ManufacturerID, " \x00")
		ti.Model = strings.TrimRight(ti.Model, " \x00")
		present = append(present, fmt.Sprintf("%q", ti.Label))
		if matches(u, ti) {
			found = append(found, slot)
			infos = append(infos, ti)
		}
	}
	switch len(found) {
	case 1:
		return found[0], infos[0], nil
	case 0:
		have := "no initialised tokens"
		if len(present) > 0 {
			have = "tokens present: " + strings.Join(present, ", ")
		}
		return 0, pkcs11.TokenInfo{}, fmt.Errorf("pkcs11: no token %s in module %s (%s); check `softhsm2-util --show-slots` or `pkcs11-tool --module %s --list-token-slots`: %w",
			describe(u), u.ModulePath, have, u.ModulePath, agent.ErrDeviceUnavailable)
	default:
		return 0, pkcs11.TokenInfo{}, fmt.Errorf("pkcs11: %d tokens match %s in module %s; add serial= to the URI to pick one",
			len(found), describe(u), u.ModulePath)
	}
}

func matches(u uri.URI, ti pkcs11.TokenInfo) bool {
	return (u.Token == "" || u.Token == ti.Label) &&
		(u.Serial == "" || u.Serial == ti.SerialNumber) &&
		(u.Manufacturer == "" || u.Manufacturer == ti.ManufacturerID) &&
		(u.Model == "" || u.Model == ti.Model)
}

// describe names the token u asks for, for error messages.
func describe(u uri.URI) string {
	var parts []string
	add := func(what, v string) {
		if v != "" {
			parts = append(parts, fmt.Sprintf("%s %q", what, v))
		}
	}
	add("with label", u.Token)
	add("serial", u.Serial)
	add("manufacturer", u.Manufacturer)
	add("model", u.Model)
	if len(parts) == 0 {
		return "(the URI names none)"
	}
	return strings.Join(parts, ", ")
}

// Name is the token's URI, by label and serial, without secrets.
func (s *Store) Name() string { return s.name }

// Kind is "pkcs11".
func (s *Store) Kind() string { return "pkcs11" }

// Login logs in as the user. A wrong PIN returns an error wrapping
// *agent.PINError.
//
// Login state belongs to the process, not to a Store: PKCS#11 shares one
// login among all sessions of an application on a token. So if another
// Store in this process is logged in to the same token, Login succeeds
// without checking pin (SoftHSM answers even a wrong PIN with
// CKR_USER_ALREADY_LOGGED_IN then), and Logout on either logs both out.
func (s *Store) Login(pin []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.reattachLocked(); err != nil {
		return err
	}
	err := s.p.Login(s.base, pkcs11.CKU_USER, string(pin))
	lerr := loginResult(s.label, err, s.retries)
	if lerr == nil {
		s.handles.reset() // private objects just became visible
		s.bound.reset()
	}
	return lerr
}

// loginResult maps what C_Login answered to the Store's error: nil for
// success (or already logged in), *agent.PINError for a PIN the token
// refused, with the tries left from retries (read only then) or 0 when
// the token says the PIN is blocked.
func loginResult(label string, err error, retries func() int) error {
	code, _ := rv(err)
	switch {
	case err == nil, code == pkcs11.CKR_USER_ALREADY_LOGGED_IN:
		return nil
	case code == pkcs11.CKR_PIN_INCORRECT, code == pkcs11.CKR_PIN_LEN_RANGE:
		// CKR_PIN_LEN_RANGE: the PIN cannot be right; to the user it is
		// just as wrong, and tokens do not count it as a try.
		return fmt.Errorf("pkcs11: log in to token %q: %w", label, &agent.PINError{Retries: retries()})
	case code == pkcs11.CKR_PIN_LOCKED:
		return fmt.Errorf("pkcs11: log in to token %q: %w", label, &agent.PINError{Retries: 0})
	}
	return wrap(fmt.Sprintf("log in to token %q", label), err)
}

// retries reads what the token says about tries left after a wrong PIN
// (see retriesFromFlags); -1 when it cannot be read.
func (s *Store) retries() int {
	ti, err := s.p.GetTokenInfo(s.slot)
	if err != nil {
		return -1
	}
	return retriesFromFlags(ti.Flags)
}

// retriesFromFlags turns a token's flags into tries left: 0 blocked
// (CKF_USER_PIN_LOCKED), 1 for the final try (CKF_USER_PIN_FINAL_TRY), -1
// when the flags do not say. PKCS#11 has no counter, only these flags;
// CKF_USER_PIN_COUNT_LOW means only that a wrong PIN was entered since
// the last login, not how many tries are left, so it too gives -1.
// SoftHSM 2.6 sets COUNT_LOW after every wrong PIN and clears it at the
// next login; it never sets FINAL_TRY or LOCKED (it has no retry counter).
func retriesFromFlags(flags uint) int {
	switch {
	case flags&pkcs11.CKF_USER_PIN_LOCKED != 0:
		return 0
	case flags&pkcs11.CKF_USER_PIN_FINAL_TRY != 0:
		return 1
	}
	return -1
}

// Logout logs out. The Store never kept the PIN, so there is nothing else
// to forget: unlocking again needs the PIN again.
func (s *Store) Logout() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.reattachLocked(); err != nil {
		if errors.Is(err, agent.ErrDeviceUnavailable) {
			return nil // the token is gone, and the login with it
		}
		return err
	}
	s.handles.reset()
	err := s.p.Logout(s.base)
	if err == nil || isRV(err, pkcs11.CKR_USER_NOT_LOGGED_IN) {
		return nil
	}
	return wrap(fmt.Sprintf("log out of token %q", s.label), err)
}

// Locked reports whether the process is logged out of the token (see
// Login), or the token cannot be reached.
//
// A base session the token invalidated (see reattachLocked) means locked,
// and Locked reopens it if the token is back, so that Login can work.
func (s *Store) Locked() bool {
	s.mu.RLock()
	if s.closed {
		s.mu.RUnlock()
		return true
	}
	si, err := s.p.GetSessionInfo(s.base)
	s.mu.RUnlock()
	if err != nil {
		if code, ok := rv(err); ok && sessionLost(code) {
			s.recover()
		}
		return true
	}
	return si.State != pkcs11.CKS_RO_USER_FUNCTIONS && si.State != pkcs11.CKS_RW_USER_FUNCTIONS
}

// recover reopens the base session if the token invalidated it, and
// reports whether it did.
func (s *Store) recover() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	before := s.base
	return s.reattachLocked() == nil && s.base != before
}

// sessionLost is true for codes that say a session handle is dead for good:
// the token was removed (or every session of ours closed), so only a new
// session on the token, wherever it is now, can help.
func sessionLost(code uint) bool {
	switch code {
	case pkcs11.CKR_SESSION_HANDLE_INVALID, pkcs11.CKR_SESSION_CLOSED,
		pkcs11.CKR_DEVICE_REMOVED, pkcs11.CKR_TOKEN_NOT_PRESENT,
		pkcs11.CKR_TOKEN_NOT_RECOGNIZED, pkcs11.CKR_SLOT_ID_INVALID:
		return true
	}
	return false
}

// reattachLocked checks the base session and, if the token invalidated it
// (removed and re-inserted, or every session of this process on the slot
// closed), finds the token again by label and serial (its slot id may have
// changed) and opens a new base session and pool. The caller holds mu for
// writing, so no operation is in flight.
//
// The login is not restored: it went with the old sessions, and the Store
// never keeps the PIN (we do not remember one to log in again behind the
// user's back). So the store is locked afterwards and the user unlocks
// again, as after Lock. A token still absent answers ErrDeviceUnavailable,
// and the next call tries again.
func (s *Store) reattachLocked() error {
	if s.closed {
		return errClosed
	}
	_, err := s.p.GetSessionInfo(s.base)
	if code, ok := rv(err); err == nil || !ok || !sessionLost(code) {
		return nil
	}
	s.pool.close()
	s.p.CloseSession(s.base) // best effort: it is dead already
	slot, _, err := findToken(s.p, s.token)
	if err != nil {
		return err
	}
	base, err := s.p.OpenSession(slot, pkcs11.CKF_SERIAL_SESSION)
	if err != nil {
		return wrap("reopen session on token "+s.label, err)
	}
	s.slot, s.base = slot, base
	s.pool = newPool(s.p, slot, cap(s.pool.sem))
	s.handles.reset()
	s.bound.reset()
	s.logger().Info("pkcs11: token is back; its login was lost with its sessions: unlock again", "token", s.label)
	return nil
}

// loggedIn asks the token about the login state behind session sh.
func (s *Store) loggedIn(sh pkcs11.SessionHandle) bool {
	si, err := s.p.GetSessionInfo(sh)
	return err == nil && (si.State == pkcs11.CKS_RO_USER_FUNCTIONS || si.State == pkcs11.CKS_RW_USER_FUNCTIONS)
}

// Close closes the store's sessions and releases the module (finalizing it
// when this was its last user). Closing the last sessions logs the process
// out of the token.
func (s *Store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	s.pool.close()
	s.p.CloseSession(s.base) // may fail if the token is gone; nothing to do then
	return s.mod.Release()
}

// session runs f with a pooled session under the read lock; f's error
// decides whether the session is fit for reuse. If f (or opening the
// session) fails because the token dropped our sessions, session reopens
// them (reattachLocked) and, if that worked, runs f once more: nothing
// happened on the token through a dead session, and the second run gives
// the true answer (often agent.ErrLocked: the login went with the token).
func (s *Store) session(f func(sh pkcs11.SessionHandle) error) error {
	err := s.sessionOnce(f)
	if code, ok := rv(err); ok && sessionLost(code) && s.recover() {
		err = s.sessionOnce(f)
	}
	return err
}

func (s *Store) sessionOnce(f func(sh pkcs11.SessionHandle) error) error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return errClosed
	}
	sh, err := s.pool.get()
	if err != nil {
		return err
	}
	err = f(sh)
	s.pool.put(sh, err)
	return err
}

// requireLogin fails with agent.ErrLocked unless the process is logged in:
// the agent's lock is a promise to the user, so we check it ourselves
// rather than rely on the token refusing private objects.
func (s *Store) requireLogin(sh pkcs11.SessionHandle, op string) error {
	si, err := s.p.GetSessionInfo(sh)
	if err != nil {
		return wrap(op, err) // a dead session: let session() find out
	}
	if si.State != pkcs11.CKS_RO_USER_FUNCTIONS && si.State != pkcs11.CKS_RW_USER_FUNCTIONS {
		return fmt.Errorf("pkcs11: %s: token %q: %w", op, s.label, agent.ErrLocked)
	}
	return nil
}
