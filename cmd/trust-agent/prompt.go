package main

import (
	"fmt"
	"os"

	"golang.org/x/term"
)

// promptSecret asks on the controlling terminal, without echo, as age's
// tui does: stdin and stdout may carry data, so the prompt never uses them.
// fileFlag names the flag that gives the secret in a file instead, for
// the error when there is no terminal.
func promptSecret(prompt, fileFlag string) ([]byte, error) {
	tty, err := os.OpenFile("/dev/tty", os.O_RDWR, 0)
	if err != nil {
		return nil, fmt.Errorf("no terminal to ask for the secret on (%v); give it in a file instead (%s)", err, fileFlag)
	}
	defer tty.Close()
	fmt.Fprint(tty, prompt)
	secret, err := term.ReadPassword(int(tty.Fd()))
	fmt.Fprintln(tty)
	if err != nil {
		return nil, fmt.Errorf("reading from the terminal: %w", err)
	}
	if len(secret) == 0 {
		return nil, fmt.Errorf("empty input")
	}
	return secret, nil
}
