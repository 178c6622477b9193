package main

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/trust-agent/trust-agent/internal/secretfile"
	"github.com/trust-agent/trust-agent/piv"
)

const pivSetupSynopsis = "piv setup [--serial N] [--secrets-file FILE]"

// cmdPIVSetup is `piv setup`.
func cmdPIVSetup(ctx context.Context, e *env, args []string) error {
	return cmdPIV(ctx, e, append([]string{"setup"}, args...))
}

func cmdPIV(ctx context.Context, e *env, args []string) error {
	if len(args) == 0 || args[0] != "setup" {
		return usageError(pivSetupSynopsis)
	}
	fs := flags(e, "piv setup", pivSetupSynopsis)
	serial := fs.Uint32("serial", 0, "the card's serial number (default: the only card)")
	secrets := fs.String("secrets-file", "", "read the current PIN, new PIN, current PUK and new PUK from FILE, one per line, instead of prompting")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if fs.NArg() != 0 {
		return usageError(pivSetupSynopsis)
	}
	opts := piv.SetupOptions{Serial: *serial}
	if *secrets != "" {
		lines, err := readSecretLines(*secrets, 4)
		if err != nil {
			return err
		}
		opts.OldPIN, opts.NewPIN, opts.OldPUK, opts.NewPUK = lines[0], lines[1], lines[2], lines[3]
	} else {
		for _, q := range []struct {
			prompt string
			dst    *string
			twice  bool
		}{
			{"Current PIN (a new YubiKey's is 123456): ", &opts.OldPIN, false},
			{"New PIN (6 to 8 characters): ", &opts.NewPIN, true},
			{"Current PUK (a new YubiKey's is 12345678): ", &opts.OldPUK, false},
			{"New PUK (6 to 8 characters): ", &opts.NewPUK, true},
		} {
			v, err := promptSecret(q.prompt, "--secrets-file")
			if err != nil {
				return err
			}
			if q.twice {
				again, err := promptSecret("Again: ", "--secrets-file")
				if err != nil {
					return err
				}
				if string(again) != string(v) {
					return fmt.Errorf("the two entries differ; nothing was changed")
				}
			}
			*q.dst = string(v)
		}
	}
	fmt.Fprintln(e.stderr, "Setting up the card: the new PUK, a random management key stored PIN-protected on it, then the new PIN...")
	if err := piv.Setup(opts); err != nil {
		return err
	}
	fmt.Fprintln(e.stdout, "The card is set up. Start the agent with --piv, unlock it with the new PIN, and generate keys on it:")
	fmt.Fprintln(e.stdout, "  trust-agent key generate root --role root --backend piv:serial=N")
	return nil
}

// readSecretLines reads n lines from a file that only its owner may read.
func readSecretLines(path string, n int) ([]string, error) {
	b, err := secretfile.Read(path, "secrets", maxSecretsFileBytes)
	var se *secretfile.Error
	if errors.As(err, &se) {
		switch se.Kind {
		case secretfile.Mode:
			return nil, fmt.Errorf("%s must not be readable or writable by others (chmod 600 it)", path)
		case secretfile.Open:
			return nil, se.Err
		case secretfile.Empty:
			return nil, fmt.Errorf("%s must have %d lines, has %d", path, n, 0)
		}
		return nil, err
	}
	defer clear(b)
	var lines []string
	for _, l := range strings.Split(string(b), "\n") {
		if len(lines) == n {
			break
		}
		lines = append(lines, strings.TrimRight(l, "\r"))
	}
	if len(lines) != n {
		return nil, fmt.Errorf("%s must have %d lines, has %d", path, n, len(lines))
	}
	return lines, nil
}

// maxSecretsFileBytes caps piv setup's secrets file: four short lines.
const maxSecretsFileBytes = 64 << 10
