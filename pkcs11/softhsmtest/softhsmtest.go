// Package softhsmtest makes fresh SoftHSM tokens for tests in any package.
//
//	u := softhsmtest.Token(t, "1234")       // opens logged in (pin-source)
//	u := softhsmtest.LockedToken(t, "1234") // opens locked (no pin-source)
//	tok := softhsmtest.New(t, "1234")       // both URIs, the label, the PIN file
//
// # How tokens are made
//
// SoftHSM reads SOFTHSM2_CONF once, at C_Initialize. So on first use this
// package makes one process-wide config and token directory under
// os.TempDir and sets SOFTHSM2_CONF, which must happen before anything in
// the process opens the SoftHSM module: call these helpers before
// pkcs11.Open, as tests naturally do.
//
// Tokens are initialised in-process (C_InitToken, C_InitPIN) through the
// same shared module context the pkcs11 backend uses, not by running
// softhsm2-util: SoftHSM 2.6.1 scans its token directory only at
// C_Initialize, so a token that softhsm2-util makes while the module is
// initialised in this process stays invisible until every Store closes.
// In-process, SoftHSM adds a fresh uninitialised slot whenever the last
// one is used, so any number of tokens can be made while stores are open.
//
// Without SoftHSM (or built without cgo) the helpers skip the test, except
// when CI=true, where a missing SoftHSM fails the test instead of hiding
// it.
//
// # Cleanup
//
// Tokens live until the process exits; a test process leaves its
// directory (softhsmtest-PID-*) behind, and the next process to use this
// package removes directories whose process is gone.
package softhsmtest

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/trust-agent/trust-agent/internal/uri"
)

// modulePaths are where distributions put the SoftHSM module; the
// environment variable SOFTHSM2_MODULE, if set, comes first.
var modulePaths = []string{
	"/usr/lib/softhsm/libsofthsm2.so",                  // Debian, Ubuntu
	"/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so", // Debian multiarch
	"/usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so",
	"/usr/lib64/pkcs11/libsofthsm2.so", // Fedora
	"/usr/local/lib/softhsm/libsofthsm2.so",
	"/opt/homebrew/lib/softhsm/libsofthsm2.so",
}

// Fixture describes a token made for one test.
type Fixture struct {
	Label      string // CKA_LABEL of the token, unique in the process
	PIN        string // user PIN
	SOPIN      string // security officer PIN
	ModulePath string // absolute path of the SoftHSM module
	PINFile    string // 0600 file in t.TempDir() holding PIN
}

// URI is the token's URI with module-path and pin-source: a store opened
// from it logs in at once.
func (f *Fixture) URI() string {
	return uri.URI{Token: f.Label, ModulePath: f.ModulePath, PINSource: f.PINFile}.ConfigString()
}

// LockedURI is the token's URI with module-path and no pin-source: a store
// opened from it starts locked.
func (f *Fixture) LockedURI() string {
	return uri.URI{Token: f.Label, ModulePath: f.ModulePath}.String()
}

// Token makes a fresh token with user PIN pin and returns its URI with
// pin-source (see Fixture.URI).
func Token(t testing.TB, pin string) string {
	t.Helper()
	return New(t, pin).URI()
}

// LockedToken makes a fresh token with user PIN pin and returns its URI
// without pin-source (see Fixture.LockedURI).
func LockedToken(t testing.TB, pin string) string {
	t.Helper()
	return New(t, pin).LockedURI()
}

