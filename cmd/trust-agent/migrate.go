package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"text/tabwriter"

	"github.com/trust-agent/trust-agent/internal/migrate"
)

const migrateSynopsis = "migrate [--to notation|cosign|all] --key NAME [--json] REPO[:TAG]..."

// cmdMigrate signs each DCT-trusted tag for notation and/or cosign with the
// agent's keys and pushes the signatures (see internal/migrate): a progress
// line per tag and format on stderr, the summary table (or --json) on
// stdout.
func cmdMigrate(ctx context.Context, e *env, args []string) error {
	var o migrate.Options
	fs := flags(e, "migrate", migrateSynopsis)
	to := fs.String("to", "all", "the formats to sign for: notation, cosign or all")
	fs.StringVar(&o.Key, "key", "", "the agent key (name or ID) to sign with: a notation key for notation, a cosign key for cosign")
	fs.StringVar(&o.NotationKey, "notation-key", "", "the notation key, when it is named differently from --key")
	fs.StringVar(&o.CosignKey, "cosign-key", "", "the cosign key, when it is named differently from --key")
	cose := fs.Bool("cose", false, "make COSE notation signatures instead of JWS")
	asJSON := fs.Bool("json", false, "print the results as JSON")
	serverFlags(fs, &o.Trust)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() == 0 {
		return usageError(migrateSynopsis)
	}
	switch *to {
	case "all":
	case migrate.FormatNotation, migrate.FormatCosign:
		o.Formats = []string{*to}
	default:
		return fmt.Errorf("migrate: --to %s: give notation, cosign or all", *to)
	}
	if *cose {
		o.SignatureMediaType = "application/cose"
	}
	o.Socket = os.Getenv("TRUST_AGENT_SOCK")
	o.Progress = e.stderr
	res, err := migrate.Run(ctx, o, fs.Args()...)
	if res != nil {
		if *asJSON {
			enc := json.NewEncoder(e.stdout)
			enc.SetIndent("", "  ")
			if werr := enc.Encode(res); werr != nil && err == nil {
				err = werr
			}
		} else {
			tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "REFERENCE\tFORMAT\tSTATUS\tDIGEST")
			for _, r := range res {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", r.Ref, r.Format, r.Status, r.Digest)
			}
			if werr := tw.Flush(); werr != nil && err == nil {
				err = werr
			}
		}
	}
	return err
}
