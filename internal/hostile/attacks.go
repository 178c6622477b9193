package hostile

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// KeyInfo is a key as the agent lists it (PROTOCOL.md: the json tags of
// agent.KeyInfo), decoded leniently as a client decodes responses.
type KeyInfo struct {
	ID        string `json:"id"`
	Role      string `json:"role"`
	Name      string `json:"name"`
	GUN       string `json:"gun"`
	Algorithm string `json:"algorithm"`
	PublicKey []byte `json:"public_key"`
	Backend   string `json:"backend"`
	Certs     []struct {
		GUN string `json:"gun"`
		DER []byte `json:"der"`
	} `json:"certs"`
}

// Target is an agent prepared for the attacks: keys the hostile client
// made itself over the wire (any process of the agent's user can).
type Target struct {
	Path     string // the agent's socket
	GUN      string // the repository the keys serve
	OtherGUN string // another repository

	Root         KeyInfo // a root key, certified for GUN
	RootCert     []byte  // its certificate for GUN (DER)
	RootCertAlt  []byte  // its certificate for OtherGUN (DER)
	Targets      KeyInfo // a targets key bound to GUN
	Snapshot     KeyInfo // a snapshot key bound to GUN
	OtherTargets KeyInfo // a targets key bound to OtherGUN
	Delegation   KeyInfo // a delegation key
	Notation     KeyInfo // a notation key (format notation)
	Cosign       KeyInfo // a cosign key (format cosign)
}

// Prepare makes the keys of a Target on the agent at path, for gun and
// otherGUN. The agent must be unlocked.
func Prepare(path, gun, otherGUN string) (*Target, error) {
	c, err := Dial(path)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	t := &Target{Path: path, GUN: gun, OtherGUN: otherGUN}
	suffix := randomHex(4)
	gen := func(out *KeyInfo, role, name, gun string) error {
		req := map[string]any{"role": role, "name": name + "-" + suffix}
		if gun != "" {
			req["gun"] = gun
		}
		if err := c.DoJSON(TypeGenerate, req, out); err != nil {
			return fmt.Errorf("hostile: generate %s key: %w", role, err)
		}
		return nil
	}
	for _, k := range []struct {
		out             *KeyInfo
		role, name, gun string
	}{
		{&t.Root, "root", "root", ""},
		{&t.Targets, "targets", "repo", gun},
		{&t.Snapshot, "snapshot", "snap", gun},
		{&t.OtherTargets, "targets", "other", otherGUN},
		{&t.Delegation, "delegation", "deleg", ""},
		{&t.Notation, "notation", "notation", ""},
		{&t.Cosign, "cosign", "cosign", ""},
	} {
		if err := gen(k.out, k.role, k.name, k.gun); err != nil {
			return nil, err
		}
	}
	for _, cert := range []struct {
		out *[]byte
		gun string
	}{{&t.RootCert, gun}, {&t.RootCertAlt, otherGUN}} {
		var resp struct {
			DER []byte `json:"der"`
		}
		if err := c.DoJSON(TypeCertifyRoot, map[string]string{"key_id": t.Root.ID, "gun": cert.gun}, &resp); err != nil {
			return nil, fmt.Errorf("hostile: certify-root for %s: %w", cert.gun, err)
		}
		*cert.out = resp.DER
	}
	return t, nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand does not fail on Linux
	}
	return hex.EncodeToString(b)
}

// Result is what one attack achieved.
type Result struct {
	// Accepted is true when the agent did what the attacker wanted: a
	// signature, a key, a certificate.
	Accepted bool
	// Reply is the agent's last answer (a failure's code and message).
	Reply Reply
	// Err is set when the attack could not be carried out (the connection
	// failed); the agent may still have refused it.
	Err error
	// Note says more (counts, sizes).
	Note string
}

func (r Result) String() string {
	switch {
	case r.Err != nil:
		return "error: " + r.Err.Error()
	case r.Accepted:
		s := "ACCEPTED"
		if r.Note != "" {
			s += " (" + r.Note + ")"
		}
		return s
	}
	s := "refused, " + r.Reply.String()
	if r.Note != "" {
		s += " (" + r.Note + ")"
	}
	return s
}

