// Package uri parses RFC 7512 PKCS#11 URIs, the way a user names a token,
// a key on it, the module that drives it and where its PIN lives:
//
//	pkcs11:token=dct;id=%01%02?module-path=/usr/lib/softhsm/libsofthsm2.so&pin-source=file:/run/user/1000/pin
//
// # Security
//
// Only pin-source is accepted for a PIN. pin-value is refused: command lines
// and URIs end up in ps output, shell history and logs, readable by every
// user on the machine. module-path must be an absolute path to a regular
// file, so a module is never looked up through the library search path.
// String renders a URI for display and never includes pin-source. A
// pin-source file must be readable and writable by its owner only (chmod
// 600) and belong to the user reading it, or to root.
package uri

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/trust-agent/trust-agent/internal/secretfile"
)

// Scheme is the URI scheme, with its colon.
const Scheme = "pkcs11:"

// maxPINFileBytes caps what ReadPIN reads: PINs are short (tokens allow
// a few dozen bytes at most), and a pin-source pointing at a large file
// is a mistake we should report rather than slurp.
const maxPINFileBytes = 1024

// Object types RFC 7512 defines for the type attribute.
const (
	TypePublic    = "public"
	TypePrivate   = "private"
	TypeCert      = "cert"
	TypeSecretKey = "secret-key"
	TypeData      = "data"
)

// URI is a parsed PKCS#11 URI. Empty fields were absent.
type URI struct {
	// Token selectors (path attributes), matched against CK_TOKEN_INFO.
	Token        string // token label
	Serial       string
	Manufacturer string
	Model        string

	// Object selectors (path attributes).
	ID     []byte // CKA_ID, percent-decoded bytes
	Object string // CKA_LABEL
	Type   string // one of the Type constants

	// Query attributes.
	ModulePath string // absolute path to a regular file
	PINSource  string // absolute path of a file holding the PIN
}

// Parse parses s. It checks that module-path names an existing regular file
// by absolute path, and that pin-source is an absolute file path; it does
// not read the PIN (see ReadPIN).
func Parse(s string) (URI, error) {
	var u URI
	rest, ok := strings.CutPrefix(s, Scheme)
	if !ok {
		return u, fmt.Errorf("uri: %q does not start with %q", display(s), Scheme)
	}
	path, query, _ := strings.Cut(rest, "?")
	if err := u.parsePath(path); err != nil {
		return URI{}, err
	}
	if err := u.parseQuery(query); err != nil {
		return URI{}, err
	}
	return u, nil
}

func (u *URI) parsePath(path string) error {
	seen := map[string]bool{}
	for _, attr := range strings.Split(path, ";") {
		if attr == "" {
			continue // "pkcs11:" and a trailing ";" are harmless
		}
		name, raw, ok := strings.Cut(attr, "=")
		if !ok {
			return fmt.Errorf("uri: path attribute %q has no '='", attr)
		}
		// RFC 7512 section 2.3: an attribute must not repeat in the path.
		if seen[name] {
			return fmt.Errorf("uri: path attribute %q appears twice", name)
		}
		seen[name] = true
		val, err := unescape(raw)
		if err != nil {
			return fmt.Errorf("uri: attribute %s: %w", name, err)
		}
		switch name {
		case "token":
			u.Token = string(val)
		case "serial":
			u.Serial = string(val)
		case "manufacturer":
			u.Manufacturer = string(val)
		case "model":
			u.Model = string(val)
		case "id":
			u.ID = val
		case "object":
			u.Object = string(val)
		case "type":
			switch t := string(val); t {
			case TypePublic, TypePrivate, TypeCert, TypeSecretKey, TypeData:
				u.Type = t
			default:
				return fmt.Errorf("uri: type %q is not one of public, private, cert, secret-key, data", t)
			}
		case "slot-id", "slot-description", "slot-manufacturer":
			// Refused rather than ignored: slot ids change when tokens are
			// initialised or plugged in, and ignoring a selector could pick
			// the wrong token.
			return fmt.Errorf("uri: attribute %s is not supported: name the token by token=, serial= or manufacturer=", name)
		default:
			// Unknown attributes are refused too: a typo such as "tokne="
			// must not silently match every token.
			return fmt.Errorf("uri: unsupported path attribute %q", name)
		}
	}
	return nil
}

