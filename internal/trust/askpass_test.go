package trust

import (
	"os"
	"path/filepath"
	"testing"
)

// yesAskpass writes an askpass program (ssh-askpass convention) that says
// yes to every question and appends the question to record: root
// rotations change the root keys, which the agent signs only after a
// person confirms.
func yesAskpass(t testing.TB) (script, record string) {
	t.Helper()
	dir := t.TempDir()
	script, record = filepath.Join(dir, "askpass"), filepath.Join(dir, "asked")
	body := "#!/bin/sh\nprintf '%s\\n' \"$1\" >> '" + record + "'\nexit 0\n"
	if err := os.WriteFile(script, []byte(body), 0o700); err != nil {
		t.Fatal(err)
	}
	return script, record
}
