package tuf

import (
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"strings"

	"github.com/trust-agent/trust-agent/agent"
	"github.com/trust-agent/trust-agent/internal/canonjson"
)

// A root key's signature on Root metadata hands the repository to whatever
// keys the Root names. The policy therefore reads the whole Root, checks
// its shape as notary's client would rely on it, and then asks which of the
// named keys this agent holds (reviewRoot, in review.go): a Root that leaves
// the trust where it is gets signed; one that hands any of it to a key the
// agent does not hold, or changes the root keys, waits for a person.

// maxRootKeys bounds the keys a Root may list, and maxRoleKeys those one
// of its roles may name: real Roots name a handful, and every one of them
// goes into the audit line and the question a person is asked.
const (
	maxRootKeys = 64
	maxRoleKeys = 16
)

// rootRoleNames are the four roles a Root must list, no more.
var rootRoleNames = []string{"root", "snapshot", "targets", "timestamp"}

// tufKey is a public key as TUF metadata lists it.
type tufKey struct {
	Type   string // notary's keytype: "ecdsa", "ecdsa-x509", "rsa", ...
	Public []byte // PKIX DER, or a PEM certificate for the -x509 types
}

// knownKeyTypes are the key types notary reads.
var knownKeyTypes = map[string]bool{
	"ecdsa": true, "ecdsa-x509": true, "rsa": true, "rsa-x509": true, "ed25519": true,
}

// rootDoc is what a Root says about trust: keys by ID, and each role's
// key IDs and threshold.
type rootDoc struct {
	keys  map[string]tufKey
	roles map[string]agent.RoleKeys
}

// parseKeys reads a TUF "keys" object. Every key must have exactly
// notary's fields, no private part, and the ID notary computes for it (the
// SHA-256 of the canonical JSON of the key), so that an ID names exactly
// one key for the agent and for notary alike.
func parseKeys(keys *canonjson.Object, where string) (map[string]tufKey, error) {
	out := make(map[string]tufKey, keys.Len())
	for i := range keys.Len() {
		id := keys.KeyAt(i)
		kwhere := fmt.Sprintf("%s: key %q", where, shortID(id))
		kov, ok := keys.ObjectAt(i)
		ko := &kov
		if !ok {
			return nil, fmt.Errorf("%s is not an object", kwhere)
		}
		if err := exactFields(ko, kwhere, "keytype", "keyval"); err != nil {
			return nil, err
		}
		typ, ok := stringValue(ko, "keytype")
		if !ok || !knownKeyTypes[typ] {
			return nil, fmt.Errorf("%s has key type %v; notary's are ecdsa, ecdsa-x509, rsa, rsa-x509 and ed25519", kwhere, ko.Value("keytype"))
		}
		kv, err := objectField(ko, "keyval", kwhere)
		if err != nil {
			return nil, err
		}
		if err := exactFields(kv, kwhere+" keyval", "private", "public"); err != nil {
			return nil, err
		}
		if kv.Value("private") != nil {
			return nil, fmt.Errorf("%s carries a private key; metadata lists public keys only", kwhere)
		}
		pub, ok := stringValue(kv, "public")
		if !ok {
			return nil, fmt.Errorf("%s: public is not a string", kwhere)
		}
		der, err := base64Value(pub, kwhere+" public")
		if err != nil {
			return nil, err
		}
		sum := sha256.Sum256(canonjson.Encode(nil, ko))
		if want := hex.EncodeToString(sum[:]); id != want {
			return nil, fmt.Errorf("%s is listed under an ID that is not its own (notary's ID of this key is %s)", kwhere, shortID(want))
		}
		out[id] = tufKey{Type: typ, Public: der}
	}
	return out, nil
}

// parseRoot reads and checks a Root's keys and roles: exactly the four
// roles, each with 1 <= threshold <= its number of distinct key IDs, every
// key ID listed in keys.
func parseRoot(doc *canonjson.Object) (*rootDoc, error) {
	keysObj, ok := doc.Value("keys").(*canonjson.Object) // never null: notary reads a null Keys back as {}
	if !ok {
		return nil, fmt.Errorf("Root metadata: keys is not an object")
	}
	if keysObj.Len() > maxRootKeys {
		return nil, fmt.Errorf("Root metadata lists %d keys; the agent signs Roots of at most %d", keysObj.Len(), maxRootKeys)
	}
	keys, err := parseKeys(keysObj, "Root metadata")
	if err != nil {
		return nil, err
	}
	rolesObj, err := objectField(doc, "roles", "Root metadata")
	if err != nil {
		return nil, err
	}
	if err := exactFields(rolesObj, "Root metadata roles", rootRoleNames...); err != nil {
		return nil, err
	}
	r := &rootDoc{keys: keys, roles: map[string]agent.RoleKeys{}}
	for _, name := range rootRoleNames {
		where := fmt.Sprintf("Root metadata: role %s", name)
		ro, ok := rolesObj.Value(name).(*canonjson.Object)
		if !ok {
			return nil, fmt.Errorf("%s is not an object", where)
		}
		if err := exactFields(ro, where, "keyids", "threshold"); err != nil {
			return nil, err
		}
		ids, err := stringsField(ro, "keyids", where)
		if err != nil {
			return nil, err
		}
		if len(ids) > maxRoleKeys {
			return nil, fmt.Errorf("%s names %d keys; the agent signs Roots whose roles name at most %d", where, len(ids), maxRoleKeys)
		}
		seen := map[string]bool{}
		for _, id := range ids {
			if seen[id] {
				return nil, fmt.Errorf("%s lists key %s twice", where, shortID(id))
			}
			seen[id] = true
			if _, ok := keys[id]; !ok {
				return nil, fmt.Errorf("%s names key %s, which the Root's keys do not list", where, shortID(id))
			}
		}
		threshold, err := intField(ro, "threshold", where)
		if err != nil {
			return nil, err
		}
		if threshold < 1 || threshold > int64(len(ids)) {
			return nil, fmt.Errorf("%s has threshold %d with %d keys; it must be between 1 and the number of keys", where, threshold, len(ids))
		}
		r.roles[name] = agent.RoleKeys{KeyIDs: ids, Threshold: int(threshold)}
	}
	return r, nil
}

// checkCerts requires every root role key to be a certificate for gun:
// that is how the agent sees which repository a root key is asked to
// vouch for.
func (r *rootDoc) checkCerts(gun string) error {
	if !agent.ValidGUN(gun) {
		return fmt.Errorf("root metadata must name its repository, got %q", gun)
	}
	for _, id := range r.roles["root"].KeyIDs {
		cert, err := r.certificate(id)
		if err != nil {
			return err
		}
		if cert.Subject.CommonName != gun {
			return fmt.Errorf("root certificate %s is for %q, not %q", shortID(id), cert.Subject.CommonName, gun)
		}
	}
	return nil
}

// certificate parses key id, which must be an -x509 key.
func (r *rootDoc) certificate(id string) (*x509.Certificate, error) {
	k := r.keys[id]
	if !strings.HasSuffix(k.Type, "-x509") {
		return nil, fmt.Errorf("root key %s is not a certificate", shortID(id))
	}
	block, rest := pem.Decode(k.Public)
	if block == nil || block.Type != "CERTIFICATE" || len(strings.TrimSpace(string(rest))) != 0 {
		return nil, fmt.Errorf("root key %s is not one PEM certificate", shortID(id))
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("root key %s: %v", shortID(id), err)
	}
	return cert, nil
}
