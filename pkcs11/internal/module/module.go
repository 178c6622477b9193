//go:build cgo

package module

import (
	"errors"
	"fmt"
	"path/filepath"
	"sync"

	"github.com/miekg/pkcs11"
)

// Module is an initialized PKCS#11 module shared by the whole process.
// Its Ctx is safe for concurrent use (C_Initialize is called with
// CKF_OS_LOCKING_OK); sessions are not, and are the caller's business.
type Module struct {
	Ctx  *pkcs11.Ctx
	path string // resolved path, the registry key

	refs int // guarded by mu
	// ours is false when someone else in the process had already
	// initialized the module: then Finalize is theirs to call.
	ours bool
}

var (
	mu       sync.Mutex
	registry = map[string]*Module{} // initialized modules in use
	// loaded keeps every library ever loaded, initialized or not: see
	// Release for why we never unload one.
	loaded = map[string]*pkcs11.Ctx{}
)

// Acquire returns the module at path, loading and initializing it on first
// use. path must be absolute; symlinks are resolved so two names of one
// library share one context (dlopen would hand back the same library, and
// a second C_Initialize would fail). Every Acquire needs a Release.
func Acquire(path string) (*Module, error) {
	if !filepath.IsAbs(path) {
		return nil, fmt.Errorf("pkcs11: module path %q is not absolute", path)
	}
	real, err := filepath.EvalSymlinks(path)
	if err != nil {
		return nil, fmt.Errorf("pkcs11: module %s: %w", path, err)
	}
	mu.Lock()
	defer mu.Unlock()
	if m := registry[real]; m != nil {
		m.refs++
		return m, nil
	}
	ctx := loaded[real]
	if ctx == nil {
		ctx = pkcs11.New(real)
		if ctx == nil {
			return nil, fmt.Errorf("pkcs11: cannot load module %s: not a PKCS#11 library, or it failed to load", path)
		}
		loaded[real] = ctx
	}
	m := &Module{Ctx: ctx, path: real, refs: 1, ours: true}
	if err := ctx.Initialize(); err != nil {
		// CKR_CRYPTOKI_ALREADY_INITIALIZED: another library in this
		// process initialized the module behind our back. Its context is
		// usable; we just must not finalize it.
		if !errors.Is(err, pkcs11.Error(pkcs11.CKR_CRYPTOKI_ALREADY_INITIALIZED)) {
			return nil, fmt.Errorf("pkcs11: initialize module %s: %w", path, err)
		}
		m.ours = false
	}
	registry[real] = m
	return m, nil
}

// Release drops one reference; the last one finalizes the module. The
// library stays loaded (no dlclose): unloading SoftHSM and OpenSSL
// underneath it is a known source of crashes at exit, and a later
// Acquire simply initializes it again.
func (m *Module) Release() error {
	mu.Lock()
	defer mu.Unlock()
	if m.refs <= 0 {
		return errors.New("pkcs11: module released more often than acquired")
	}
	m.refs--
	if m.refs > 0 {
		return nil
	}
	delete(registry, m.path)
	if !m.ours {
		return nil
	}
	if err := m.Ctx.Finalize(); err != nil {
		return fmt.Errorf("pkcs11: finalize module %s: %w", m.path, err)
	}
	return nil
}

// Path is the resolved path of the module's library.
func (m *Module) Path() string { return m.path }
