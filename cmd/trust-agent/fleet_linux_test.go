package main

import (
	"bytes"
	"context"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/trust-agent/trust-agent/internal/trust/trusttest"
	"github.com/trust-agent/trust-agent/socket"
)

// p11KitClientPaths are where distributions put p11-kit's client module
// (Debian: package p11-kit-modules).
var p11KitClientPaths = []string{
	"/usr/lib/x86_64-linux-gnu/pkcs11/p11-kit-client.so",
	"/usr/lib/aarch64-linux-gnu/pkcs11/p11-kit-client.so",
	"/usr/lib64/pkcs11/p11-kit-client.so",
	"/usr/lib/pkcs11/p11-kit-client.so",
}

// TestFleetScripts runs the scripts in testdata/fleet: the agent beyond one
// machine. Each script gets what TestScripts gives (its own SoftHSM token,
// notary-server, an image, a docker configuration) and:
//
//	P11KIT_URI   the script's token through p11-kit-client.so (pin-source
//	             set), for an agent that reaches the token through
//	             `p11-kit server` and P11_KIT_SERVER_ADDRESS
//
// and the commands forward (ssh -R through a real sshd on loopback) and
// module-loaded. Without p11-kit, p11-kit-modules or openssh-server the
// test skips, or fails when CI=true.
func TestFleetScripts(t *testing.T) {
	client := ""
	for _, p := range p11KitClientPaths {
		if _, err := os.Stat(p); err == nil {
			client = p
			break
		}
	}
	if client == "" {
		missing(t, "p11-kit-client.so (Debian: p11-kit-modules)")
	}
	if _, err := exec.LookPath("p11-kit"); err != nil {
		missing(t, "p11-kit")
	}
	if _, err := exec.LookPath("pkcs11-tool"); err != nil {
		missing(t, "pkcs11-tool (Debian: opensc)")
	}
	sshd := trusttest.StartSSHD(t)
	n := trusttest.StartNotary(t)
	reg := trusttest.StartRegistry(t)
	cmds := maps.Clone(scriptCmds)
	cmds["forward"] = cmdForward(sshd)
	cmds["module-loaded"] = cmdModuleLoaded
	cmds["p11kit-server"] = cmdP11KitServer
	testscript.Run(t, testscript.Params{
		Dir: filepath.Join("testdata", "fleet"),
		Setup: func(env *testscript.Env) error {
			if err := setupScript(env); err != nil {
				return err
			}
			env.Setenv("P11KIT_URI", "pkcs11:token=test?module-path="+client+"&pin-source=file:"+env.Getenv("PIN_FILE"))
			return setupNotary(t, env, n, reg)
		},
		Cmds:                cmds,
		Condition:           scriptCondition,
		RequireExplicitExec: true,
	})
}

// cmdForward returns the command `forward REMOTE LOCAL`: it runs
// `ssh -N -R REMOTE:LOCAL` against sshd as the current user, waits until
// sshd has bound REMOTE and stops ssh when the script ends.
func cmdForward(sshd *trusttest.SSHD) func(ts *testscript.TestScript, neg bool, args []string) {
	return func(ts *testscript.TestScript, neg bool, args []string) {
		if neg || len(args) != 2 {
			ts.Fatalf("usage: forward REMOTE LOCAL")
		}
		remote, local := ts.MkAbs(args[0]), ts.MkAbs(args[1])
		var log bytes.Buffer
		cmd := exec.Command("ssh", sshd.ForwardArgs(remote, local)...)
		cmd.Stdout, cmd.Stderr = &log, &log
		ts.Check(cmd.Start())
		exited := make(chan error, 1)
		done := make(chan struct{})
		go func() { exited <- cmd.Wait(); close(done) }()
		ts.Defer(func() {
			_ = cmd.Process.Kill()
			<-done
		})
		if err := trusttest.WaitForward(remote, exited); err != nil {
			ts.Fatalf("ssh -R %s:%s: %v\n%s\nsshd:\n%s", remote, local, err, log.String(), sshd.Log())
		}
	}
}

// cmdModuleLoaded: module-loaded SOCKET NAME succeeds when the agent
// listening at SOCKET has a shared object whose file name is NAME mapped
// (read from /proc/PID/maps): which PKCS#11 module the daemon really loaded.
func cmdModuleLoaded(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 2 {
		ts.Fatalf("usage: module-loaded SOCKET NAME")
	}
	c, err := socket.Dial(ts.MkAbs(args[0]))
	ts.Check(err)
	st, err := c.Status(context.Background())
	c.Close()
	ts.Check(err)
	maps, err := os.ReadFile(fmt.Sprintf("/proc/%d/maps", st.PID))
	ts.Check(err)
	loaded := bytes.Contains(maps, []byte("/"+args[1]+"\n"))
	switch {
	case loaded && neg:
		ts.Fatalf("the agent (pid %d) has %s loaded", st.PID, args[1])
	case !loaded && !neg:
		ts.Fatalf("the agent (pid %d) has no %s loaded", st.PID, args[1])
	}
}

// cmdP11KitServer: `p11kit-server start SOCKET MODULE TOKEN-URI` runs
// `p11-kit server -f -n SOCKET --provider MODULE TOKEN-URI` in its own
// process group (it forks p11-kit-remote per client, which would keep a
// testscript background command's output open) and waits for SOCKET;
// `p11kit-server stop` ends the group. The script's end stops it too.
func cmdP11KitServer(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) == 0 {
		ts.Fatalf("usage: p11kit-server start SOCKET MODULE TOKEN-URI | p11kit-server stop")
	}
	switch {
	case args[0] == "start" && len(args) == 4:
		sock := ts.MkAbs(args[1])
		log, err := os.Create(ts.MkAbs("p11kit-server.log"))
		ts.Check(err)
		defer log.Close()
		cmd := exec.Command("p11-kit", "server", "-f", "-n", sock, "--provider", args[2], args[3])
		cmd.Env = append(os.Environ(), "SOFTHSM2_CONF="+ts.Getenv("SOFTHSM2_CONF")) // the script's token, not the process's
		cmd.Stdout, cmd.Stderr = log, log
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
		ts.Check(cmd.Start())
		pgid := cmd.Process.Pid
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		ts.Setenv("P11KIT_SERVER_PGID", strconv.Itoa(pgid))
		ts.Defer(func() {
			_ = syscall.Kill(-pgid, syscall.SIGKILL)
			<-done
		})
		cmdWaitFile(ts, false, []string{sock})
	case args[0] == "stop" && len(args) == 1:
		pgid, err := strconv.Atoi(ts.Getenv("P11KIT_SERVER_PGID"))
		ts.Check(err)
		ts.Check(syscall.Kill(-pgid, syscall.SIGTERM))
	default:
		ts.Fatalf("usage: p11kit-server start SOCKET MODULE TOKEN-URI | p11kit-server stop")
	}
}
