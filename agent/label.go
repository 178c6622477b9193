package agent

import (
	"fmt"
	"regexp"
	"strings"
	"sync"
)

// labelPrefix marks objects trust-agent made, so keys of other applications
// on a shared token are left alone.
const labelPrefix = "dct"

// namePattern is docker's rule for signer names, used for every key name;
// compiled on first use, not at every start of every binary linking agent.
var namePattern = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[a-z0-9][a-z0-9_-]*$`) })

// MaxNameBytes bounds a key name: it is stored on the token with the key
// (a PKCS#11 label, a PIV certificate's CN) and written to every audit line.
const MaxNameBytes = 64

// ValidName reports whether name follows docker's rule ^[a-z0-9][a-z0-9_-]*$
// and has at most MaxNameBytes bytes.
func ValidName(name string) bool { return len(name) <= MaxNameBytes && namePattern().MatchString(name) }

// confirmMark follows the role in the label of a key marked Confirm:
// "dct:root,confirm:NAME:". An agent that predates the mark reads an
// unknown role and skips the key, so it can never use it unconfirmed.
const confirmMark = ",confirm"

// Label encodes m as the string a backend stores with the key (a PKCS#11
// CKA_LABEL, a PIV certificate's CN): "dct:ROLE:NAME:GUN", ROLE followed by
// ",confirm" for a key marked Confirm. The GUN comes last because it may
// itself contain ':' (host:port/repo).
func (m KeyMeta) Label() string {
	role := string(m.Role)
	if m.Confirm {
		role += confirmMark
	}
	return strings.Join([]string{labelPrefix, role, m.Name, m.GUN}, ":")
}

// ParseLabel decodes a Label. It fails for objects trust-agent did not make.
func ParseLabel(label string) (KeyMeta, error) {
	parts := strings.SplitN(label, ":", 4)
	if len(parts) != 4 || parts[0] != labelPrefix {
		return KeyMeta{}, fmt.Errorf("agent: label %q is not a trust-agent key label", label)
	}
	role, confirm := strings.CutSuffix(parts[1], confirmMark)
	m := KeyMeta{Role: Role(role), Name: parts[2], GUN: parts[3], Confirm: confirm}
	// The same rules as for a new key: a label that breaks them (a targets
	// key with no repository is a key bound to none) was not written here.
	if err := validateMeta(m); err != nil {
		return KeyMeta{}, fmt.Errorf("agent: label %q: %w", label, err)
	}
	return m, nil
}
