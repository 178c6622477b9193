package main

import (
	"context"
	"crypto/x509"
	"fmt"
	"os"
	"path/filepath"

	"github.com/trust-agent/trust-agent/internal/attestation"
)

// Attestation in the CLI: key generate writes a PIV key's chain to
// NAME.attest.pem, key list --attest checks each PIV key's chain as the
// agent hands it over, signer add --require-attestation checks the files a
// signer sent. The work is package internal/attestation's; the CLI parses
// flags and prints.

// loadAttestationRoots reads --attestation-roots (attestation.LoadRoots);
// "" means nil, Yubico's roots.
func loadAttestationRoots(path string) (*x509.CertPool, error) {
	pool, err := attestation.LoadRoots(path)
	if err != nil {
		return nil, fmt.Errorf("--attestation-roots: %w", err)
	}
	return pool, nil
}

const keyAttestSynopsis = "key attest NAME|ID [--dir DIR]"

// cmdKeyAttest writes a PIV key's attestation again (NAME.attest.pem), for
// keys made before attestation files existed or when writing it failed.
func cmdKeyAttest(ctx context.Context, e *env, args []string) error {
	fs := flags(e, "key attest", keyAttestSynopsis)
	dir := fs.String("dir", "", "directory to write NAME.attest.pem to (default: the current directory)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return usageError(keyAttestSynopsis)
	}
	c, match, err := findKey(ctx, fs.Arg(0))
	if err != nil {
		return err
	}
	defer c.Close()
	switch {
	case !attestation.Attestable(match[0]):
		return fmt.Errorf("key %s is on %s: only keys generated on a PIV card have an attestation", match[0].Name, match[0].Backend)
	}
	if *dir != "" {
		if err := os.MkdirAll(*dir, 0o700); err != nil {
			return err
		}
	}
	path := filepath.Join(*dir, match[0].Name+".attest.pem")
	if err := attestation.Write(ctx, c, match[0], path); err != nil {
		return fmt.Errorf("writing the attestation of %s to %s: %w", match[0].Name, path, err)
	}
	fmt.Fprintf(e.stdout, "Attestation certificate chain (the card's proof that it made the key) available: %s\n", path)
	return nil
}
