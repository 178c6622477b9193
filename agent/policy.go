package agent

import (
	"bytes"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"time"
)

// Metadata is what the policy could see in a payload; the audit log records it.
type Metadata struct {
	Type    string    `json:"type"` // "Root", "Targets", "Snapshot", "Timestamp"
	Version int64     `json:"version"`
	Expires time.Time `json:"expires"`
	Targets []string  `json:"targets,omitempty"` // target names a Targets role lists
}

// maxAuditedTargets bounds how many target names one audit line carries: a
// repository with thousands of tags would otherwise write megabyte lines.
const maxAuditedTargets = 256

// gunPattern is docker's reference grammar (distribution/reference) for a
// fully qualified name, which is what docker uses as a notary GUN: a host
// (DNS labels, IPv4, or [IPv6]) with an optional port, then one or more
// lower-case path components joined by ".", "_", "__" or runs of "-".
var gunPattern = regexp.MustCompile(`^` +
	`(?:(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])(?:\.(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9]))*|\[[a-fA-F0-9:]+\])` +
	`(?::[0-9]+)?` +
	`(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)+$`)

// ValidGUN reports whether gun looks like a repository name.
func ValidGUN(gun string) bool { return len(gun) <= 255 && gunPattern.MatchString(gun) }

// checkPolicy decides whether key may sign req, and returns what it saw.
// The agent is not a signing oracle: it signs only canonical TUF metadata of
// the role the key serves, for the repository the key is bound to.
func checkPolicy(meta KeyMeta, req SignRequest) (Metadata, error) {
	md, err := parseMetadata(req.Data)
	if err != nil {
		return md, &DeniedError{Reason: err.Error()}
	}
	if meta.GUN != "" && req.GUN != meta.GUN {
		return md, &DeniedError{Reason: fmt.Sprintf("key is bound to repository %s, not %q", meta.GUN, req.GUN)}
	}
	switch meta.Role {
	case RoleRoot:
		if md.Type != "Root" {
			return md, &DeniedError{Reason: "a root key signs only Root metadata, not " + md.Type}
		}
		if err := checkRootCerts(req.Data, req.GUN); err != nil {
			return md, &DeniedError{Reason: err.Error()}
		}
	case RoleTargets:
		if md.Type != "Targets" || req.Role != "targets" {
			return md, &DeniedError{Reason: fmt.Sprintf("a repository key signs only the targets role, not %s metadata for %q", md.Type, req.Role)}
		}
	case RoleDelegation:
		if md.Type != "Targets" || !delegationRoles(req.Role) {
			return md, &DeniedError{Reason: fmt.Sprintf("a delegation key signs only targets/<name> roles, not %s metadata for %q", md.Type, req.Role)}
		}
	case RoleSnapshot:
		if md.Type != "Snapshot" || req.Role != "snapshot" {
			return md, &DeniedError{Reason: fmt.Sprintf("a snapshot key signs only Snapshot metadata, not %s for %q", md.Type, req.Role)}
		}
	default:
		return md, &DeniedError{Reason: fmt.Sprintf("key has unknown role %q", meta.Role)}
	}
	if !ValidGUN(req.GUN) { // every role: the claim is audited, and bounded
		return md, &DeniedError{Reason: fmt.Sprintf("%q is not a repository name", req.GUN)}
	}
	return md, nil
}

// delegationRoles reports whether role names delegation roles only:
// "targets/releases", or several joined by commas when one publish signs
// the same metadata shape into each of them with one key.
func delegationRoles(role string) bool {
	for _, r := range strings.Split(role, ",") {
		if !strings.HasPrefix(r, "targets/") || len(r) == len("targets/") {
			return false
		}
	}
	return true
}

