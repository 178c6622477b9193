package trusttest

import (
	"os"
	"path/filepath"
	"testing"
)

// SharedTempDir makes a directory, mode 0755, that other users can reach
// (every directory above it is searchable by others), and removes it at
// t.Cleanup. It is under os.TempDir when that allows, else under /tmp:
// t.TempDir's parents are 0700, and so is the TMPDIR some harnesses set
// (piv/scripts/with-pcscd.sh), which would stop another user before the
// thing a test means to show stops them.
func SharedTempDir(t testing.TB) string {
	t.Helper()
	base := os.TempDir()
	if !searchableByOthers(base) {
		base = "/tmp"
	}
	dir, err := os.MkdirTemp(base, "trusttest-")
	if err != nil {
		t.Fatalf("trusttest: %v", err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatalf("trusttest: %v", err)
	}
	if !searchableByOthers(dir) {
		t.Fatalf("trusttest: %s: a directory above it is closed to other users", dir)
	}
	return dir
}

// searchableByOthers reports whether every directory from / down to dir
// has the search bit for others.
func searchableByOthers(dir string) bool {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return false
	}
	for {
		fi, err := os.Stat(dir)
		if err != nil || fi.Mode().Perm()&0o001 == 0 {
			return false
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return true
		}
		dir = parent
	}
}
