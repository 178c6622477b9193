package hostile

import (
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"net"
	"regexp"
	"strings"
)

// Input is one bad input of the catalogue: the bytes a client writes on a
// fresh connection, and the agent's one answer.
type Input struct {
	Name string // "wire/…" (frames, request bodies) or "policy/…" (payloads)
	// Bytes is everything the client writes.
	Bytes func(t *Target) ([]byte, error)
	// HalfClose shuts the connection for writing after Bytes, so the
	// stream ends where Bytes does.
	HalfClose bool
}

// Run writes the input and reads one answer.
func (in Input) Run(t *Target) Result {
	b, err := in.Bytes(t)
	if err != nil {
		return Result{Err: err}
	}
	c, err := Dial(t.Path)
	if err != nil {
		return Result{Err: err}
	}
	defer c.Close()
	if err := c.Write(b); err != nil {
		return Result{Err: err}
	}
	if in.HalfClose {
		if uc, ok := c.Raw().(*net.UnixConn); ok {
			uc.CloseWrite()
		}
	}
	rep, err := c.Recv()
	if err != nil {
		return Result{Err: err}
	}
	accepted := len(b) > 5 && rep.OK(b[5])
	r := Result{Accepted: accepted, Reply: rep, Note: "then closed"}
	// Does the connection go on? PROTOCOL.md: after corrupt framing the
	// agent closes it; after anything else it reads the next frame.
	if !in.HalfClose && c.Write(Frame(Version, TypeStatus, nil)) == nil {
		if next, err := c.Recv(); err == nil && next.OK(TypeStatus) {
			r.Note = "then served"
		}
	}
	return r
}

// Golden is the line a catalogue golden file holds for r: the code and the
// message with run-dependent parts (key IDs, the backend's name) replaced
// by names (see Normalize).
func (t *Target) Golden(name string, r Result) string {
	switch {
	case r.Err != nil:
		return name + ": no answer"
	case r.Accepted:
		return name + ": ACCEPTED"
	case r.Reply.Failed():
		return fmt.Sprintf("%s: code %d: %s [%s]", name, r.Reply.Code, t.Normalize(r.Reply.Message), r.Note)
	}
	return fmt.Sprintf("%s: type 0x%02x [%s]", name, r.Reply.Type, r.Note)
}

var longHex = regexp.MustCompile(`[0-9a-f]{12,}…?`)

// Normalize replaces the Target's key IDs (whole, or shortened to 12
// digits and "…") by <root>, <targets>, …, other long hex by <hex>, and the
// backend's name by <backend>; it cuts the message at 300 bytes.
func (t *Target) Normalize(msg string) string {
	for _, k := range []struct {
		name string
		info KeyInfo
	}{{"<root>", t.Root}, {"<targets>", t.Targets}, {"<snapshot>", t.Snapshot}, {"<other-targets>", t.OtherTargets}, {"<delegation>", t.Delegation}} {
		if k.info.ID == "" {
			continue
		}
		msg = strings.ReplaceAll(msg, k.info.ID, k.name)
		msg = strings.ReplaceAll(msg, k.info.ID[:12]+"…", k.name)
		if k.info.Backend != "" {
			msg = strings.ReplaceAll(msg, k.info.Backend, "<backend>")
		}
	}
	msg = longHex.ReplaceAllString(msg, "<hex>")
	if len(msg) > 300 {
		msg = msg[:300] + fmt.Sprintf("…[%d bytes]", len(msg))
	}
	return msg
}

// expand fills a template: $R, $T, $S, $O, $D are the Target's root,
// targets, snapshot, other-targets and delegation key IDs, $GUN and
// $OTHER its repositories.
func (t *Target) expand(s string) string {
	// Longer names first: NewReplacer tries them in argument order.
	return strings.NewReplacer("$GUN", t.GUN, "$OTHER", t.OtherGUN, "$R", t.Root.ID, "$T", t.Targets.ID, "$S", t.Snapshot.ID,
		"$O", t.OtherTargets.ID, "$D", t.Delegation.ID).Replace(s)
}

// req is one frame of type typ with the body template expanded.
func req(typ byte, body string) func(t *Target) ([]byte, error) {
	return func(t *Target) ([]byte, error) { return Frame(Version, typ, []byte(t.expand(body))), nil }
}

