package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"time"

	"golang.org/x/term"
)

// pinentry asks for a PIN the way gpg-agent does: it runs a pinentry
// program (TRUST_AGENT_PINENTRY, else `pinentry` on PATH) and speaks the
// Assuan protocol to it: SETDESC, SETPROMPT, GETPIN, BYE. The program
// draws its own dialog (on the desktop, or on the terminal named by
// OPTION ttyname), so a PIN never passes through this process's stdin.

// pinentryTimeout bounds a whole dialog: a person who walked away does
// not hold the command forever.
const pinentryTimeout = 5 * time.Minute

// maxAssuanLine is what one Assuan line may hold (the protocol's limit is
// 1000 bytes; a longer line is a broken or hostile program).
const maxAssuanLine = 1000

// assuanCancelled is the error code pinentry answers GETPIN with when the
// user cancels (GPG_ERR_CANCELED in the pinentry source).
const assuanCancelled = "83886179"

// errPINEntryCancelled means the person closed the dialog.
var errPINEntryCancelled = errors.New("PIN entry cancelled")

// pinentryProgram returns the pinentry to use, or "" for the terminal.
func pinentryProgram() string {
	if p := os.Getenv("TRUST_AGENT_PINENTRY"); p != "" {
		return p
	}
	if p, err := exec.LookPath("pinentry"); err == nil {
		return p
	}
	return ""
}

// assuanEscape percent-escapes what Assuan cannot carry in a line.
func assuanEscape(s string) string {
	r := strings.NewReplacer("%", "%25", "\r", "%0D", "\n", "%0A")
	return r.Replace(s)
}

// assuanUnescape decodes a D line's percent escapes into a new slice.
func assuanUnescape(b []byte) ([]byte, error) {
	out := make([]byte, 0, len(b))
	for i := 0; i < len(b); i++ {
		if b[i] != '%' {
			out = append(out, b[i])
			continue
		}
		if i+2 >= len(b) {
			clear(out)
			return nil, errors.New("pinentry: truncated escape in its answer")
		}
		var v byte
		if _, err := fmt.Sscanf(string(b[i+1:i+3]), "%02X", &v); err != nil {
			clear(out)
			return nil, errors.New("pinentry: bad escape in its answer")
		}
		out = append(out, v)
		i += 2
	}
	return out, nil
}

// pinentryGetPIN runs program and asks it for a PIN with desc (what is
// unlocked) and prompt.
func pinentryGetPIN(program, desc, prompt string) ([]byte, error) {
	cmd := exec.Command(program)
	cmd.Stderr = nil
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	outPipe, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting pinentry %s: %w; set TRUST_AGENT_PINENTRY to a working pinentry, or give the PIN with --pin-file", program, err)
	}
	timer := time.AfterFunc(pinentryTimeout, func() { cmd.Process.Kill() })
	defer func() {
		timer.Stop()
		in.Close()
		cmd.Wait()
	}()
	r := bufio.NewReaderSize(outPipe, maxAssuanLine+2)
	if _, err := assuanReply(r); err != nil { // the greeting
		return nil, err
	}
	send := func(line string) ([]byte, error) {
		if _, err := io.WriteString(in, line+"\n"); err != nil {
			return nil, fmt.Errorf("pinentry: %w", err)
		}
		return assuanReply(r)
	}
	var options []string
	if tty, err := os.Readlink("/proc/self/fd/0"); err == nil && strings.HasPrefix(tty, "/dev/") && term.IsTerminal(int(os.Stdin.Fd())) {
		options = append(options, "OPTION ttyname="+tty)
		if t := os.Getenv("TERM"); t != "" {
			options = append(options, "OPTION ttytype="+t)
		}
	}
	for _, line := range append(options,
		"SETTITLE trust-agent",
		"SETDESC "+assuanEscape(desc),
		"SETPROMPT "+assuanEscape(strings.TrimSuffix(strings.TrimSpace(prompt), ":")+":"),
	) {
		if _, err := send(line); err != nil && !strings.HasPrefix(line, "OPTION") {
			return nil, err
		}
	}
	pin, err := send("GETPIN")
	if err != nil {
		return nil, err
	}
	_, _ = send("BYE")
	if len(pin) == 0 {
		return nil, fmt.Errorf("empty PIN from pinentry")
	}
	return pin, nil
}

// assuanReply reads lines up to OK or ERR and returns the data of the D
// lines, unescaped. Status (S) and comment (#) lines are skipped.
func assuanReply(r *bufio.Reader) ([]byte, error) {
	var data []byte
	for {
		line, err := r.ReadSlice('\n')
		if err != nil {
			clear(data)
			if errors.Is(err, bufio.ErrBufferFull) {
				return nil, errors.New("pinentry: a line longer than the Assuan limit")
			}
			return nil, fmt.Errorf("pinentry ended before it answered: %w", err)
		}
		line = bytes.TrimSuffix(line, []byte("\n"))
		switch {
		case bytes.Equal(line, []byte("OK")) || bytes.HasPrefix(line, []byte("OK ")):
			return data, nil
		case bytes.HasPrefix(line, []byte("ERR ")):
			clear(data)
			fields := strings.SplitN(string(line[4:]), " ", 2)
			if fields[0] == assuanCancelled {
				return nil, errPINEntryCancelled
			}
			return nil, fmt.Errorf("pinentry: %s", line)
		case bytes.HasPrefix(line, []byte("D ")):
			d, err := assuanUnescape(line[2:])
			clear(line) // the PIN, in the reader's buffer
			if err != nil {
				return nil, err
			}
			data = append(data, d...)
			clear(d)
		}
	}
}
