package main

import (
	"context"
	"fmt"
	"strings"

	"github.com/trust-agent/trust-agent/agent"
	"github.com/trust-agent/trust-agent/internal/trust"
	"github.com/trust-agent/trust-agent/socket"
)

// matchKey finds the keys named or identified by ref (a name, a full ID, or
// 7+ leading hex digits of one). Copies of one key on several backends
// (root custody) share an ID and count as one key; all are returned.
func matchKey(keys []agent.KeyInfo, ref string) ([]agent.KeyInfo, error) {
	var match []agent.KeyInfo
	ids := map[string]bool{}
	for _, k := range keys {
		if k.Name == ref || k.ID == ref || (len(ref) >= 7 && strings.HasPrefix(k.ID, ref)) {
			match = append(match, k)
			ids[k.ID] = true
		}
	}
	switch {
	case len(match) == 0:
		return nil, fmt.Errorf("%w: no key named or with ID %s", agent.ErrNotFound, ref)
	case len(ids) > 1:
		return nil, fmt.Errorf("%d keys match %s; give the key's ID (see `trust-agent key list`)", len(ids), ref)
	}
	return match, nil
}

// findKey dials the agent and finds the keys ref names (matchKey); the
// caller closes the client.
func findKey(ctx context.Context, ref string) (*socket.Client, []agent.KeyInfo, error) {
	c, err := dialAgent()
	if err != nil {
		return nil, nil, err
	}
	keys, err := c.List(ctx)
	if err != nil {
		c.Close()
		return nil, nil, err
	}
	match, err := matchKey(keys, ref)
	if err != nil {
		c.Close()
		return nil, nil, err
	}
	return c, match, nil
}

const keyDeleteSynopsis = "key delete NAME|ID [--backend NAME] [--force]"

// cmdKeyDelete removes a key from hardware, after checking that no
// repository's current metadata (as the shared TUF cache last saw it)
// still trusts it; the agent asks a person through its askpass program.
func cmdKeyDelete(ctx context.Context, e *env, args []string) error {
	var o trust.Options
	fs := flags(e, "key delete", keyDeleteSynopsis)
	backend := fs.String("backend", "", "`NAME` of the one backend to delete the key from, when several hold it (default: every copy)")
	force := fs.Bool("force", false, "delete even though a repository's metadata still trusts the key (that repository then needs another key to change it)")
	serverFlags(fs, &o)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return usageError(keyDeleteSynopsis)
	}
	c, match, err := findKey(ctx, fs.Arg(0))
	if err != nil {
		return err
	}
	defer c.Close()
	k := match[0]
	var where []string
	for _, m := range match {
		if *backend == "" || m.Backend == *backend || strings.HasPrefix(m.Backend, *backend+";") {
			where = append(where, m.Backend)
		}
	}
	if len(where) == 0 {
		return fmt.Errorf("%w: key %s is not on backend %s (it is on %s)", agent.ErrNotFound, k.Name, *backend, match[0].Backend)
	}
	last := len(where) == len(match) // no copy is left afterwards
	if last && !*force {
		trusted, err := trust.TrustedBy(trust.TrustedByOptions{Options: o, PublicKey: k.PublicKey})
		if err != nil {
			return fmt.Errorf("checking which repositories trust key %s: %w", k.ID, err)
		}
		if len(trusted) > 0 {
			var names []string
			for _, t := range trusted {
				names = append(names, fmt.Sprintf("%s (%s)", t.GUN, strings.Join(t.Roles, ", ")))
			}
			return &usageErr{
				fmt.Errorf("refusing to delete %s key %s: the current metadata of %s still trusts it", k.Role, k.ID, strings.Join(names, "; ")),
				"rotate it out first (trust-agent key rotate, signer remove --key), or pass --force if those repositories are gone",
			}
		}
	}
	fmt.Fprintf(e.stderr, "Deleting %s key %s (%s) from %s; confirm in the agent's dialog.\n", k.Role, k.ID, k.Name, strings.Join(where, ", "))
	if err := c.Delete(ctx, agent.DeleteRequest{KeyID: k.ID, Backend: *backend}); err != nil {
		return fmt.Errorf("deleting key %s: %w", k.ID, err)
	}
	fmt.Fprintf(e.stdout, "Deleted key %s from %s\n", k.ID, strings.Join(where, ", "))
	return nil
}
