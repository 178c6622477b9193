package tuf

import (
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/trust-agent/trust-agent/agent"
	"github.com/trust-agent/trust-agent/internal/canonjson"
)

// maxAuditedTargets bounds how many target names one audit line carries: a
// repository with thousands of tags would otherwise write megabyte lines.
const maxAuditedTargets = 256

// checkPolicy decides whether key may sign req, and returns what it saw
// (for Root metadata, its roles and keys too: Check then reviews who holds
// them). The agent is not a signing oracle: it signs only canonical TUF
// metadata of the role the key serves, for the repository the key is
// bound to.
func checkPolicy(meta agent.KeyMeta, req agent.SignRequest) (agent.Metadata, *rootDoc, error) {
	md, root, err := checkPayload(meta, req)
	if err != nil {
		return md, nil, &agent.DeniedError{Reason: err.Error()}
	}
	return md, root, nil
}

// checkPayload is checkPolicy's work; its errors become the refusal's reason.
func checkPayload(meta agent.KeyMeta, req agent.SignRequest) (agent.Metadata, *rootDoc, error) {
	md, doc, err := parseMetadata(req.Data)
	if err != nil {
		return md, nil, err
	}
	if meta.GUN != "" && req.GUN != meta.GUN {
		return md, nil, fmt.Errorf("key is bound to repository %s, not %q", meta.GUN, req.GUN)
	}
	var root *rootDoc
	switch meta.Role {
	case agent.RoleRoot:
		if md.Type != "Root" || req.Role != "root" {
			return md, nil, fmt.Errorf("a root key signs only Root metadata for the root role, not %s metadata for %q", md.Type, req.Role)
		}
		if root, err = parseRoot(doc); err != nil {
			return md, nil, err
		}
		md.Roles = root.roles
		if err := root.checkCerts(req.GUN); err != nil {
			return md, nil, err
		}
	case agent.RoleTargets:
		if md.Type != "Targets" || req.Role != "targets" {
			return md, nil, fmt.Errorf("a repository key signs only the targets role, not %s metadata for %q", md.Type, req.Role)
		}
	case agent.RoleDelegation:
		if md.Type != "Targets" || !delegationRoles(req.Role) {
			return md, nil, fmt.Errorf("a delegation key signs only targets/<name> roles, not %s metadata for %q", md.Type, req.Role)
		}
	case agent.RoleSnapshot:
		if md.Type != "Snapshot" || req.Role != "snapshot" {
			return md, nil, fmt.Errorf("a snapshot key signs only Snapshot metadata, not %s for %q", md.Type, req.Role)
		}
	default:
		return md, nil, fmt.Errorf("key has unknown role %q", meta.Role)
	}
	if !agent.ValidGUN(req.GUN) { // every role: the claim is audited, and bounded
		return md, nil, fmt.Errorf("%q is not a repository name", req.GUN)
	}
	return md, root, nil
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
// canonical JSON of a TUF "signed" object. It decodes with canonjson.Parse
// (byte-exact notary canonical JSON) and reads fields by their exact
// names; every object of a known shape must have exactly notary's fields,
// so no key that differs only in case ("VERSION", "_TYPE", "targetſ") or
// that another TUF implementation might read can ride along.
//
// The document is returned for Root metadata only (parseRoot reads it);
// any other's is released for the next parse to reuse (canonjson's
// Object.Release: a large Targets' members are most of what the parse
// allocates), md holding copies of what it needs.
func parseMetadata(data []byte) (md agent.Metadata, _ *canonjson.Object, err error) {
	doc, err := canonjson.Parse(data)
	if err != nil {
		return md, nil, fmt.Errorf("payload is not canonical TUF metadata: %w", err)
	}
	keep := false
	defer func() {
		if !keep {
			doc.Release()
		}
	}()
	typ, _ := stringValue(doc, "_type")
	var shape []string
	switch typ {
	case "Root":
		shape = []string{"_type", "consistent_snapshot", "expires", "keys", "roles", "version"}
	case "Targets":
		shape = []string{"_type", "delegations", "expires", "targets", "version"}
	case "Snapshot", "Timestamp":
		shape = []string{"_type", "expires", "meta", "version"}
	default:
		return md, nil, fmt.Errorf("payload is not TUF metadata (_type %q); send the canonical JSON of a Root, Targets or Snapshot \"signed\" object", typ)
	}
	md.Type = typ
	version, _ := intValue(doc, "version")
	expires, eok := stringValue(doc, "expires")
	if version < 1 || !eok {
		return md, nil, fmt.Errorf("%s metadata lacks a version or an expiry", typ)
	}
	md.Version = version
	if md.Expires, err = parseExpiry(expires); err != nil {
		return md, nil, fmt.Errorf("%s metadata: %w", typ, err)
	}
	if err := exactFields(doc, typ+" metadata", shape...); err != nil {
		return md, nil, err
	}
	switch typ {
	case "Root":
		if _, ok := doc.Value("consistent_snapshot").(bool); !ok {
			return md, nil, fmt.Errorf("Root metadata: consistent_snapshot is not true or false")
		}
	case "Targets":
		targets, err := objectField(doc, "targets", "Targets metadata")
		if err != nil {
			return md, nil, err
		}
		if err := eachFileMeta(targets, "target"); err != nil {
			return md, nil, err
		}
		if err := checkDelegations(doc); err != nil {
			return md, nil, err
		}
		n := targets.Len() // the names are sorted: the payload is canonical
		if n > 0 {
			md.Targets = make([]string, 0, min(n, maxAuditedTargets+1))
		}
		for i := range min(n, maxAuditedTargets) {
			md.Targets = append(md.Targets, targets.KeyAt(i))
		}
		if n > maxAuditedTargets {
			md.Targets = append(md.Targets, fmt.Sprintf("... %d more", n-maxAuditedTargets))
		}
	case "Snapshot", "Timestamp":
		meta, err := objectField(doc, "meta", typ+" metadata")
		if err != nil {
			return md, nil, err
		}
		if err := eachFileMeta(meta, "meta entry"); err != nil {
			return md, nil, err
		}
	}
	if typ != "Root" {
		return md, nil, nil
	}
	keep = true
	return md, doc, nil
}

// parseExpiry reads an expiry as notary's time.Time does (RFC 3339) and
// requires the form time.Time.MarshalJSON writes back.
func parseExpiry(s string) (time.Time, error) {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil || t.Format(time.RFC3339Nano) != s {
		return time.Time{}, fmt.Errorf("expiry %q is not an RFC 3339 time as notary writes it (2030-01-01T00:00:00Z)", s)
	}
	return t, nil
}

// exactFields requires o to have exactly the keys names.
func exactFields(o *canonjson.Object, where string, names ...string) error {
	for i := range o.Len() {
		k := o.KeyAt(i)
		known := false
		for _, n := range names {
			known = known || k == n
		}
		if !known {
			return fmt.Errorf("%s has an unknown field %q (fields are %s, matched exactly)", where, k, strings.Join(names, ", "))
		}
	}
	for _, n := range names {
		if o.Index(n) < 0 {
			return fmt.Errorf("%s lacks the field %q", where, n)
		}
	}
	return nil
}

func objectField(o *canonjson.Object, name, where string) (*canonjson.Object, error) {
	i := o.Index(name)
	if i < 0 {
		return nil, fmt.Errorf("%s: %s is not an object", where, name)
	}
	if v, ok := o.ObjectAt(i); ok {
		return &v, nil
	}
	if o.At(i) == nil { // notary writes a nil map as null
		return &canonjson.Object{}, nil
	}
	return nil, fmt.Errorf("%s: %s is not an object", where, name)
}

func intField(o *canonjson.Object, name, where string) (int64, error) {
	v, ok := intValue(o, name)
	if !ok {
		return 0, fmt.Errorf("%s: %s is not an integer", where, name)
	}
	return v, nil
}

// intValue is o's integer name, if o has one.
func intValue(o *canonjson.Object, name string) (int64, bool) {
	if i := o.Index(name); i >= 0 {
		return o.IntAt(i)
	}
	return 0, false
}

// stringValue is o's string name, if o has one.
func stringValue(o *canonjson.Object, name string) (string, bool) {
	if i := o.Index(name); i >= 0 {
		return o.StringAt(i)
	}
	return "", false
}

func stringsField(o *canonjson.Object, name, where string) ([]string, error) {
	arr, ok := o.Value(name).([]any)
	if o.Value(name) == nil { // notary writes a nil list as null
		arr, ok = nil, true
	}
	if !ok {
		return nil, fmt.Errorf("%s: %s is not a list", where, name)
	}
	out := make([]string, 0, len(arr))
	for _, v := range arr {
		s, ok := v.(string)
		if !ok {
			return nil, fmt.Errorf("%s: %s holds a non-string", where, name)
		}
		out = append(out, s)
	}
	return out, nil
}

// base64Value decodes s as notary's []byte fields are written: standard
// base64 with padding, in the one form an encoder writes.
func base64Value(s, where string) ([]byte, error) {
	if !canonicalBase64(s) {
		return nil, fmt.Errorf("%s is not standard base64", where)
	}
	return base64.StdEncoding.DecodeString(s)
}

// base64Alphabet maps the standard alphabet's bytes to their values, and
// every other byte to 0xff.
var base64Alphabet = func() (t [256]byte) {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
	for i := range t {
		t[i] = 0xff
	}
	for i := range len(alphabet) {
		t[alphabet[i]] = byte(i)
	}
	return t
}()

// canonicalBase64 reports, without decoding, whether s is what
// base64.StdEncoding writes: whole quanta of 4, the standard alphabet, "="
// padding only at the end and only as much as the last quantum needs, and
// no bits set past the data (so one byte string has exactly one form).
func canonicalBase64[T string | []byte](s T) bool {
	if len(s)%4 != 0 {
		return false
	}
	body := s
	for range 2 {
		if len(body) > 0 && body[len(body)-1] == '=' {
			body = body[:len(body)-1]
		}
	}
	for i := range len(body) {
		if base64Alphabet[body[i]] == 0xff {
			return false
		}
	}
	switch len(s) - len(body) { // the last character's unused low bits
	case 1: // 2 bytes in 3 characters: 18 bits, 16 used
		return base64Alphabet[body[len(body)-1]]&0x3 == 0
	case 2: // 1 byte in 2 characters: 12 bits, 8 used
		return base64Alphabet[body[len(body)-1]]&0xf == 0
	}
	return true
}

// eachFileMeta checks the values of a targets or meta map: notary's
// FileMeta {custom?, hashes, length}.
func eachFileMeta(files *canonjson.Object, what string) error {
	for i := range files.Len() {
		if files.CheckedFileMetaAt(i) {
			continue // the bulk of a large map: checked in the parse (canonjson's fast path)
		}
		if hash, n, ok := files.FileMetaAt(i); ok && n >= 0 && canonicalBase64(hash) {
			continue // the same shape the fast path left: a SHA-256 and a length, read in place
		}
		fmv, ok := files.ObjectAt(i)
		fm := &fmv
		if ok && fm.Len() == 2 && fm.KeyIs(0, "hashes") && fm.KeyIs(1, "length") && fileMetaValues(fm) {
			continue // the common shape, checked without building messages
		}
		where := fmt.Sprintf("%s %q", what, files.KeyAt(i))
		if !ok {
			return fmt.Errorf("%s is not an object", where)
		}
		fields := []string{"hashes", "length"}
		if c, ok := fm.Get("custom"); ok {
			if c == nil { // notary omits a null custom: it never writes one
				return fmt.Errorf("%s: custom is null", where)
			}
			fields = append(fields, "custom")
		}
		if err := exactFields(fm, where, fields...); err != nil {
			return err
		}
		if n, err := intField(fm, "length", where); err != nil || n < 0 {
			return fmt.Errorf("%s: length is not a size", where)
		}
		hashes, err := objectField(fm, "hashes", where)
		if err != nil {
			return err
		}
		for j := range hashes.Len() {
			alg := hashes.KeyAt(j)
			s, ok := hashes.StringAt(j)
			if !ok {
				return fmt.Errorf("%s: hash %q is not a string", where, alg)
			}
			if _, err := base64Value(s, where+" hash "+strconv.Quote(alg)); err != nil {
				return err
			}
		}
	}
	return nil
}

// fileMetaValues reports whether fm's length is a size and its hashes
// are standard base64 strings.
func fileMetaValues(fm *canonjson.Object) bool {
	if n, ok := intValue(fm, "length"); !ok || n < 0 {
		return false
	}
	i := fm.Index("hashes")
	if i < 0 {
		return false
	}
	hashes, ok := fm.ObjectAt(i)
	if !ok {
		return false
	}
	for j := range hashes.Len() {
		if s, ok := hashes.StringBytesAt(j); !ok || !canonicalBase64(s) {
			return false
		}
	}
	return true
}

// checkDelegations checks a Targets "delegations" object: notary's
// Delegations {keys, roles} with roles [{keyids, name, paths?, threshold}].
func checkDelegations(doc *canonjson.Object) error {
	const where = "Targets metadata: delegations"
	d, err := objectField(doc, "delegations", "Targets metadata")
	if err != nil {
		return err
	}
	if err := exactFields(d, where, "keys", "roles"); err != nil {
		return err
	}
	keys, ok := d.Value("keys").(*canonjson.Object) // never null: notary reads a null Keys back as {}
	if !ok {
		return fmt.Errorf("%s: keys is not an object", where)
	}
	if _, err := parseKeys(keys, where); err != nil {
		return err
	}
	roles, ok := d.Value("roles").([]any)
	if d.Value("roles") == nil { // notary writes a nil list as null
		roles, ok = nil, true
	}
	if !ok {
		return fmt.Errorf("%s: roles is not a list", where)
	}
	for i, r := range roles {
		role, ok := r.(*canonjson.Object)
		rwhere := fmt.Sprintf("%s: role %d", where, i)
		if !ok {
			return fmt.Errorf("%s is not an object", rwhere)
		}
		fields := []string{"keyids", "name", "threshold"}
		if _, ok := role.Get("paths"); ok {
			fields = append(fields, "paths")
			paths, err := stringsField(role, "paths", rwhere)
			if err != nil {
				return err
			}
			if len(paths) == 0 { // notary omits empty paths: it never writes []
				return fmt.Errorf("%s: paths is empty", rwhere)
			}
		}
		if err := exactFields(role, rwhere, fields...); err != nil {
			return err
		}
		if _, ok := role.Value("name").(string); !ok {
			return fmt.Errorf("%s: name is not a string", rwhere)
		}
		if _, err := stringsField(role, "keyids", rwhere); err != nil {
			return err
		}
		if _, err := intField(role, "threshold", rwhere); err != nil {
			return err
		}
	}
	return nil
}
