package trust

import (
	"context"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
)

// truncatedKeyLen is how many hex digits of a signer's key ID docker shows.
const truncatedKeyLen = 12

// InspectPretty writes what `docker trust inspect --pretty REF...` writes:
// one report per reference, separated by a blank line. Like docker it stops
// at the first reference that fails, after writing those before it.
func InspectPretty(ctx context.Context, o InspectOptions) error {
	opts, w, refs := o.Options, o.Out, o.Refs
	for i, r := range refs {
		repo, err := inspectOne(ctx, opts, r)
		if err != nil {
			return err
		}
		if err := WritePretty(w, repo); err != nil {
			return err
		}
		if i < len(refs)-1 {
			if _, err := io.WriteString(w, "\n\n"); err != nil {
				return err
			}
		}
	}
	return nil
}

// WritePretty writes one repository in docker's --pretty layout.
func WritePretty(w io.Writer, repo *Repository) error {
	ew := &errWriter{w: w}
	if len(repo.SignedTags) > 0 {
		fmt.Fprintf(ew, "\nSignatures for %s\n\n", repo.Name)
		tw := newTable(ew)
		fmt.Fprint(tw, "SIGNED TAG\tDIGEST\tSIGNERS\n")
		for _, row := range repo.SignedTags {
			fmt.Fprintf(tw, "%s\t%s\t%s\n", row.SignedTag, row.Digest, prettySigners(row.Signers))
		}
		tw.Flush()
	} else {
		fmt.Fprintf(ew, "\nNo signatures for %s\n\n", repo.Name)
	}
	if len(repo.Signers) > 0 {
		fmt.Fprintf(ew, "\nList of signers and their keys for %s\n\n", repo.Name)
		signers := append([]Signer(nil), repo.Signers...)
		sort.Slice(signers, func(i, j int) bool { return naturalLess(signers[i].Name, signers[j].Name) })
		tw := newTable(ew)
		fmt.Fprint(tw, "SIGNER\tKEYS\n")
		for _, s := range signers {
			ids := keyIDs(s.Keys)
			for i, id := range ids {
				if len(id) > truncatedKeyLen {
					ids[i] = id[:truncatedKeyLen]
				}
			}
			fmt.Fprintf(tw, "%s\t%s\n", s.Name, strings.Join(ids, ", "))
		}
		tw.Flush()
	}
	fmt.Fprintf(ew, "\nAdministrative keys for %s\n\n", repo.Name)
	// Docker lists the targets role ("Repository Key") before root: it sorts
	// role names in descending order.
	for _, admin := range []struct{ name, label string }{{"Repository", "Repository Key"}, {"Root", "Root Key"}} {
		for _, s := range repo.AdministrativeKeys {
			if s.Name == admin.name {
				// A literal tab, not a table: docker prints it so.
				fmt.Fprintf(ew, "  %s:\t%s\n", admin.label, strings.Join(keyIDs(s.Keys), ", "))
			}
		}
	}
	return ew.err
}

// prettySigners is docker's SIGNERS cell: the signers sorted, or
// "(Repo Admin)" for a tag signed only by the repository's own keys.
func prettySigners(signers []string) string {
	if len(signers) == 1 && signers[0] == releasedRoleName {
		return "(" + releasedRoleName + ")"
	}
	s := append([]string(nil), signers...)
	sort.Strings(s)
	return strings.Join(s, ", ")
}

// keyIDs returns the IDs of keys, sorted.
func keyIDs(keys []Key) []string {
	ids := make([]string, 0, len(keys))
	for _, k := range keys {
		ids = append(ids, k.ID)
	}
	sort.Strings(ids)
	return ids
}

// newTable returns docker's table writer: minimum cell width 10, padding 3.
func newTable(w io.Writer) *tabwriter.Writer {
	return tabwriter.NewWriter(w, 10, 1, 3, ' ', 0)
}

// errWriter keeps the first write error so the layout code stays linear.
type errWriter struct {
	w   io.Writer
	err error
}

func (e *errWriter) Write(p []byte) (int, error) {
	if e.err != nil {
		return 0, e.err
	}
	n, err := e.w.Write(p)
	e.err = err
	return n, err
}
