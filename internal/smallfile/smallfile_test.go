package smallfile

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestRead: a file of max bytes is read whole; one byte more is refused
// with a message that names the file; a missing file is the open error.
func TestRead(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "chain.pem")
	if err := os.WriteFile(path, []byte("12345678"), 0o644); err != nil {
		t.Fatal(err)
	}
	if b, err := Read(path, 8, "x"); err != nil || string(b) != "12345678" {
		t.Fatalf("Read of 8 bytes with max 8 = %q, %v", b, err)
	}
	if b, err := Read(path, 7, "a chain is a few KiB"); err == nil || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "a chain is a few KiB") {
		t.Fatalf("Read of 8 bytes with max 7 = %q, %v; want a refusal naming the file", b, err)
	}
	if _, err := Read("/dev/zero", 1<<10, "x"); err == nil {
		t.Fatal("Read of /dev/zero succeeded")
	}
	if _, err := Read(filepath.Join(dir, "missing"), 8, "x"); !os.IsNotExist(err) {
		t.Fatalf("Read of a missing file = %v", err)
	}
}