// Attack is one request-level attack: one request, one answer.
type Attack struct {
	Name string
	// What is the attack, as the issue reported it.
	What string
	// WantCode is the code the design says the agent refuses it with.
	WantCode int
	// WantMessage, when set, is a substring the refusal must carry (say,
	// how to enable what would allow it).
	WantMessage string
	// Defence names the defence that refuses it (as of issue 7): the
	// branch that makes its test pass.
	Defence string
	// Open, when set, says that the agent does what this attack wants
	// today and why that is not fixed yet (a hole reported, not closed):
	// TestAttacks then expects it to succeed, so that closing it fails the
	// test and moves the attack to the refused ones.
	Open string
	// Body builds the request; Type is its message type.
	Type byte
	Body func(t *Target) ([]byte, error)
}

// Run carries the attack out on its own connection.
func (a Attack) Run(t *Target) Result {
	body, err := a.Body(t)
	if err != nil {
		return Result{Err: err}
	}
	return Send(t.Path, a.Type, body)
}

// Send sends one request on a new connection and reports whether the agent
// answered with success.
func Send(path string, typ byte, body []byte) Result {
	c, err := Dial(path)
	if err != nil {
		return Result{Err: err}
	}
	defer c.Close()
	rep, err := c.Do(typ, body)
	if err != nil {
		return Result{Err: err}
	}
	return Result{Accepted: rep.OK(typ), Reply: rep}
}

// The big-integer attacks were open in round 11: internal/canonjson took
// any int64 as canonical, but notary verifies a signature over
// json.MarshalCanonical of the payload decoded into interface{} (numbers as
// float64), which writes an integer beyond 2^53 as another number; the
// agent signed bytes no notary client verifies. Closed: canonjson refuses
// integers beyond ±2^53 (canonjson.MaxInt).

// Defences, as issue 7 names them.
const (
	DefStrictRequests = "strict request decoding (socket)"
	DefByteCanonical  = "byte-canonical payloads (policy)"
	DefWholeRoot      = "whole-Root policy with confirmation (policy)"
	DefRoleBinding    = "role and repository binding (policy; holds today)"
	DefWritesBounded  = "bounded names and writes (pin)"
	DefDeleteConfirm  = "every delete confirmed by a person (custody)"
	DefFormatRole     = "a key signs only its own format (payload policies)"
)

// SignBody is a sign request body (a bulk body, PROTOCOL.md): the JSON in
// the field order of PROTOCOL.md, then data.
func SignBody(keyID, gun, role string, data []byte) []byte {
	b, err := json.Marshal(struct {
		KeyID string `json:"key_id"`
		GUN   string `json:"gun"`
		Role  string `json:"role"`
	}{keyID, gun, role})
	if err != nil {
		panic(err) // strings only
	}
	return BulkBody(b, data)
}

// targetsSign signs data with the Target's targets key, as role targets of GUN.
func targetsSign(data []byte) func(t *Target) ([]byte, error) {
	return func(t *Target) ([]byte, error) { return SignBody(t.Targets.ID, t.GUN, "targets", data), nil }
}

// rootSign signs the Root metadata build makes with the Target's root key.
func rootSign(build func(t *Target) ([]byte, error)) func(t *Target) ([]byte, error) {
	return func(t *Target) ([]byte, error) {
		data, err := build(t)
		if err != nil {
			return nil, err
		}
		return SignBody(t.Root.ID, t.GUN, "root", data), nil
	}
}

// GoodRoot is the Root metadata `signer add` writes for a new repository
// with agent-held keys: the root certificate of the agent's root key, the
// agent's targets and snapshot keys for GUN, a server-managed timestamp
// key. The agent signs it without asking anybody; each Root attack below
// changes one thing of it.
func GoodRoot(t *Target) (RootSpec, error) {
	ts, err := ForeignKey()
	if err != nil {
		return RootSpec{}, err
	}
	return RootSpec{Version: 1, Roles: map[string]RoleSpec{
		"root":      {Keys: []PublicKey{CertKey(t.Root.Algorithm, t.RootCert)}, Threshold: 1},
		"targets":   {Keys: []PublicKey{KeyFromInfo(t.Targets)}, Threshold: 1},
		"snapshot":  {Keys: []PublicKey{KeyFromInfo(t.Snapshot)}, Threshold: 1},
		"timestamp": {Keys: []PublicKey{ts}, Threshold: 1},
	}}, nil
}

