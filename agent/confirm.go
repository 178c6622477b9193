package agent

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"time"
)

// AskpassEnv names the environment variable the agent reads, at start and
// from its own environment only, for the program that asks a person to
// confirm a signature (ssh-askpass convention).
const AskpassEnv = "TRUST_AGENT_ASKPASS"

// defaultAskpassTimeout is how long a person has to answer; no answer is a no.
const defaultAskpassTimeout = 2 * time.Minute

// confirmer runs the askpass program, one question at a time: two dialogs
// at once could be answered for each other.
type confirmer struct {
	mu sync.Mutex
}

// confirm asks a person, through opts.Askpass, to allow what question
// describes; why is the reason the agent asks. It returns nil only for a
// yes (exit status 0), and a *DeniedError saying why otherwise.
//
// The program is run as ssh-agent runs SSH_ASKPASS for a key added with
// ssh-add -c: the question is argv[1], SSH_ASKPASS_PROMPT=confirm is set,
// exit status 0 means yes. It gets the agent's environment, which holds no
// PIN. Only cmd sets opts.Askpass, from the agent's own environment when it
// starts: a client cannot choose or change the program.
func (k *Keyring) confirm(why []string, question string) error {
	reason := strings.Join(why, "; ")
	if k.opts.Askpass == "" {
		return &DeniedError{Reason: fmt.Sprintf("%s: this needs a person's confirmation and the agent has no askpass program; start it as `%s=/path/to/askpass trust-agent start` (ssh-askpass convention: the question as argument, exit 0 = yes)", reason, AskpassEnv)}
	}
	timeout := k.opts.AskpassTimeout
	if timeout <= 0 {
		timeout = defaultAskpassTimeout
	}
	k.confirms.mu.Lock()
	defer k.confirms.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, k.opts.Askpass, question)
	cmd.Env = append(os.Environ(), "SSH_ASKPASS_PROMPT=confirm")
	cmd.WaitDelay = time.Second // a dialog that ignores the kill cannot hold the agent
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case err == nil:
		return nil
	case ctx.Err() != nil:
		return &DeniedError{Reason: fmt.Sprintf("%s: nobody confirmed within %s", reason, timeout)}
	case errors.As(err, &exit):
		return &DeniedError{Reason: fmt.Sprintf("%s: declined through %s (exit status %d)", reason, k.opts.Askpass, exit.ExitCode())}
	default:
		return &DeniedError{Reason: fmt.Sprintf("%s: the askpass program %s could not ask: %v; check %s", reason, k.opts.Askpass, err, AskpassEnv)}
	}
}
