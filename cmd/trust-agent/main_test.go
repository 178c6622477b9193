package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/testscript"
	"github.com/theupdateframework/notary/tuf/data"
	"github.com/theupdateframework/notary/tuf/utils"

	"github.com/trust-agent/trust-agent/internal/notationplugin"
	"github.com/trust-agent/trust-agent/internal/trust/trusttest"

	"github.com/trust-agent/trust-agent/socket"
)

const softhsmModule = "/usr/lib/softhsm/libsofthsm2.so"

func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){
		"trust-agent":          func() { os.Exit(run(os.Args[1:])) },
		"notation-trust-agent": notationplugin.Main,
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
	// One notary-server and registry for all scripts; each script gets its
	// own repository, docker configuration and token.
	n := trusttest.StartNotary(t)
	reg := trusttest.StartRegistry(t)
	testscript.Run(t, testscript.Params{
		Dir: "testdata",
		Setup: func(env *testscript.Env) error {
			if err := setupScript(env); err != nil {
				return err
			}
			return setupNotary(t, env, n, reg)
		},
		Cmds:                scriptCmds,
		Condition:           scriptCondition,
		RequireExplicitExec: true,
	})
}

// scriptCmds are the scripts' own commands.
var scriptCmds = map[string]func(ts *testscript.TestScript, neg bool, args []string){
	"mkkey":           cmdMkkey,
	"no-key-material": cmdNoKeyMaterial,
	"waitfile":        cmdWaitFile,
}

// cmdWaitFile waits (up to 10 s) until a path exists: a background
// command (a socket activator) has bound its socket.
func cmdWaitFile(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: waitfile PATH")
	}
	path := ts.MkAbs(args[0])
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if _, err := os.Stat(path); err == nil {
			return
		}
	}
	ts.Fatalf("%s did not appear within 10s", args[0])
}

// scriptCondition: [docker] holds where the docker CLI is installed, and
// always in CI, where a missing component must fail rather than skip.
func scriptCondition(cond string) (bool, error) {
	if cond != "docker" {
		return false, fmt.Errorf("unknown condition %q", cond)
	}
	_, err := exec.LookPath("docker")
	return err == nil || os.Getenv("CI") == "true", nil
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
	env.Defer(func() { stopAgents(env.WorkDir) })
	return nil
}

// setupNotary gives a script DOCKER_CONFIG (with the server's CA where
// docker looks for it), DOCKER_CONTENT_TRUST_SERVER and a freshly pushed
// image in its own repository: IMAGE (REPO:v1), REPO, DIGEST.
func setupNotary(t *testing.T, env *testscript.Env, n *trusttest.Notary, reg *trusttest.Registry) error {
	dc := filepath.Join(env.WorkDir, ".docker")
	if err := os.MkdirAll(filepath.Join(dc, "tls", n.Addr), 0o700); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dc, "config.json"), []byte("{}\n"), 0o600); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dc, "tls", n.Addr, "ca.crt"), n.CAPEM, 0o644); err != nil {
		return err
	}
	repo := strings.ToLower(strings.TrimPrefix(filepath.Base(env.WorkDir), "script-"))
	img := reg.PushRandom(t, "cli/"+repo, "v1")
	env.Setenv("DOCKER_CONFIG", dc)
	env.Setenv("DOCKER_CONTENT_TRUST_SERVER", n.URL)
	env.Setenv("DOCKER_HOST", "unix://"+filepath.Join(env.WorkDir, "no-docker.sock"))
	env.Setenv("IMAGE", img.Ref)
	env.Setenv("REPO", img.Repo)
	env.Setenv("DIGEST", img.Digest)
	env.Setenv("NOTARY_CA", n.CAFile)
	return nil
}

// stopAgents ends every agent whose socket is under dir: a script that
// fails half-way leaves its agents running.
func stopAgents(dir string) {
	_ = filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err == nil && d.Type()&fs.ModeSocket != 0 {
			stopAgent(path)
		}
		return nil
	})
}

// stopAgent ends the agent listening at sock.
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

// cmdMkkey writes an EC private key PEM: mkkey FILE [MODE [PASSPHRASE [ROLE]]].
// With a passphrase the key is encrypted PKCS#8, as docker exports keys.
func cmdMkkey(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) < 1 {
		ts.Fatalf("usage: mkkey FILE [MODE [PASSPHRASE [ROLE [GUN]]]]")
	}
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ts.Check(err)
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	ts.Check(err)
	out := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
	mode := os.FileMode(0o600)
	if len(args) > 1 {
		var m uint32
		_, err := fmt.Sscanf(args[1], "%o", &m)
		ts.Check(err)
		mode = os.FileMode(m)
	}
	if len(args) > 2 {
		k, err := utils.ECDSAToPrivateKey(priv)
		ts.Check(err)
		role := "jeff"
		if len(args) > 3 {
			role = args[3]
		}
		gun := ""
		if len(args) > 4 {
			gun = args[4]
		}
		out, err = utils.ConvertPrivateKeyToPKCS8(k, data.RoleName(role), data.GUN(gun), args[2])
		ts.Check(err)
	}
	path := ts.MkAbs(args[0])
	ts.Check(os.WriteFile(path, out, mode))
	ts.Check(os.Chmod(path, mode))
	// The scalar, for no-key-material to look for after the PEM is gone.
	ts.Check(os.WriteFile(path+".scalar", priv.D.FillBytes(make([]byte, 32)), 0o600))
}

// cmdNoKeyMaterial fails if any file under the given directories holds a
// PEM private key, or one of the scalars listed in SCALARS (files written by
// mkkey) in raw, hex or base64 form: no-key-material SCALARS DIR...
func cmdNoKeyMaterial(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) < 2 {
		ts.Fatalf("usage: no-key-material SCALAR-FILES-GLOB DIR...")
	}
	matches, err := filepath.Glob(ts.MkAbs(args[0]))
	ts.Check(err)
	if len(matches) == 0 {
		ts.Fatalf("no scalar files match %s", args[0])
	}
	var needles [][]byte
	for _, m := range matches {
		d, err := os.ReadFile(m)
		ts.Check(err)
		needles = append(needles, d, []byte(hex.EncodeToString(d)), []byte(base64.StdEncoding.EncodeToString(d)))
	}
	needles = append(needles, []byte("PRIVATE KEY-----"))
	scanned := 0
	for _, dir := range args[1:] {
		err := filepath.WalkDir(ts.MkAbs(dir), func(path string, d fs.DirEntry, err error) error {
			if err != nil || !d.Type().IsRegular() {
				return err
			}
			if strings.HasSuffix(path, ".scalar") {
				return nil
			}
			b, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			scanned++
			for _, n := range needles {
				if bytes.Contains(b, n) {
					ts.Fatalf("%s holds private key material (%q...)", path, n[:min(len(n), 12)])
				}
			}
			return nil
		})
		ts.Check(err)
	}
	if scanned == 0 {
		ts.Fatalf("no files scanned: the check would prove nothing")
	}
	ts.Logf("scanned %d files", scanned)
}