// rootWith is GoodRoot changed by change.
func rootWith(change func(t *Target, s *RootSpec) error) func(t *Target) ([]byte, error) {
	return func(t *Target) ([]byte, error) {
		s, err := GoodRoot(t)
		if err != nil {
			return nil, err
		}
		if change != nil {
			if err := change(t, &s); err != nil {
				return nil, err
			}
		}
		return RootJSON(s), nil
	}
}

func foreignRole(role string) func(t *Target, s *RootSpec) error {
	return func(t *Target, s *RootSpec) error {
		k, err := ForeignKey()
		if err != nil {
			return err
		}
		s.Roles[role] = RoleSpec{Keys: []PublicKey{k}, Threshold: 1}
		return nil
	}
}

// caseTwinRoot puts upper-case "KEYS" and "ROLES" naming a foreign targets
// key before the real "keys" and "roles" (upper case sorts first).
func caseTwinRoot(t *Target) ([]byte, error) {
	good, err := rootWith(nil)(t)
	if err != nil {
		return nil, err
	}
	foreign, err := ForeignKey()
	if err != nil {
		return nil, err
	}
	twins := `"KEYS":{"` + foreign.ID + `":` + foreign.JSON() + `},"ROLES":{"targets":{"keyids":["` + foreign.ID + `"],"threshold":1}},`
	return bytes.Replace(good, []byte(`{"_type"`), []byte(`{`+twins+`"_type"`), 1), nil
}

// Base64Lines is the standard base64 of b with a newline every 16
// characters, which Go's encoding/json decodes as if they were not there.
func Base64Lines(b []byte) string {
	s := base64.StdEncoding.EncodeToString(b)
	var out strings.Builder
	for i := 0; i < len(s); i += 16 {
		out.WriteString(s[i:min(i+16, len(s))])
		out.WriteString(`\n`)
	}
	return out.String()
}