// parseMetadata reads the fields the policy and audit need from the
// canonical JSON of a TUF "signed" object, after checking it is canonical.
func parseMetadata(data []byte) (Metadata, error) {
	var md Metadata
	if err := checkCanonical(data); err != nil {
		return md, fmt.Errorf("payload is not canonical TUF metadata: %w", err)
	}
	var doc struct {
		Type    string                     `json:"_type"`
		Version int64                      `json:"version"`
		Expires time.Time                  `json:"expires"`
		Targets map[string]json.RawMessage `json:"targets"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		return md, fmt.Errorf("payload is not TUF metadata: %v", err)
	}
	switch doc.Type {
	case "Root", "Targets", "Snapshot", "Timestamp":
	default:
		return md, fmt.Errorf("payload is not TUF metadata (_type %q)", doc.Type)
	}
	if doc.Version < 1 || doc.Expires.IsZero() {
		return md, fmt.Errorf("%s metadata lacks a version or an expiry", doc.Type)
	}
	md = Metadata{Type: doc.Type, Version: doc.Version, Expires: doc.Expires}
	for name := range doc.Targets {
		md.Targets = append(md.Targets, name)
	}
	sort.Strings(md.Targets)
	if len(md.Targets) > maxAuditedTargets {
		md.Targets = append(md.Targets[:maxAuditedTargets], fmt.Sprintf("... %d more", len(doc.Targets)-maxAuditedTargets))
	}
	return md, nil
}

// checkCanonical accepts only what notary's canonical JSON encoder writes:
// one object, no insignificant white space, keys sorted and unique at every
// level. Anything else was not produced by a TUF client for signing.
func checkCanonical(data []byte) error {
	var compact bytes.Buffer
	if err := json.Compact(&compact, data); err != nil {
		return err
	}
	if !bytes.Equal(compact.Bytes(), data) {
		return fmt.Errorf("white space outside strings")
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	tok, err := dec.Token()
	if err != nil {
		return err
	}
	if tok != json.Delim('{') {
		return fmt.Errorf("not a JSON object")
	}
	if err := checkSortedObject(dec); err != nil {
		return err
	}
	if dec.More() {
		return fmt.Errorf("trailing data")
	}
	return nil
}

// checkSortedObject walks an object whose '{' was just read.
func checkSortedObject(dec *json.Decoder) error {
	prev, first := "", true
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return err
		}
		key := tok.(string)
		if !first && key <= prev {
			return fmt.Errorf("object keys not sorted or repeated at %q", key)
		}
		prev, first = key, false
		if err := checkValue(dec); err != nil {
			return err
		}
	}
	_, err := dec.Token() // '}'
	return err
}

func checkValue(dec *json.Decoder) error {
	tok, err := dec.Token()
	if err != nil {
		return err
	}
	switch tok {
	case json.Delim('{'):
		return checkSortedObject(dec)
	case json.Delim('['):
		for dec.More() {
			if err := checkValue(dec); err != nil {
				return err
			}
		}
		_, err = dec.Token() // ']'
		return err
	}
	return nil
}

// checkRootCerts requires every x509 key in Root metadata to be a
// certificate for gun: that is how the agent sees which repository a root
// key is asked to vouch for.
func checkRootCerts(data []byte, gun string) error {
	if !ValidGUN(gun) {
		return fmt.Errorf("root metadata must name its repository, got %q", gun)
	}
	certs, err := rootCertificates(data)
	if err != nil {
		return err
	}
	for id, cert := range certs {
		if cert.Subject.CommonName != gun {
			return fmt.Errorf("root certificate %s is for %q, not %q", id, cert.Subject.CommonName, gun)
		}
	}
	return nil
}

// rootCertificates returns the certificates of the root role's keys in
// Root metadata, by key ID.
func rootCertificates(data []byte) (map[string]*x509.Certificate, error) {
	var doc struct {
		Keys map[string]struct {
			Type  string `json:"keytype"`
			Value struct {
				Public string `json:"public"`
			} `json:"keyval"`
		} `json:"keys"`
		Roles map[string]struct {
			KeyIDs []string `json:"keyids"`
		} `json:"roles"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("root metadata: %v", err)
	}
	rootRole, ok := doc.Roles["root"]
	if !ok || len(rootRole.KeyIDs) == 0 {
		return nil, fmt.Errorf("root metadata lists no root keys")
	}
	certs := map[string]*x509.Certificate{}
	for _, id := range rootRole.KeyIDs {
		k, ok := doc.Keys[id]
		if !ok {
			return nil, fmt.Errorf("root metadata names root key %s but does not list it", id)
		}
		if !strings.HasSuffix(k.Type, "-x509") {
			return nil, fmt.Errorf("root key %s is not a certificate", id)
		}
		raw, err := base64.StdEncoding.DecodeString(k.Value.Public)
		if err != nil {
			return nil, fmt.Errorf("root key %s: %v", id, err)
		}
		block, _ := pem.Decode(raw)
		if block == nil {
			return nil, fmt.Errorf("root key %s is not a PEM certificate", id)
		}
		cert, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("root key %s: %v", id, err)
		}
		certs[id] = cert
	}
	return certs, nil
}