func (u *URI) parseQuery(query string) error {
	seen := map[string]bool{}
	for _, attr := range strings.Split(query, "&") {
		if attr == "" {
			continue
		}
		name, raw, _ := strings.Cut(attr, "=")
		if seen[name] {
			return fmt.Errorf("uri: query attribute %q appears twice", name)
		}
		seen[name] = true
		switch name {
		case "pin-value":
			// The value is deliberately not echoed.
			return errors.New("uri: pin-value is refused: command lines and URIs are visible to every user on the machine " +
				"(ps, shell history, logs); put the PIN in a file readable only by you and use pin-source=file:/absolute/path instead")
		case "module-name":
			return errors.New("uri: module-name is refused: name the module by module-path=/absolute/path/to/module.so")
		}
		val, err := unescape(raw)
		if err != nil {
			return fmt.Errorf("uri: attribute %s: %w", name, err)
		}
		switch name {
		case "module-path":
			p := string(val)
			if err := checkModulePath(p); err != nil {
				return err
			}
			u.ModulePath = p
		case "pin-source":
			p, err := pinSourcePath(string(val))
			if err != nil {
				return err
			}
			u.PINSource = p
		default:
			return fmt.Errorf("uri: unsupported query attribute %q", name)
		}
	}
	return nil
}

// checkModulePath insists on an absolute path to a regular file: a bare
// name would be resolved by dlopen through LD_LIBRARY_PATH and the system
// search path, so whoever controls those would choose the code we load.
func checkModulePath(p string) error {
	if !filepath.IsAbs(p) {
		return fmt.Errorf("uri: module-path %q must be an absolute path to a regular file", p)
	}
	fi, err := os.Stat(p) // follows symlinks: distributions symlink modules
	if err != nil {
		return fmt.Errorf("uri: module-path must be an absolute path to a regular file: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("uri: module-path %q must be an absolute path to a regular file, not %s", p, fi.Mode().Type())
	}
	return nil
}

// pinSourcePath accepts "file:/abs/path", "file:///abs/path" and
// "/abs/path". Anything else (a relative path, a command, another host)
// is refused.
func pinSourcePath(v string) (string, error) {
	p := v
	if rest, ok := strings.CutPrefix(v, "file:"); ok {
		p = rest
		if r, ok := strings.CutPrefix(rest, "//"); ok {
			if !strings.HasPrefix(r, "/") {
				return "", fmt.Errorf("uri: pin-source %q names another host; use file:/absolute/path", v)
			}
			p = r
		}
	}
	if !filepath.IsAbs(p) {
		return "", fmt.Errorf("uri: pin-source %q must be file:/absolute/path or an absolute path", v)
	}
	return filepath.Clean(p), nil
}

// ReadPIN returns the PIN from pin-source, without one trailing newline
// ("\n" or "\r\n"), or nil when the URI has no pin-source. It refuses a
// file that group or others may read or write, or that belongs to another
// user (root excepted), saying to chmod 600 it (see checkPINFile).
func (u URI) ReadPIN() ([]byte, error) {
	if u.PINSource == "" {
		return nil, nil
	}
	b, err := secretfile.ReadOptions(u.PINSource, secretfile.Options{What: "PIN", Max: maxPINFileBytes, Check: func(fi fs.FileInfo) error {
		if owner, ok := fileOwner(fi); ok {
			return checkPINFile(u.PINSource, fi.Mode(), owner, os.Geteuid())
		}
		return nil
	}})
	var se *secretfile.Error
	if errors.As(err, &se) {
		switch se.Kind {
		case secretfile.TooLong:
			return nil, fmt.Errorf("uri: pin-source %s is longer than %d bytes; it should hold only the PIN", u.PINSource, maxPINFileBytes)
		case secretfile.Empty:
			return nil, fmt.Errorf("uri: pin-source %s is empty", u.PINSource)
		default:
			return nil, fmt.Errorf("uri: pin-source: %w", se.Err)
		}
	}
	return b, err
}

// checkPINFile refuses a pin-source that others could read or change: any
// group or other permission bit, or an owner other than us (uid self) or
// root. A PIN file anyone else can read is a PIN anyone else knows; one
// they can write lets them choose which PIN we present (and burn the
// token's retries).
func checkPINFile(path string, mode fs.FileMode, owner, self int) error {
	if perm := mode.Perm(); perm&0o077 != 0 {
		return fmt.Errorf("uri: pin-source %s is %s: group or others may read or write it, so the PIN is not secret; run chmod 600 %s", path, perm, path)
	}
	if owner != self && owner != 0 {
		return fmt.Errorf("uri: pin-source %s belongs to user %d, not to this user (%d) or root: whoever owns it can change the PIN we present; "+
			"make it your own file (chown) and chmod 600 it", path, owner, self)
	}
	return nil
}

// display shortens a string that failed to parse for an error message and
// drops any query, which might hold a pin-value.
func display(s string) string {
	s, _, _ = strings.Cut(s, "?")
	if len(s) > 64 {
		s = s[:64] + "..."
	}
	return s
}
