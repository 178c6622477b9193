//go:build cgo

package module

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/miekg/pkcs11"
)

const softhsm = "/usr/lib/softhsm/libsofthsm2.so"

// TestAcquireRelease: one context per module, shared through symlinks,
// finalized by the last Release and usable again after.
func TestAcquireRelease(t *testing.T) {
	if _, err := os.Stat(softhsm); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal(err)
		}
		t.Skip(err)
	}
	dir := t.TempDir()
	conf := filepath.Join(dir, "softhsm2.conf")
	os.WriteFile(conf, []byte("directories.tokendir = "+dir+"\nobjectstore.backend = file\nlog.level = ERROR\n"), 0o600)
	t.Setenv("SOFTHSM2_CONF", conf) // this test binary has no other users of SoftHSM
	link := filepath.Join(dir, "link.so")
	if err := os.Symlink(softhsm, link); err != nil {
		t.Fatal(err)
	}

	a, err := Acquire(softhsm)
	if err != nil {
		t.Fatal(err)
	}
	b, err := Acquire(link)
	if err != nil {
		t.Fatal(err)
	}
	if a != b || a.refs != 2 {
		t.Fatalf("two contexts for one module (refs %d)", a.refs)
	}
	if err := a.Release(); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Ctx.GetSlotList(true); err != nil {
		t.Fatalf("module finalized while still in use: %v", err)
	}
	if err := b.Release(); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Ctx.GetSlotList(true); err != pkcs11.Error(pkcs11.CKR_CRYPTOKI_NOT_INITIALIZED) {
		t.Fatalf("after the last Release: %v, want CKR_CRYPTOKI_NOT_INITIALIZED", err)
	}
	if err := b.Release(); err == nil {
		t.Error("Release past zero succeeded")
	}
	c, err := Acquire(softhsm)
	if err != nil {
		t.Fatalf("Acquire after finalize: %v", err)
	}
	if _, err := c.Ctx.GetSlotList(true); err != nil {
		t.Fatal(err)
	}
	if err := c.Release(); err != nil {
		t.Fatal(err)
	}
	if _, err := Acquire("relative/module.so"); err == nil {
		t.Error("relative path accepted")
	}
}