// signReq is one sign frame: the JSON template js expanded, then data (a
// bulk body).
func signReq(js string, data []byte) func(t *Target) ([]byte, error) {
	return func(t *Target) ([]byte, error) {
		return Frame(Version, TypeSign, BulkBody([]byte(t.expand(js)), data)), nil
	}
}

// rawBytes writes b as is.
func rawBytes(b []byte) func(t *Target) ([]byte, error) {
	return func(*Target) ([]byte, error) { return b, nil }
}

// sign is a sign request by the key keyID (a template) for gun (a
// template) and role, with data as the payload.
func sign(keyID, gun, role string, data func(t *Target) ([]byte, error)) func(t *Target) ([]byte, error) {
	return func(t *Target) ([]byte, error) {
		d, err := data(t)
		if err != nil {
			return nil, err
		}
		return Frame(Version, TypeSign, SignBody(t.expand(keyID), t.expand(gun), role, d)), nil
	}
}

// rawBytesT writes what b makes of the Target, as is.
func rawBytesT(b func(t *Target) []byte) func(t *Target) ([]byte, error) {
	return func(t *Target) ([]byte, error) { return b(t), nil }
}

func payload(s string) func(t *Target) ([]byte, error) {
	return func(*Target) ([]byte, error) { return []byte(s), nil }
}

func lengthOnly(n uint32) []byte {
	b := make([]byte, 4)
	binary.BigEndian.PutUint32(b, n)
	return b
}