// New makes a fresh token with user PIN pin.
func New(t testing.TB, pin string) *Fixture {
	t.Helper()
	if !cgoEnabled {
		t.Skip("softhsmtest: built without cgo, so PKCS#11 is unavailable")
	}
	mod := setup(t)
	f := &Fixture{
		Label:      label(t),
		PIN:        pin,
		SOPIN:      randomHex(t, 8),
		ModulePath: mod,
		PINFile:    filepath.Join(t.TempDir(), "pin"),
	}
	if err := initToken(mod, f.Label, f.SOPIN, pin); err != nil {
		unavailable(t, fmt.Sprintf("cannot make a SoftHSM token: %v", err))
	}
	// O_EXCL with mode 0600: the file is never readable by others, not
	// even between creation and a chmod.
	pf, err := os.OpenFile(f.PINFile, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pf.WriteString(pin + "\n"); err != nil {
		t.Fatal(err)
	}
	if err := pf.Close(); err != nil {
		t.Fatal(err)
	}
	return f
}

var (
	setupOnce   sync.Once
	setupModule string
	setupErr    error
	counter     struct {
		sync.Mutex
		n int
	}
)

// setup makes the process-wide config once and returns the module path.
func setup(t testing.TB) string {
	t.Helper()
	setupOnce.Do(func() { setupModule, setupErr = configure() })
	if setupErr != nil {
		unavailable(t, setupErr.Error())
	}
	return setupModule
}

func configure() (string, error) {
	mod := findModule()
	if mod == "" {
		return "", fmt.Errorf("SoftHSM module not found in %s (install softhsm2, or set SOFTHSM2_MODULE)", strings.Join(modulePaths, ", "))
	}
	removeStale()
	dir, err := os.MkdirTemp("", fmt.Sprintf("softhsmtest-%d-", os.Getpid()))
	if err != nil {
		return "", err
	}
	tokens := filepath.Join(dir, "tokens")
	if err := os.Mkdir(tokens, 0o700); err != nil {
		return "", err
	}
	conf := filepath.Join(dir, "softhsm2.conf")
	body := "directories.tokendir = " + tokens + "\nobjectstore.backend = file\nlog.level = ERROR\nslots.removable = false\n"
	if err := os.WriteFile(conf, []byte(body), 0o600); err != nil {
		return "", err
	}
	// Process-wide on purpose (t.Setenv cannot be: it is undone after one
	// test, and SoftHSM reads the variable only at C_Initialize).
	if err := os.Setenv("SOFTHSM2_CONF", conf); err != nil {
		return "", err
	}
	return mod, nil
}

func findModule() string {
	candidates := modulePaths
	if env := os.Getenv("SOFTHSM2_MODULE"); env != "" {
		candidates = append([]string{env}, candidates...)
	}
	for _, p := range candidates {
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() && filepath.IsAbs(p) {
			return p
		}
	}
	return ""
}

// removeStale deletes token directories left by test processes that have
// exited, so repeated test runs do not fill the temporary directory.
func removeStale() {
	dirs, _ := filepath.Glob(filepath.Join(os.TempDir(), "softhsmtest-*-*"))
	for _, d := range dirs {
		fields := strings.SplitN(filepath.Base(d), "-", 3)
		pid, err := strconv.Atoi(fields[1])
		if err != nil || pid == os.Getpid() {
			continue
		}
		if !alive(pid) {
			os.RemoveAll(d)
		}
	}
}

// alive reports whether process pid exists (signal 0 probes without
// sending anything). Unsure means alive: never delete a live process's
// tokens.
func alive(pid int) bool {
	p, err := os.FindProcess(pid)
	if err != nil {
		return false
	}
	err = p.Signal(syscall.Signal(0))
	return !errors.Is(err, os.ErrProcessDone) && !errors.Is(err, syscall.ESRCH)
}

// label is unique in the process (and so in the token directory) and
// carries the test name, which helps when an error names the token.
// CKA_LABEL holds at most 32 bytes.
func label(t testing.TB) string {
	counter.Lock()
	counter.n++
	n := counter.n
	counter.Unlock()
	name := strings.Map(func(r rune) rune {
		if r < 0x21 || r > 0x7e || r == '/' || r == ';' || r == '?' || r == '&' || r == '%' {
			return '_'
		}
		return r
	}, strings.TrimPrefix(t.Name(), "Test"))
	l := fmt.Sprintf("t%d-%s", n, name)
	if len(l) > 32 {
		l = l[:32]
	}
	return l
}

func randomHex(t testing.TB, n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

// unavailable skips the test, or fails it under CI=true, where a missing
// SoftHSM must not pass silently.
func unavailable(t testing.TB, why string) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf("softhsmtest: %s (CI=true, so this fails instead of skipping)", why)
	}
	t.Skipf("softhsmtest: %s", why)
}