// Attacks are the request-level attacks of issue 7, each one request.
func Attacks() []Attack {
	good := TargetsJSON(2, "latest")
	b64 := func(b []byte) string { return base64.StdEncoding.EncodeToString(b) }
	// raw is a sign request of the JSON template js, then data.
	raw := func(js string, data []byte) func(t *Target) ([]byte, error) {
		return func(t *Target) ([]byte, error) {
			r := strings.NewReplacer("$TARGETS", t.Targets.ID, "$GUN", t.GUN, "$OTHER", t.OtherGUN, "$DATA", b64(good), "$LINES", Base64Lines(good))
			return BulkBody([]byte(r.Replace(js)), data), nil
		}
	}
	targets := func(head, names, tail string) []byte {
		return []byte(`{` + head + `"_type":"Targets","delegations":{"keys":{},"roles":[]},"expires":"` + Expires +
			`","targets":{` + targetEntries(strings.Split(names, "|")...) + `}` + tail + `,"version":2}`)
	}
	withKey := func(id func(t *Target) KeyInfo, gun func(t *Target) string, role string, data []byte) func(t *Target) ([]byte, error) {
		return func(t *Target) ([]byte, error) { return SignBody(id(t).ID, gun(t), role, data), nil }
	}
	targetsKey := func(t *Target) KeyInfo { return t.Targets }
	snapshotKey := func(t *Target) KeyInfo { return t.Snapshot }
	rootKey := func(t *Target) KeyInfo { return t.Root }
	delegKey := func(t *Target) KeyInfo { return t.Delegation }
	gun := func(t *Target) string { return t.GUN }
	return []Attack{
		// Lenient request forms.
		{Name: "request/duplicate-gun", What: "a duplicated gun: the last one wins", WantCode: CodeInvalidRequest, Defence: DefStrictRequests,
			Type: TypeSign, Body: raw(`{"key_id":"$TARGETS","gun":"$OTHER","role":"targets","gun":"$GUN"}`, good)},
		{Name: "request/upper-case-field", What: "KEY_ID for key_id", WantCode: CodeInvalidRequest, Defence: DefStrictRequests,
			Type: TypeSign, Body: raw(`{"KEY_ID":"$TARGETS","gun":"$GUN","role":"targets"}`, good)},
		{Name: "request/null-body", What: "a null body", WantCode: CodeInvalidRequest, Defence: DefStrictRequests,
			Type: TypeSign, Body: raw(`null`, good)},
		{Name: "request/data-in-json", What: "data in the JSON (base64, as version 1 sent it) besides the bulk bytes: which one is signed?", WantCode: CodeInvalidRequest, Defence: DefStrictRequests,
			Type: TypeSign, Body: raw(`{"key_id":"$TARGETS","gun":"$GUN","role":"targets","data":"$DATA"}`, SnapshotJSON(2))},
		{Name: "request/base64-newlines", What: "base64 with embedded newlines (an imported key)", WantCode: CodeInvalidRequest, Defence: DefStrictRequests,
			Type: TypeImport, Body: func(t *Target) ([]byte, error) {
				return []byte(`{"role":"delegation","name":"lines","pkcs8":"` + Base64Lines(good) + `"}`), nil
			}},
		{Name: "request/null-field", What: "a null gun", WantCode: CodeInvalidRequest, Defence: DefStrictRequests,
			Type: TypeSign, Body: raw(`{"key_id":"$TARGETS","gun":null,"role":"targets"}`, good)},

		// Non-canonical payloads: notary's canonical encoder escapes only
		// `"` and `\`, so every other escape is a form it never writes.
		{Name: "payload/escaped-A", What: `\u0041`, WantCode: CodeDenied, Defence: DefByteCanonical, Type: TypeSign, Body: targetsSign(targets("", `\u0041`, ""))},
		{Name: "payload/escaped-solidus", What: `\/`, WantCode: CodeDenied, Defence: DefByteCanonical, Type: TypeSign, Body: targetsSign(targets("", `a\/b`, ""))},
		{Name: "payload/escaped-lt", What: `\u003c`, WantCode: CodeDenied, Defence: DefByteCanonical, Type: TypeSign, Body: targetsSign(targets("", `\u003cb`, ""))},
		{Name: "payload/escaped-u2028", What: `\u2028`, WantCode: CodeDenied, Defence: DefByteCanonical, Type: TypeSign, Body: targetsSign(targets("", `a\u2028b`, ""))},
		{Name: "payload/control-escape", What: `\t`, WantCode: CodeDenied, Defence: DefByteCanonical, Type: TypeSign, Body: targetsSign(targets("", `a\tb`, ""))},
		{Name: "payload/control-u-escape", What: `\u0001`, WantCode: CodeDenied, Defence: DefByteCanonical, Type: TypeSign, Body: targetsSign(targets("", `a\u0001b`, ""))},
		{Name: "payload/invalid-utf8", What: "a 0xff byte in a target name", WantCode: CodeDenied, Defence: DefByteCanonical, Type: TypeSign, Body: targetsSign(targets("", "a\xffb", ""))},
		{Name: "payload/case-twin-version", What: `"VERSION":2 ... "version":1`, WantCode: CodeDenied, Defence: DefByteCanonical, Type: TypeSign,
			Body: targetsSign([]byte(strings.Replace(string(TargetsJSON(1, "latest")), `{"_type"`, `{"VERSION":2,"_type"`, 1)))},
		{Name: "payload/case-twin-targets", What: `"TARGETS"`, WantCode: CodeDenied, Defence: DefByteCanonical, Type: TypeSign,
			Body: targetsSign(targets(`"TARGETS":{`+targetEntries("evil")+`},`, "latest", ""))},
		{Name: "payload/case-twin-type", What: `"_TYPE"`, WantCode: CodeDenied, Defence: DefByteCanonical, Type: TypeSign,
			Body: targetsSign(targets(`"_TYPE":"Root",`, "latest", ""))},
		{Name: "payload/long-s-targets", What: `"targetſ" (folds to "targets" in Go)`, WantCode: CodeDenied, Defence: DefByteCanonical, Type: TypeSign,
			Body: targetsSign(targets("", "latest", `,"target`+"\u017f"+`":{`+targetEntries("evil")+`}`))},
		{Name: "payload/root-case-twins", What: `Root "KEYS"/"ROLES"`, WantCode: CodeDenied, Defence: DefByteCanonical, Type: TypeSign, Body: rootSign(caseTwinRoot)},

		// Root lies: each hands the repository, or part of it, to a stranger.
		{Name: "root/foreign-targets-key", WantMessage: "TRUST_AGENT_ASKPASS", What: "root's targets role names a key made outside the agent", WantCode: CodeDenied, Defence: DefWholeRoot,
			Type: TypeSign, Body: rootSign(rootWith(foreignRole("targets")))},
		// A snapshot key not held here is taken to be notary-server's
		// (docker's repositories have one): signed unattended, its key
		// IDs in the audit line; SECURITY.md "Not defended" says why.
		{Name: "root/other-repository-targets-key", WantMessage: "TRUST_AGENT_ASKPASS", What: "root's targets role names another repository's targets key", WantCode: CodeDenied, Defence: DefWholeRoot,
			Type: TypeSign, Body: rootSign(rootWith(func(t *Target, s *RootSpec) error {
				s.Roles["targets"] = RoleSpec{Keys: []PublicKey{KeyFromInfo(t.OtherTargets)}, Threshold: 1}
				return nil
			}))},
		{Name: "root/threshold-0", What: "root threshold 0", WantCode: CodeDenied, Defence: DefWholeRoot,
			Type: TypeSign, Body: rootSign(rootWith(func(t *Target, s *RootSpec) error {
				r := s.Roles["root"]
				r.Threshold = 0
				s.Roles["root"] = r
				return nil
			}))},
		{Name: "root/missing-timestamp-role", What: "Root without the timestamp role", WantCode: CodeDenied, Defence: DefWholeRoot,
			Type: TypeSign, Body: rootSign(rootWith(func(t *Target, s *RootSpec) error {
				delete(s.Roles, "timestamp")
				return nil
			}))},

		// Lies about role and repository (refused today; the tests catch
		// a loosened check).
		{Name: "role/targets-key-other-gun", What: "a targets key signing for another repository", WantCode: CodeDenied, Defence: DefRoleBinding,
			Type: TypeSign, Body: withKey(targetsKey, func(t *Target) string { return t.OtherGUN }, "targets", good)},
		{Name: "role/targets-key-prefix-gun", What: "a targets key signing for …/app-evil", WantCode: CodeDenied, Defence: DefRoleBinding,
			Type: TypeSign, Body: withKey(targetsKey, func(t *Target) string { return t.GUN + "-evil" }, "targets", good)},
		{Name: "role/targets-key-snapshot-payload", What: "a targets key signing Snapshot metadata as targets", WantCode: CodeDenied, Defence: DefRoleBinding,
			Type: TypeSign, Body: withKey(targetsKey, gun, "targets", SnapshotJSON(2))},
		{Name: "role/targets-key-delegation-role", What: "a targets key signing for targets/releases", WantCode: CodeDenied, Defence: DefRoleBinding,
			Type: TypeSign, Body: withKey(targetsKey, gun, "targets/releases", good)},
		{Name: "role/snapshot-key-timestamp", What: "Timestamp where Snapshot is", WantCode: CodeDenied, Defence: DefRoleBinding,
			Type: TypeSign, Body: withKey(snapshotKey, gun, "snapshot", TimestampJSON(2))},
		{Name: "role/snapshot-key-timestamp-role", What: "a snapshot key signing the timestamp role", WantCode: CodeDenied, Defence: DefRoleBinding,
			Type: TypeSign, Body: withKey(snapshotKey, gun, "timestamp", TimestampJSON(2))},
		{Name: "role/root-key-targets", What: "a root key signing Targets", WantCode: CodeDenied, Defence: DefRoleBinding,
			Type: TypeSign, Body: withKey(rootKey, gun, "targets", good)},
		{Name: "role/delegation-key-root-role", What: "a delegation key claiming the root role", WantCode: CodeDenied, Defence: DefRoleBinding,
			Type: TypeSign, Body: withKey(delegKey, gun, "root", good)},

		// Destroying keys: a local process deletes the root key.
		{Name: "delete/root-key", What: "delete the root key with no person asked", WantCode: CodeDenied, Defence: DefDeleteConfirm,
			Type: TypeDelete, Body: func(t *Target) ([]byte, error) {
				return []byte(`{"key_id":"` + t.Root.ID + `"}`), nil
			}},
		// Another format through a DCT key: a delegation key asked for a
		// cosign signature over cosign's own payload.
		{Name: "format/delegation-key-signs-cosign", What: "a delegation key signing a cosign simple-signing payload", WantCode: CodeDenied, Defence: DefFormatRole,
			Type: TypeSignPayload, Body: func(t *Target) ([]byte, error) {
				payload := `{"critical":{"identity":{"docker-reference":"` + t.GUN + `"},"image":{"docker-manifest-digest":"sha256:` + strings.Repeat("ab", 32) + `"},"type":"cosign container image signature"},"optional":null}`
				return BulkBody([]byte(`{"key_id":"`+t.Delegation.ID+`","format":"cosign"}`), []byte(payload)), nil
			}},

		// Numbers notary's verifier reads differently: notary verifies a
		// signature over its canonical encoding of the generic value
		// (tuf/signed.VerifySignatures: json.Unmarshal into
		// map[string]interface{}, numbers as float64, written back with
		// int64(f)), so an integer float64 cannot hold exactly is written
		// back as another number.
		{Name: "payload/int-above-2^53", What: `"length":9007199254740993 (2^53+1; notary's verifier writes 9007199254740992)`, WantCode: CodeDenied, Defence: DefByteCanonical,
			Type: TypeSign, Body: targetsSign([]byte(strings.Replace(string(good), `"length":1`, `"length":9007199254740993`, 1)))},
		{Name: "payload/int64-max", What: `"length":9223372036854775807 (notary's verifier writes -9223372036854775808)`, WantCode: CodeDenied, Defence: DefByteCanonical,
			Type: TypeSign, Body: targetsSign([]byte(strings.Replace(string(good), `"length":1`, `"length":9223372036854775807`, 1)))},
		{Name: "payload/version-above-2^53", What: `"version":9007199254740993`, WantCode: CodeDenied, Defence: DefByteCanonical,
			Type: TypeSign, Body: targetsSign(TargetsJSON(9007199254740993, "latest"))},

		// A certificate the agent never made for its own root key: issued
		// by a stranger's CA for the root key's public key, CN the
		// repository, valid for one hour. notary's clients take any leaf
		// whose CN is the repository (trustpinning.validRootLeafCerts), so
		// the repository's trust would end with this certificate, an hour
		// from now, at a stranger's choice.
		{Name: "root/foreign-issued-root-certificate", What: "root role: a stranger's certificate (1 hour) for the agent's root public key", WantCode: CodeDenied, Defence: DefWholeRoot,
			Type: TypeSign, Body: rootSign(rootWith(func(t *Target, s *RootSpec) error {
				der, err := ForeignCertificate(t.Root.PublicKey, t.GUN, time.Hour)
				if err != nil {
					return err
				}
				s.Roles["root"] = RoleSpec{Keys: []PublicKey{CertKey(t.Root.Algorithm, der)}, Threshold: 1}
				return nil
			}))},

		// Numbers in forms notary's encoder never writes, and a key with
		// an escaped quote out of order: notary sorts keys by their
		// decoded bytes (`a"b` < `a#`), not by how they are written
		// (`a\"b` > `a#`).
		{Name: "payload/length-exponent", What: `"length":1e3`, WantCode: CodeDenied, Defence: DefByteCanonical,
			Type: TypeSign, Body: targetsSign([]byte(strings.Replace(string(good), `"length":1`, `"length":1e3`, 1)))},
		{Name: "payload/length-minus-zero", What: `"length":-0`, WantCode: CodeDenied, Defence: DefByteCanonical,
			Type: TypeSign, Body: targetsSign([]byte(strings.Replace(string(good), `"length":1`, `"length":-0`, 1)))},
		{Name: "payload/length-leading-zero", What: `"length":01`, WantCode: CodeDenied, Defence: DefByteCanonical,
			Type: TypeSign, Body: targetsSign([]byte(strings.Replace(string(good), `"length":1`, `"length":01`, 1)))},
		{Name: "payload/length-fraction", What: `"length":1.0`, WantCode: CodeDenied, Defence: DefByteCanonical,
			Type: TypeSign, Body: targetsSign([]byte(strings.Replace(string(good), `"length":1`, `"length":1.0`, 1)))},
		{Name: "payload/escaped-quote-key-order", What: `targets "a#" before "a\"b" (sorted as written, not as notary sorts)`, WantCode: CodeDenied, Defence: DefByteCanonical,
			Type: TypeSign, Body: targetsSign(TargetsJSON(2, `a#`, `a\"b`))},
		{Name: "payload/duplicate-key-after-escape", What: `targets "a\\" twice, once as "a\u005c"`, WantCode: CodeDenied, Defence: DefByteCanonical,
			Type: TypeSign, Body: targetsSign(TargetsJSON(2, `a\\`, `a\u005c`))},

		// Formats: TUF through sign-payload in other spellings, and keys
		// of one format asked to sign another's payload.
		{Name: "format/sign-payload-tuf", What: `sign-payload with format "tuf" (no repository or role for the policy to check)`, WantCode: CodeInvalidRequest, Defence: DefFormatRole,
			Type: TypeSignPayload, Body: signPayload(func(t *Target) KeyInfo { return t.Targets }, "tuf", good)},
		{Name: "format/sign-payload-TUF", What: `sign-payload with format "TUF"`, WantCode: CodeInvalidRequest, Defence: DefFormatRole,
			Type: TypeSignPayload, Body: signPayload(func(t *Target) KeyInfo { return t.Targets }, "TUF", good)},
		{Name: "format/sign-payload-tuf-nul", What: "sign-payload with format \"tuf\" and a raw NUL byte", WantCode: CodeInvalidRequest, Defence: DefStrictRequests,
			Type: TypeSignPayload, Body: signPayload(func(t *Target) KeyInfo { return t.Targets }, "tuf\x00", good)},
		{Name: "format/sign-payload-tuf-escaped-nul", What: `sign-payload with format "tuf\u0000" (a JSON escape)`, WantCode: CodeInvalidRequest, Defence: DefFormatRole,
			Type: TypeSignPayload, Body: signPayload(func(t *Target) KeyInfo { return t.Targets }, `tuf\u0000`, good)},
		{Name: "format/sign-payload-tuf-space", What: `sign-payload with format " tuf"`, WantCode: CodeInvalidRequest, Defence: DefFormatRole,
			Type: TypeSignPayload, Body: signPayload(func(t *Target) KeyInfo { return t.Targets }, " tuf", good)},
		{Name: "format/notation-key-signs-tuf", What: "a notation key signing Targets metadata through sign", WantCode: CodeDenied, Defence: DefFormatRole,
			Type: TypeSign, Body: withKey(func(t *Target) KeyInfo { return t.Notation }, gun, "targets", good)},
		{Name: "format/cosign-key-signs-tuf", What: "a cosign key signing Targets metadata through sign", WantCode: CodeDenied, Defence: DefFormatRole,
			Type: TypeSign, Body: withKey(func(t *Target) KeyInfo { return t.Cosign }, gun, "targets", good)},
		{Name: "format/cosign-key-signs-root", What: "a cosign key signing Root metadata as root", WantCode: CodeDenied, Defence: DefFormatRole,
			Type: TypeSign, Body: func(t *Target) ([]byte, error) {
				data, err := rootWith(nil)(t)
				return SignBody(t.Cosign.ID, t.GUN, "root", data), err
			}},
		{Name: "format/targets-key-signs-cosign", What: "a targets key signing a cosign simple-signing payload", WantCode: CodeDenied, Defence: DefFormatRole,
			Type: TypeSignPayload, Body: func(t *Target) ([]byte, error) {
				return signPayload(func(t *Target) KeyInfo { return t.Targets }, "cosign", cosignPayload(t.GUN))(t)
			}},
		{Name: "format/notation-key-signs-cosign", What: "a notation key signing a cosign simple-signing payload", WantCode: CodeDenied, Defence: DefFormatRole,
			Type: TypeSignPayload, Body: func(t *Target) ([]byte, error) {
				return signPayload(func(t *Target) KeyInfo { return t.Notation }, "cosign", cosignPayload(t.GUN))(t)
			}},
		{Name: "format/cosign-key-signs-notation", What: "a cosign key signing as notation", WantCode: CodeDenied, Defence: DefFormatRole,
			Type: TypeSignPayload, Body: func(t *Target) ([]byte, error) {
				return signPayload(func(t *Target) KeyInfo { return t.Cosign }, "notation", cosignPayload(t.GUN))(t)
			}},

		// certify-key (0x0C) with a chain a stranger's CA issued for the
		// notation key's own public key, valid for 100 years: PROTOCOL.md
		// says the agent stores a chain whose leaf is the key's, a
		// code-signing leaf not expired, each link signed by the next.
		// Open in round 11 (nothing asked who issued it, so any process of
		// the user replaced the key's chain with its own, and every
		// notation signature from then on carried it); closed: a given
		// chain over another valid chain needs a person's yes.
		{Name: "certify-key/stranger-chain", What: "certify-key: a stranger's CA chain (100 years) for the notation key replaces its chain", WantCode: CodeDenied, Defence: DefFormatRole,
			Type: TypeCertifyKey, Body: func(t *Target) ([]byte, error) {
				der, err := ForeignCertificate(t.Notation.PublicKey, "stranger", 100*365*24*time.Hour)
				if err != nil {
					return nil, err
				}
				return []byte(`{"key_id":"` + t.Notation.ID + `","chain":["` + base64.StdEncoding.EncodeToString(der) + `"]}`), nil
			}},

		// Root custody (generate with copies): a copy to the key's own
		// backend (two objects, one key: "custody" that survives no lost
		// token), copies without naming the backend, an empty copy name.
		{Name: "custody/copy-to-same-backend", What: "generate a root key with a copy on its own backend", WantCode: CodeInvalidRequest, Defence: DefWritesBounded,
			Type: TypeGenerate, Body: func(t *Target) ([]byte, error) {
				return []byte(`{"role":"root","name":"twin-` + randomHex(2) + `","backend":"` + t.Root.Backend + `","copies":["` + t.Root.Backend + `"]}`), nil
			}},
		{Name: "custody/copies-without-backend", What: "generate with copies but no backend", WantCode: CodeInvalidRequest, Defence: DefWritesBounded,
			Type: TypeGenerate, Body: func(t *Target) ([]byte, error) {
				return []byte(`{"role":"root","name":"twin-` + randomHex(2) + `","copies":["` + t.Root.Backend + `"]}`), nil
			}},
		{Name: "custody/empty-copy-name", What: `generate with copies [""]`, WantCode: CodeInvalidRequest, Defence: DefWritesBounded,
			Type: TypeGenerate, Body: func(t *Target) ([]byte, error) {
				return []byte(`{"role":"root","name":"twin-` + randomHex(2) + `","backend":"` + t.Root.Backend + `","copies":[""]}`), nil
			}},

		// Bulk framing on a message that has none: attest's body as a
		// bulk body (a JSON length, then the JSON).
		{Name: "request/bulk-body-on-attest", What: "attest with a JSON length before its JSON, as sign has", WantCode: CodeInvalidRequest, Defence: DefStrictRequests,
			Type: TypeAttest, Body: func(t *Target) ([]byte, error) {
				return BulkBody([]byte(`{"key_id":"`+t.Targets.ID+`"}`), nil), nil
			}},
		{Name: "request/bulk-field-escaped-in-json", What: `"p\u0061yload" in sign-payload's JSON beside the bulk bytes`, WantCode: CodeInvalidRequest, Defence: DefStrictRequests,
			Type: TypeSignPayload, Body: func(t *Target) ([]byte, error) {
				return BulkBody([]byte(`{"key_id":"`+t.Cosign.ID+`","format":"cosign","p\u0061yload":""}`), []byte(cosignPayload(t.GUN))), nil
			}},

		// Unbounded writes.
		{Name: "write/10KiB-key-name", What: "generate with a 10 KiB name", WantCode: CodeInvalidRequest, Defence: DefWritesBounded,
			Type: TypeGenerate, Body: func(t *Target) ([]byte, error) {
				return []byte(`{"role":"delegation","name":"` + strings.Repeat("a", 10<<10) + `"}`), nil
			}},
	}
}

// signPayload is a sign-payload request body: the JSON {"key_id","format"}
// (format written into the JSON as given, escapes and all), then payload.
func signPayload(key func(t *Target) KeyInfo, format string, payload []byte) func(t *Target) ([]byte, error) {
	return func(t *Target) ([]byte, error) {
		return BulkBody([]byte(`{"key_id":"`+key(t).ID+`","format":"`+format+`"}`), payload), nil
	}
}

// cosignPayload is cosign's simple-signing payload for an image of gun.
func cosignPayload(gun string) []byte {
	return []byte(`{"critical":{"identity":{"docker-reference":"` + gun + `"},"image":{"docker-manifest-digest":"sha256:` + strings.Repeat("ab", 32) + `"},"type":"cosign container image signature"},"optional":null}`)
}

// AttackNamed returns the attack called name.
func AttackNamed(name string) (Attack, bool) {
	for _, a := range Attacks() {
		if a.Name == name {
			return a, true
		}
	}
	return Attack{}, false
}
