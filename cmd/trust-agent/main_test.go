package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/trust-agent/trust-agent/socket"
)

const softhsmModule = "/usr/lib/softhsm/libsofthsm2.so"

func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){
		"trust-agent": func() { os.Exit(run(os.Args[1:])) },
	})
}

// TestScripts runs the CLI scripts in testdata: each gets its own SoftHSM
// token (its own SOFTHSM2_CONF, so its agent process sees only that token)
// and the agent it starts is stopped when the script ends.
func TestScripts(t *testing.T) {
	for _, tool := range []string{"softhsm2-util", softhsmModule} {
		if _, err := exec.LookPath(tool); err != nil {
			if _, serr := os.Stat(tool); serr != nil {
				missing(t, tool)
			}
		}
	}
	testscript.Run(t, testscript.Params{
		Dir:   "testdata",
		Setup: setupScript,
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"mkkey": cmdMkkey,
		},
		RequireExplicitExec: true,
	})
}

func missing(t *testing.T, what string) {
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s is not installed; run `make deps`", what)
	}
	t.Skipf("%s is not installed; run `make deps`", what)
}

func setupScript(env *testscript.Env) error {
	dir := filepath.Join(env.WorkDir, ".softhsm")
	if err := os.MkdirAll(filepath.Join(dir, "tokens"), 0o700); err != nil {
		return err
	}
	conf := filepath.Join(dir, "softhsm2.conf")
	cfg := fmt.Sprintf("directories.tokendir = %s/tokens\nobjectstore.backend = file\nlog.level = ERROR\n", dir)
	if err := os.WriteFile(conf, []byte(cfg), 0o600); err != nil {
		return err
	}
	const pin = "1234"
	cmd := exec.Command("softhsm2-util", "--init-token", "--free", "--label", "test", "--pin", pin, "--so-pin", "5678")
	cmd.Env = append(os.Environ(), "SOFTHSM2_CONF="+conf)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("softhsm2-util: %v: %s", err, out)
	}
	pinFile := filepath.Join(dir, "pin")
	if err := os.WriteFile(pinFile, []byte(pin+"\n"), 0o600); err != nil {
		return err
	}
	wrongPIN := filepath.Join(dir, "wrong-pin")
	if err := os.WriteFile(wrongPIN, []byte("9999\n"), 0o600); err != nil {
		return err
	}
	sock := filepath.Join(env.WorkDir, "run", "agent.sock")
	env.Setenv("SOFTHSM2_CONF", conf)
	env.Setenv("MODULE", softhsmModule)
	env.Setenv("PIN_FILE", pinFile)
	env.Setenv("WRONG_PIN_FILE", wrongPIN)
	env.Setenv("TOKEN_URI", "pkcs11:token=test?module-path="+softhsmModule+"&pin-source=file:"+pinFile)
	env.Setenv("LOCKED_URI", "pkcs11:token=test?module-path="+softhsmModule)
	env.Setenv("TRUST_AGENT_SOCK", sock)
	env.Defer(func() { stopAgent(sock) })
	return nil
}

// stopAgent ends an agent a script left running.
func stopAgent(sock string) {
	c, err := socket.Dial(sock)
	if err != nil {
		return
	}
	st, err := c.Status(context.Background())
	c.Close()
	if err != nil {
		return
	}
	_ = syscall.Kill(st.PID, syscall.SIGTERM)
	for i := 0; i < 100; i++ {
		if syscall.Kill(st.PID, 0) != nil {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	_ = syscall.Kill(st.PID, syscall.SIGKILL)
}

// cmdMkkey writes an unencrypted EC private key: mkkey FILE [MODE].
func cmdMkkey(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) < 1 {
		ts.Fatalf("usage: mkkey FILE [MODE]")
	}
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ts.Check(err)
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	ts.Check(err)
	mode := os.FileMode(0o600)
	if len(args) > 1 {
		var m uint32
		_, err := fmt.Sscanf(args[1], "%o", &m)
		ts.Check(err)
		mode = os.FileMode(m)
	}
	path := ts.MkAbs(args[0])
	ts.Check(os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), mode))
	ts.Check(os.Chmod(path, mode))
}
