//go:build unix

package uri

import (
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestCheckPINFile(t *testing.T) {
	const self, other = 1000, 1001
	tests := []struct {
		name    string
		mode    fs.FileMode
		owner   int
		self    int
		wantErr string
	}{
		{"0600 own", 0o600, self, self, ""},
		{"0400 own", 0o400, self, self, ""},
		{"0700 own", 0o700, self, self, ""},
		{"0600 root's, read by a user", 0o600, 0, self, ""},
		{"0600 root's, read by root", 0o600, 0, 0, ""},
		{"group read", 0o640, self, self, "chmod 600"},
		{"group write", 0o620, self, self, "chmod 600"},
		{"other read", 0o604, self, self, "chmod 600"},
		{"other write", 0o602, self, self, "chmod 600"},
		{"world readable", 0o644, self, self, "group or others"},
		{"everything", 0o777, self, self, "chmod 600"},
		{"another user's", 0o600, other, self, "belongs to user 1001"},
		{"another user's, read by root", 0o600, other, 0, "belongs to user 1001"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := checkPINFile("/p/pin", tt.mode, tt.owner, tt.self)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("checkPINFile = %v, want nil", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !strings.Contains(err.Error(), "/p/pin") ||
				!strings.HasPrefix(err.Error(), "uri: pin-source") {
				t.Fatalf("checkPINFile = %v, want an error naming /p/pin and containing %q", err, tt.wantErr)
			}
		})
	}
}

// TestReadPINPermissions: ReadPIN applies the check to the real file.
func TestReadPINPermissions(t *testing.T) {
	dir := t.TempDir()
	for _, tt := range []struct {
		mode fs.FileMode
		ok   bool
	}{{0o600, true}, {0o400, true}, {0o640, false}, {0o604, false}, {0o622, false}, {0o644, false}} {
		p := filepath.Join(dir, "pin-"+tt.mode.String())
		if err := os.WriteFile(p, []byte("1234\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, tt.mode); err != nil { // WriteFile's mode is masked by the umask
			t.Fatal(err)
		}
		pin, err := URI{PINSource: p}.ReadPIN()
		if tt.ok && (err != nil || string(pin) != "1234") {
			t.Errorf("mode %v: ReadPIN = %q, %v; want the PIN", tt.mode, pin, err)
		}
		if !tt.ok && (err == nil || !strings.Contains(err.Error(), "chmod 600 "+p) || pin != nil) {
			t.Errorf("mode %v: ReadPIN = %q, %v; want a refusal saying chmod 600", tt.mode, pin, err)
		}
	}
	t.Run("another user's file", func(t *testing.T) {
		if os.Geteuid() != 0 {
			t.Skip("needs root to give a file away")
		}
		p := filepath.Join(dir, "theirs")
		if err := os.WriteFile(p, []byte("1234\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chown(p, 4242, 4242); err != nil {
			t.Fatal(err)
		}
		if _, err := (URI{PINSource: p}).ReadPIN(); err == nil || !strings.Contains(err.Error(), "belongs to user 4242") {
			t.Errorf("ReadPIN of another user's file = %v, want a refusal", err)
		}
	})
}
