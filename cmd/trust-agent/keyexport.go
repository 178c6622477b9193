package main

import (
	"context"
	"encoding/pem"
	"fmt"

	"github.com/trust-agent/trust-agent/agent"
)

const keyExportSynopsis = "key export NAME|ID"

// cmdKeyExport prints a key's public key as a PKIX PEM block: what
// `cosign verify --key FILE` takes (and what NAME.pub holds, without its
// role header).
func cmdKeyExport(ctx context.Context, e *env, args []string) error {
	fs := flags(e, "key export", keyExportSynopsis)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return usageError(keyExportSynopsis)
	}
	c, match, err := findKey(ctx, fs.Arg(0))
	if err != nil {
		return err
	}
	c.Close()
	if len(match[0].PublicKey) == 0 {
		return fmt.Errorf("%w: the agent gave no public key for %s", agent.ErrNotFound, match[0].Name)
	}
	_, err = e.stdout.Write(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: match[0].PublicKey}))
	return err
}
