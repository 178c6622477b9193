package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"syscall"
	"time"

	"github.com/trust-agent/trust-agent/agent"
	"github.com/trust-agent/trust-agent/internal/trust"
	"github.com/trust-agent/trust-agent/piv"
	"github.com/trust-agent/trust-agent/socket"
)

// errNoAgent means TRUST_AGENT_SOCK is unset or names no live agent.
var errNoAgent = errors.New("no agent")

// hintFor says what to do next about err, or nothing.
func hintFor(err error) string {
	// What the agent said comes first: a locked agent or a wrong PIN is the
	// cause whatever Notary operation it interrupted.
	var pin *agent.PINError
	var puk *piv.PUKError
	var throttled *agent.ThrottledError
	switch {
	case errors.Is(err, piv.ErrPUKBlocked):
		return "the PUK is blocked: only a reset of the card's PIV applet (ykman piv reset) helps, and it erases the keys on it"
	case errors.As(err, &puk):
		return fmt.Sprintf("check the PUK (a new YubiKey's is 12345678); %d tries left; nothing on the card was changed", puk.Retries)
	case errors.Is(err, socket.ErrForeignAgent):
		return "TRUST_AGENT_SOCK points at another user's agent: nothing was sent to it; check the variable, or start your own agent"
	case errors.Is(err, errNoAgent):
		return `start one with: eval "$(trust-agent start --pkcs11 'pkcs11:token=LABEL?module-path=/usr/lib/softhsm/libsofthsm2.so')"`
	case errors.Is(err, agent.ErrPINBlocked):
		return "the PIN is blocked: reset it with the SO PIN (pkcs11-tool --init-pin --login --login-type so) or, on a YubiKey, with the PUK (yubico-piv-tool -a unblock-pin)"
	case errors.As(err, &throttled):
		return fmt.Sprintf("wait until %s UTC, then unlock again with the right PIN: after %d wrong PINs in a row the agent makes each try wait twice as long as the last, and refuses earlier tries without passing them to the token (they use none of its tries)",
			throttled.RetryAt.UTC().Format(time.TimeOnly), agent.FreePINTries)
	case errors.As(err, &pin) && pin.Retries > 0:
		return fmt.Sprintf("check the PIN and try again; %d tries left before it is blocked", pin.Retries)
	case errors.Is(err, agent.ErrPINIncorrect):
		return fmt.Sprintf("check the PIN and try again; after %d wrong PINs in a row the agent makes each further try wait longer", agent.FreePINTries)
	case errors.Is(err, agent.ErrLocked):
		return "run `trust-agent unlock`, then the same command again"
	case errors.Is(err, agent.ErrDeviceUnavailable):
		return "check that the token or card is present and the module path is right, then `trust-agent status`"
	}
	if h := trust.Hint(err); h != "" {
		return h
	}
	switch {
	case errors.Is(err, agent.ErrNotFound):
		return "run `trust-agent key list` to see the keys the agent holds"
	case errors.Is(err, agent.ErrDenied) && strings.Contains(err.Error(), agent.AskpassEnv+"=/path/to/askpass"):
		return "this needs a person's yes: restart the agent with " + agent.AskpassEnv + " naming an askpass program (ssh-askpass, or a script that asks and exits 0 for yes)"
	case errors.Is(err, agent.ErrDenied) && strings.Contains(err.Error(), "declined through"):
		return "the person asked said no (or closed the dialog); nothing was signed or changed"
	case errors.Is(err, agent.ErrDenied):
		return "the agent signs only what a key is made for: TUF metadata of its role and repository, or its format's payloads (notation, cosign); see the audit log"
	case errors.Is(err, syscall.EPIPE), errors.Is(err, syscall.ECONNRESET), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return `the agent closed the connection (did it stop?); check with trust-agent status, start it again with eval "$(trust-agent start ...)", and run the same command again: nothing was published`
	}
	return ""
}

// dialAgent connects to the agent named by TRUST_AGENT_SOCK.
func dialAgent() (*socket.Client, error) {
	path := os.Getenv("TRUST_AGENT_SOCK")
	if path == "" {
		return nil, fmt.Errorf("%w: TRUST_AGENT_SOCK is not set", errNoAgent)
	}
	c, err := socket.Dial(path)
	if errors.Is(err, socket.ErrForeignAgent) {
		return nil, err
	}
	if err != nil {
		return nil, fmt.Errorf("%w listening at %s: %v", errNoAgent, path, err)
	}
	return c, nil
}
