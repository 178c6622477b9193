package trusttest

import (
	"os"
	"os/exec"
	"testing"
)

// Program names the helpers run.
const (
	NotaryServerProgram = "notary-server"
	NotaryProgram       = "notary"
	DockerProgram       = "docker"
)

// RequireProgram returns the path of program, or ends the test: skipped
// normally, failed when CI=true, so that CI cannot pass by skipping.
func RequireProgram(t testing.TB, program string) string {
	t.Helper()
	path, err := exec.LookPath(program)
	if err == nil {
		return path
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("trusttest: %s is not installed and CI=true: install it (Debian: apt-get install -y %s)", program, packageOf(program))
	}
	t.Skipf("trusttest: %s is not installed; install it (Debian: apt-get install -y %s) to run this test", program, packageOf(program))
	return ""
}

func packageOf(program string) string {
	switch program {
	case NotaryServerProgram, NotaryProgram:
		return "notary"
	case DockerProgram:
		return "docker-ce-cli"
	case SSHProgram, SSHKeygenProgram:
		return "openssh-client"
	case PsqlProgram:
		return "postgresql-client"
	}
	return program
}