// Catalogue is the wire and policy part of the catalogue of bad inputs:
// each is refused with an exact code and message (the golden file) and
// changes nothing on the token.
func Catalogue() []Input {
	goodData := TargetsJSON(2, "latest")
	good := base64.StdEncoding.EncodeToString(goodData)
	tj := func(tail string) string {
		return `{"_type":"Targets","delegations":{"keys":{},"roles":[]},"expires":"` + Expires + `","targets":{}` + tail + `}`
	}
	targets := func(name string, data func(t *Target) ([]byte, error)) Input {
		return Input{Name: "policy/" + name, Bytes: sign("$T", "$GUN", "targets", data)}
	}
	root := func(name string, change func(t *Target, s *RootSpec) error) Input {
		return Input{Name: "policy/" + name, Bytes: sign("$R", "$GUN", "root", rootWith(change))}
	}
	return []Input{
		// Frames.
		{Name: "wire/length-0", Bytes: rawBytes(lengthOnly(0))},
		{Name: "wire/length-1", Bytes: rawBytes(append(lengthOnly(1), Version))},
		{Name: "wire/length-16MiB-whole", Bytes: rawBytes(Frame(Version, TypeSign, bytes.Repeat([]byte("A"), MaxFrameBytes-2)))},
		{Name: "wire/length-16MiB+1", Bytes: rawBytes(lengthOnly(MaxFrameBytes + 1))},
		{Name: "wire/length-4GiB", Bytes: rawBytes(lengthOnly(0xFFFFFFFF))},
		{Name: "wire/stream-ends-in-header", Bytes: rawBytes(lengthOnly(2)), HalfClose: true},
		{Name: "wire/stream-ends-in-body", Bytes: rawBytes(append(lengthOnly(100), Version, TypeSign, '{')), HalfClose: true},
		{Name: "wire/version-0", Bytes: rawBytes(Frame(0, TypeStatus, nil))},
		{Name: "wire/version-1", Bytes: rawBytes(Frame(1, TypeStatus, nil))},
		{Name: "wire/version-3", Bytes: rawBytes(Frame(3, TypeStatus, nil))},
		{Name: "wire/version-255", Bytes: rawBytes(Frame(255, TypeList, nil))},
		{Name: "wire/type-0x00", Bytes: rawBytes(Frame(Version, 0x00, nil))},
		{Name: "wire/type-0x7f", Bytes: rawBytes(Frame(Version, 0x7f, nil))},
		{Name: "wire/type-response-0x82", Bytes: rawBytes(Frame(Version, TypeSign|successBit, []byte(`{}`)))},
		{Name: "wire/type-failure-0xff", Bytes: rawBytes(Frame(Version, TypeFailure, []byte(`{"code":0,"message":"x"}`)))},
		// Bodies.
		{Name: "wire/list-with-body", Bytes: req(TypeList, `{}`)},
		{Name: "wire/lock-with-null-body", Bytes: req(TypeLock, `null`)},
		{Name: "wire/status-with-space", Bytes: req(TypeStatus, ` `)},
		{Name: "wire/sign-empty-body", Bytes: req(TypeSign, ``)},
		{Name: "wire/sign-body-3-bytes", Bytes: req(TypeSign, "\x00\x00\x00")},
		{Name: "wire/sign-json-length-past-body", Bytes: req(TypeSign, "\x00\x00\x01\x00{}")},
		{Name: "wire/sign-json-length-4GiB", Bytes: req(TypeSign, "\xff\xff\xff\xff{}")},
		{Name: "wire/sign-json-length-0", Bytes: signReq(``, goodData)},
		{Name: "wire/sign-version-1-body", Bytes: req(TypeSign, `{"key_id":"$T","gun":"$GUN","role":"targets","data":"`+good+`"}`)},
		{Name: "wire/sign-version-1-frame", Bytes: rawBytesT(func(t *Target) []byte {
			return Frame(1, TypeSign, []byte(t.expand(`{"key_id":"$T","gun":"$GUN","role":"targets","data":"`+good+`"}`)))
		})},
		{Name: "wire/sign-not-json", Bytes: signReq(`hello`, goodData)},
		{Name: "wire/sign-array", Bytes: signReq(`[]`, goodData)},
		{Name: "wire/sign-string", Bytes: signReq(`"sign"`, goodData)},
		{Name: "wire/sign-trailing-value", Bytes: signReq(`{"key_id":"$T","gun":"$GUN","role":"targets"}{}`, goodData)},
		{Name: "wire/sign-unknown-field", Bytes: signReq(`{"key_id":"$T","gun":"$GUN","role":"targets","force":true}`, goodData)},
		{Name: "wire/sign-key-id-number", Bytes: signReq(`{"key_id":1,"gun":"$GUN","role":"targets"}`, goodData)},
		{Name: "wire/sign-data-in-json", Bytes: signReq(`{"key_id":"$T","gun":"$GUN","role":"targets","data":"`+good+`"}`, nil)},
		{Name: "wire/sign-data-in-json-empty", Bytes: signReq(`{"key_id":"$T","gun":"$GUN","role":"targets","data":""}`, goodData)},
		{Name: "wire/sign-data-in-json-escaped", Bytes: signReq(`{"key_id":"$T","gun":"$GUN","role":"targets","d\u0061ta":"`+good+`"}`, goodData)},
		{Name: "wire/sign-payload-in-json", Bytes: rawBytesT(func(t *Target) []byte {
			return Frame(Version, TypeSignPayload, BulkBody([]byte(`{"key_id":"`+t.Delegation.ID+`","format":"cosign","payload":""}`), nil))
		})},
		{Name: "wire/sign-invalid-utf8-gun", Bytes: signReq("{\"key_id\":\"$T\",\"gun\":\"$GUN\xff\",\"role\":\"targets\"}", goodData)},
		{Name: "wire/sign-duplicate-key-id", Bytes: signReq(`{"key_id":"$S","key_id":"$T","gun":"$GUN","role":"targets"}`, goodData)},
		{Name: "wire/sign-unknown-key", Bytes: signReq(`{"key_id":"`+strings.Repeat("ab", 32)+`","gun":"$GUN","role":"targets"}`, goodData)},
		{Name: "wire/sign-empty-key-id", Bytes: signReq(`{"key_id":"","gun":"$GUN","role":"targets"}`, goodData)},
		{Name: "wire/sign-empty-data", Bytes: signReq(`{"key_id":"$T","gun":"$GUN","role":"targets"}`, nil)},
		{Name: "wire/unlock-not-locked", Bytes: req(TypeUnlock, `{"backend":"","pin":"MTIzNA=="}`)},
		{Name: "wire/unlock-pin-not-base64", Bytes: req(TypeUnlock, `{"backend":"","pin":"12345"}`)},
		{Name: "wire/unlock-unknown-backend", Bytes: req(TypeUnlock, `{"backend":"pkcs11:token=nosuch","pin":"MTIzNA=="}`)},
		{Name: "wire/generate-unknown-role", Bytes: req(TypeGenerate, `{"role":"wizard","name":"x"}`)},
		{Name: "wire/generate-upper-case-name", Bytes: req(TypeGenerate, `{"role":"delegation","name":"Bad_Name"}`)},
		{Name: "wire/generate-name-with-colon", Bytes: req(TypeGenerate, `{"role":"delegation","name":"a:b"}`)},
		{Name: "wire/generate-targets-without-gun", Bytes: req(TypeGenerate, `{"role":"targets","name":"repo"}`)},
		{Name: "wire/generate-delegation-with-gun", Bytes: req(TypeGenerate, `{"role":"delegation","name":"x","gun":"$GUN"}`)},
		{Name: "wire/generate-targets-bad-gun", Bytes: req(TypeGenerate, `{"role":"targets","name":"repo","gun":"Example.com/UPPER"}`)},
		{Name: "wire/generate-rsa-1024", Bytes: req(TypeGenerate, `{"role":"delegation","name":"small","algorithm":"rsa","bits":1024}`)},
		{Name: "wire/generate-ed25519", Bytes: req(TypeGenerate, `{"role":"delegation","name":"edwards","algorithm":"ed25519"}`)},
		{Name: "wire/generate-piv-policy-on-pkcs11", Bytes: req(TypeGenerate, `{"role":"delegation","name":"touchy","policy":{"touch":"always"}}`)},
		{Name: "wire/generate-unknown-policy", Bytes: req(TypeGenerate, `{"role":"delegation","name":"touchy","policy":{"pin":"sometimes"}}`)},
		{Name: "wire/generate-unknown-backend", Bytes: req(TypeGenerate, `{"role":"delegation","name":"x","backend":"pkcs11:token=nosuch"}`)},
		{Name: "wire/import-junk-pkcs8", Bytes: req(TypeImport, `{"role":"delegation","name":"junk","pkcs8":"anVuaw=="}`)},
		{Name: "wire/import-rsa-1024", Bytes: func(t *Target) ([]byte, error) {
			k, err := rsa.GenerateKey(rand.Reader, 1024)
			if err != nil {
				return nil, err
			}
			der, err := x509.MarshalPKCS8PrivateKey(k)
			if err != nil {
				return nil, err
			}
			return Frame(Version, TypeImport, []byte(`{"role":"delegation","name":"weak","pkcs8":"`+base64.StdEncoding.EncodeToString(der)+`"}`)), nil
		}},
		{Name: "wire/import-no-key", Bytes: req(TypeImport, `{"role":"delegation","name":"nokey"}`)},
		{Name: "wire/certify-bad-gun", Bytes: req(TypeCertifyRoot, `{"key_id":"$R","gun":"not a repository"}`)},
		{Name: "wire/certify-targets-key", Bytes: req(TypeCertifyRoot, `{"key_id":"$T","gun":"$GUN"}`)},
		{Name: "wire/certify-unknown-key", Bytes: req(TypeCertifyRoot, `{"key_id":"`+strings.Repeat("cd", 32)+`","gun":"$GUN"}`)},
		{Name: "wire/certify-100-years", Bytes: req(TypeCertifyRoot, `{"key_id":"$R","gun":"example.com/team/new","not_before":"2030-01-01T00:00:00Z","not_after":"2130-01-01T00:00:00Z"}`)},
		{Name: "wire/certify-ends-before-start", Bytes: req(TypeCertifyRoot, `{"key_id":"$R","gun":"example.com/team/new","not_before":"2030-01-01T00:00:00Z","not_after":"2029-01-01T00:00:00Z"}`)},
		{Name: "wire/certify-time-not-rfc3339", Bytes: req(TypeCertifyRoot, `{"key_id":"$R","gun":"example.com/team/new","not_before":"yesterday"}`)},
		{Name: "wire/attest-pkcs11-key", Bytes: req(TypeAttest, `{"key_id":"$T"}`)},
		{Name: "wire/attest-unknown-key", Bytes: req(TypeAttest, `{"key_id":"nope"}`)},

		// Payloads: the policy signs only canonical TUF metadata of the
		// key's role and repository.
		targets("digest", payload(string(make([]byte, 32)))),
		targets("empty", payload("")),
		targets("array", payload(`[]`)),
		targets("string", payload(`"Targets"`)),
		targets("white-space", payload(`{ "_type":"Targets","expires":"`+Expires+`","version":2}`)),
		targets("unsorted-keys", payload(`{"version":2,"_type":"Targets","expires":"`+Expires+`"}`)),
		targets("duplicate-key", payload(tj(`,"version":1,"version":2`))),
		targets("trailing-data", payload(tj(`,"version":2`)+`{}`)),
		targets("byte-order-mark", payload("\xef\xbb\xbf"+tj(`,"version":2`))),
		targets("deep-nesting", payload(`{"_type":"Targets","a":`+strings.Repeat("[", 20000)+strings.Repeat("]", 20000)+`}`)),
		targets("unknown-type", payload(`{"_type":"Mirrors","expires":"`+Expires+`","version":2}`)),
		targets("lower-case-type", payload(`{"_type":"targets","expires":"`+Expires+`","version":2}`)),
		targets("no-version", payload(tj(``))),
		targets("version-0", payload(tj(`,"version":0`))),
		targets("version-negative", payload(tj(`,"version":-1`))),
		targets("version-float", payload(tj(`,"version":2.0`))),
		targets("version-exponent", payload(tj(`,"version":2e0`))),
		targets("version-huge", payload(tj(`,"version":1e30`))),
		targets("version-string", payload(tj(`,"version":"2"`))),
		targets("no-expiry", payload(`{"_type":"Targets","targets":{},"version":2}`)),
		targets("expiry-not-a-time", payload(`{"_type":"Targets","expires":"soon","targets":{},"version":2}`)),
		targets("snapshot-payload", payload(string(SnapshotJSON(2)))),
		targets("timestamp-payload", payload(string(TimestampJSON(2)))),
		{Name: "policy/targets-key-role-snapshot", Bytes: sign("$T", "$GUN", "snapshot", payload(string(TargetsJSON(2))))},
		{Name: "policy/targets-key-empty-gun", Bytes: sign("$T", "", "targets", payload(string(TargetsJSON(2))))},
		{Name: "policy/snapshot-key-other-gun", Bytes: sign("$S", "$OTHER", "snapshot", payload(string(SnapshotJSON(2))))},
		{Name: "policy/snapshot-key-targets", Bytes: sign("$S", "$GUN", "snapshot", payload(string(TargetsJSON(2))))},
		{Name: "policy/delegation-role-targets-slash", Bytes: sign("$D", "$GUN", "targets/", payload(string(TargetsJSON(2))))},
		{Name: "policy/delegation-roles-with-root", Bytes: sign("$D", "$GUN", "targets/a,root", payload(string(TargetsJSON(2))))},
		{Name: "policy/delegation-signs-snapshot", Bytes: sign("$D", "$GUN", "targets/a", payload(string(SnapshotJSON(2))))},
		{Name: "policy/root-key-timestamp", Bytes: sign("$R", "$GUN", "root", payload(string(TimestampJSON(2))))},
		{Name: "policy/root-without-gun", Bytes: sign("$R", "", "root", rootWith(nil))},
		root("root-key-not-a-certificate", func(t *Target, s *RootSpec) error {
			s.Roles["root"] = RoleSpec{Keys: []PublicKey{KeyFromInfo(t.Root)}, Threshold: 1}
			return nil
		}),
		root("root-certificate-for-other-gun", func(t *Target, s *RootSpec) error {
			s.Roles["root"] = RoleSpec{Keys: []PublicKey{CertKey(t.Root.Algorithm, t.RootCertAlt)}, Threshold: 1}
			return nil
		}),
		root("root-no-root-role", func(t *Target, s *RootSpec) error {
			delete(s.Roles, "root")
			return nil
		}),
		root("root-threshold-2-of-1", func(t *Target, s *RootSpec) error {
			r := s.Roles["root"]
			r.Threshold = 2
			s.Roles["root"] = r
			return nil
		}),
		root("root-fifth-role", func(t *Target, s *RootSpec) error {
			s.Roles["mirror"] = s.Roles["timestamp"]
			return nil
		}),
		root("root-certificate-not-pem", func(t *Target, s *RootSpec) error {
			s.Roles["root"] = RoleSpec{Keys: []PublicKey{NewPublicKey("ecdsa-x509", []byte("not a certificate"))}, Threshold: 1}
			return nil
		}),
		root("root-key-id-not-its-hash", func(t *Target, s *RootSpec) error {
			k := KeyFromInfo(t.Targets)
			k.ID = strings.Repeat("f", 64)
			s.Roles["targets"] = RoleSpec{Keys: []PublicKey{k}, Threshold: 1}
			return nil
		}),
		{Name: "policy/root-names-unlisted-key", Bytes: sign("$R", "$GUN", "root", func(t *Target) ([]byte, error) {
			good, err := rootWith(nil)(t)
			if err != nil {
				return nil, err
			}
			id := CertKey(t.Root.Algorithm, t.RootCert).ID
			return bytes.Replace(good, []byte(`"root":{"keyids":["`+id+`"]`), []byte(`"root":{"keyids":["`+strings.Repeat("0", 64)+`"]`), 1), nil
		})},
	}
}
