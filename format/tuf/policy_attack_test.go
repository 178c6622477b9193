package tuf_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"math/big"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/trust-agent/trust-agent/agent"
	"github.com/trust-agent/trust-agent/agent/agenttest"
	_ "github.com/trust-agent/trust-agent/format/tuf"
	"github.com/trust-agent/trust-agent/pkcs11"
	"github.com/trust-agent/trust-agent/pkcs11/softhsmtest"
)

// These tests attack the policy from outside, through Keyring.Sign, as a
// hostile local process would: each payload is one a client could send.
// The blank import registers this package's policy as the "tuf" format,
// as cmd/trust-agent/formats.go does.

// newKeyring is an agent over a fresh SoftHSM token.
func newKeyring(t *testing.T, audit agent.Auditor) (*agent.Keyring, *softhsmtest.Fixture) {
	t.Helper()
	tok := softhsmtest.New(t, "246810")
	store, err := pkcs11.Open(tok.URI())
	if err != nil {
		t.Fatal(err)
	}
	k := agent.New(agent.Options{Stores: []agent.KeyStore{store}, Audit: audit})
	t.Cleanup(func() { k.Close() })
	return k, tok
}

const gunA = agenttest.GUN

// targetsWith is canonical Targets metadata whose targets object is the
// given raw JSON text.
func targetsWith(targets string) []byte {
	return []byte(`{"_type":"Targets","delegations":{"keys":{},"roles":[]},"expires":"2030-01-01T00:00:00Z","targets":` + targets + `,"version":2}`)
}

const fileMeta = `{"hashes":{"sha256":"3q2+7w=="},"length":1}`

// TestNonCanonicalPayloadsRefused: every form notary's canonical encoder
// would not write is refused, so what the policy reads is what any TUF
// implementation reads.
func TestNonCanonicalPayloadsRefused(t *testing.T) {
	k, _ := newKeyring(t, nil)
	ctx := context.Background()
	key, err := k.Generate(ctx, agent.GenerateRequest{KeyMeta: agent.KeyMeta{Role: agent.RoleDelegation, Name: "jeff"}})
	if err != nil {
		t.Fatal(err)
	}
	good := targetsWith(`{"v1":` + fileMeta + `}`)
	if _, err := k.Sign(ctx, agent.SignRequest{KeyID: key.ID, GUN: gunA, Role: "targets/releases", Data: good}); err != nil {
		t.Fatalf("canonical payload refused: %v", err)
	}
	replace := func(old, new string) []byte { return []byte(strings.Replace(string(good), old, new, 1)) }
	attacks := map[string][]byte{
		`\u0041`:                   targetsWith(`{"\u0041":` + fileMeta + `}`),
		`\/`:                       targetsWith(`{"a\/b":` + fileMeta + `}`),
		`\u003c`:                   targetsWith(`{"\u003c":` + fileMeta + `}`),
		`\u2028`:                   targetsWith(`{"a\u2028":` + fileMeta + `}`),
		`\n escape`:                targetsWith(`{"a\n":` + fileMeta + `}`),
		`\t escape`:                targetsWith(`{"a\t":` + fileMeta + `}`),
		`\u0001 escape`:            targetsWith(`{"a\u0001":` + fileMeta + `}`),
		`raw control character`:    targetsWith("{\"a\x01\":" + fileMeta + `}`),
		`invalid UTF-8`:            targetsWith("{\"a\xff\":" + fileMeta + `}`),
		`lone surrogate`:           targetsWith(`{"\ud800":` + fileMeta + `}`),
		`VERSION twin`:             []byte(`{"VERSION":9,` + string(good[1:])),
		`TARGETS twin`:             []byte(`{"TARGETS":{"evil":` + fileMeta + `},` + string(good[1:])),
		`_TYPE twin`:               []byte(`{"_TYPE":"Root",` + string(good[1:])),
		`targetſ (U+017F)`:         replace(`,"version":2}`, `,"targetſ":{"evil":`+fileMeta+`},"version":2}`),
		`target\u017f escaped`:     replace(`,"version":2}`, `,"target\u017f":{"evil":`+fileMeta+`},"version":2}`),
		`duplicate key`:            replace(`,"version":2}`, `,"version":2,"version":3}`),
		`duplicate target`:         targetsWith(`{"v1":` + fileMeta + `,"v1":` + fileMeta + `}`),
		`unknown field`:            replace(`,"version":2}`, `,"version":2,"zzz":1}`),
		`LENGTH twin in file meta`: targetsWith(`{"v1":{"LENGTH":99,"hashes":{"sha256":"3q2+7w=="},"length":1}}`),
		`version 2.0`:              replace(`"version":2`, `"version":2.0`),
		`version 2e0`:              replace(`"version":2`, `"version":2e0`),
		`version 02`:               replace(`"version":2`, `"version":02`),
		`length -0`:                targetsWith(`{"v1":{"hashes":{"sha256":"3q2+7w=="},"length":-0}}`),
		`expiry with fraction`:     replace(`00:00:00Z`, `00:00:00.000Z`),
		`hash not base64`:          targetsWith(`{"v1":{"hashes":{"sha256":"3q2+7w=\n="},"length":1}}`),
		// The same in the shape canonjson's fast path reads in place
		// (FileMetaAt): the base64 is checked there too.
		`hash with unused bits set`: targetsWith(`{"v1":` + fileMeta + `,"v2":{"hashes":{"sha256":"3q2+7x=="},"length":1}}`),
		`hash without padding`:      targetsWith(`{"v1":` + fileMeta + `,"v2":{"hashes":{"sha256":"3q2+7w"},"length":1}}`),
		`hash with padding inside`:  targetsWith(`{"v1":` + fileMeta + `,"v2":{"hashes":{"sha256":"3q==7w=="},"length":1}}`),
		// The same within a run of file entries, which canonjson reads in
		// one loop after the first (fileRun): whatever it does not take
		// whole, the generic parser refuses.
		`run: \u0041 in a name`:        targetsWith(`{"v1":` + fileMeta + `,"v2":` + fileMeta + `,"v3\u0041":` + fileMeta + `}`),
		`run: raw control character`:   targetsWith(`{"v1":` + fileMeta + `,"v2":` + fileMeta + ",\"v3\x01\":" + fileMeta + `}`),
		`run: invalid UTF-8 in a name`: targetsWith(`{"v1":` + fileMeta + `,"v2":` + fileMeta + ",\"v3\xff\":" + fileMeta + `}`),
		`run: names out of order`:      targetsWith(`{"v1":` + fileMeta + `,"v3":` + fileMeta + `,"v2":` + fileMeta + `}`),
		`run: duplicate name`:          targetsWith(`{"v1":` + fileMeta + `,"v2":` + fileMeta + `,"v2":` + fileMeta + `}`),
		`run: white space`:             targetsWith(`{"v1":` + fileMeta + `, "v2":` + fileMeta + `}`),
		`run: length 01`:               targetsWith(`{"v1":` + fileMeta + `,"v2":{"hashes":{"sha256":"3q2+7w=="},"length":01}}`),
		`run: URL-safe base64`:         targetsWith(`{"v1":` + fileMeta + `,"v2":{"hashes":{"sha256":"3q2-7w=="},"length":1}}`),
		`run: hash padding 3 '='`:      targetsWith(`{"v1":` + fileMeta + `,"v2":{"hashes":{"sha256":"3q2+7==="},"length":1}}`),
		`trailing data`:                append(append([]byte(nil), good...), "{}"...),
		`trailing space`:               append(append([]byte(nil), good...), ' '),
		`white space`:                  replace(`,"version"`, `, "version"`),
		`top-level array`:              []byte(`[` + string(good) + `]`),
		`nested too deep`:              targetsWith(`{"v1":{"custom":` + strings.Repeat(`[`, 5000) + strings.Repeat(`]`, 5000) + `,"hashes":{},"length":1}}`),
	}
	for name, data := range attacks {
		t.Run(name, func(t *testing.T) {
			_, err := k.Sign(ctx, agent.SignRequest{KeyID: key.ID, GUN: gunA, Role: "targets/releases", Data: data})
			if !errors.Is(err, agent.ErrDenied) {
				t.Fatalf("signed %q: err = %v", data, err)
			}
		})
	}
}

// notaryKeyID is notary's ID of a key: the SHA-256 of the canonical JSON
// of {"keytype":T,"keyval":{"private":null,"public":B64}}.
func notaryKeyID(keytype string, public []byte) string {
	doc := `{"keytype":"` + keytype + `","keyval":{"private":null,"public":"` + base64.StdEncoding.EncodeToString(public) + `"}}`
	sum := sha256.Sum256([]byte(doc))
	return hex.EncodeToString(sum[:])
}

// tufKey is a key as a Root lists it.
type tufKey struct {
	id, keytype string
	public      []byte
}

func bareKey(t *testing.T, der []byte) tufKey {
	return tufKey{id: notaryKeyID("ecdsa", der), keytype: "ecdsa", public: der}
}

func certKey(der []byte) tufKey {
	p := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	return tufKey{id: notaryKeyID("ecdsa-x509", p), keytype: "ecdsa-x509", public: p}
}

// foreignKey is a key made outside the agent.
func foreignKey(t *testing.T) tufKey {
	t.Helper()
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKIXPublicKey(&priv.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	return bareKey(t, der)
}

// foreignCert is a root certificate for gun from a key made elsewhere.
func foreignCert(t *testing.T, gun string) tufKey {
	t.Helper()
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: gun},
		NotBefore: time.Now(), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &priv.PublicKey, priv)
	if err != nil {
		t.Fatal(err)
	}
	return certKey(der)
}

// rootRole is one role of a Root under construction.
type rootRole struct {
	keys      []tufKey
	threshold int
}

// rootPayload writes canonical Root metadata (keys sorted, no white space)
// for roles; keys lists every key of every role.
func rootPayload(version int, roles map[string]rootRole) []byte {
	keys := map[string]tufKey{}
	var names []string
	for name, r := range roles {
		names = append(names, name)
		for _, k := range r.keys {
			keys[k.id] = k
		}
	}
	sort.Strings(names)
	ids := make([]string, 0, len(keys))
	for id := range keys {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	var b strings.Builder
	b.WriteString(`{"_type":"Root","consistent_snapshot":false,"expires":"2035-01-01T00:00:00Z","keys":{`)
	for i, id := range ids {
		if i > 0 {
			b.WriteByte(',')
		}
		k := keys[id]
		b.WriteString(`"` + id + `":{"keytype":"` + k.keytype + `","keyval":{"private":null,"public":"` + base64.StdEncoding.EncodeToString(k.public) + `"}}`)
	}
	b.WriteString(`},"roles":{`)
	for i, name := range names {
		if i > 0 {
			b.WriteByte(',')
		}
		r := roles[name]
		var kids []string
		for _, k := range r.keys {
			kids = append(kids, `"`+k.id+`"`)
		}
		b.WriteString(`"` + name + `":{"keyids":[` + strings.Join(kids, ",") + `],"threshold":` + itoa(r.threshold) + `}`)
	}
	b.WriteString(`},"version":` + itoa(version) + `}`)
	return []byte(b.String())
}

func itoa(n int) string { return big.NewInt(int64(n)).String() }

// askpass writes a script that records its argv[1] in a file and answers
// with exit status code; it returns the script and the record's path.
func askpass(t *testing.T, code int) (script, record string) {
	t.Helper()
	dir := t.TempDir()
	script, record = filepath.Join(dir, "askpass"), filepath.Join(dir, "asked")
	body := "#!/bin/sh\nprintf '%s\\n--\\n' \"$1\" >> '" + record + "'\nprintf '%s\\n' \"$SSH_ASKPASS_PROMPT\" >> '" + record + "'\nexit " + itoa(code) + "\n"
	if err := os.WriteFile(script, []byte(body), 0o700); err != nil {
		t.Fatal(err)
	}
	return script, record
}

func asked(t *testing.T, record string) string {
	t.Helper()
	b, err := os.ReadFile(record)
	if errors.Is(err, os.ErrNotExist) {
		return ""
	}
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// rootFixture is an agent over SoftHSM with a root key certified for
// gunA, a targets key for gunA, a snapshot key for gunA, and a targets key
// for another repository.
type rootFixture struct {
	k                             *agent.Keyring
	root, targets, snap, other    agent.KeyInfo
	rootCert                      tufKey
	targetsKey, snapKey, otherKey tufKey
	server                        tufKey // notary's server-managed key (snapshot, timestamp)
}

func newRootFixture(t *testing.T, opts agent.Options) *rootFixture {
	t.Helper()
	tok := softhsmtest.New(t, "246810")
	store, err := pkcs11.Open(tok.URI())
	if err != nil {
		t.Fatal(err)
	}
	opts.Stores = []agent.KeyStore{store}
	k := agent.New(opts)
	t.Cleanup(func() { k.Close() })
	ctx := context.Background()
	f := &rootFixture{k: k}
	gen := func(m agent.KeyMeta) agent.KeyInfo {
		t.Helper()
		info, err := k.Generate(ctx, agent.GenerateRequest{KeyMeta: m})
		if err != nil {
			t.Fatal(err)
		}
		return info
	}
	f.root = gen(agent.KeyMeta{Role: agent.RoleRoot, Name: "root"})
	f.targets = gen(agent.KeyMeta{Role: agent.RoleTargets, Name: "targets", GUN: gunA})
	f.snap = gen(agent.KeyMeta{Role: agent.RoleSnapshot, Name: "snapshot", GUN: gunA})
	f.other = gen(agent.KeyMeta{Role: agent.RoleTargets, Name: "targets", GUN: "example.com/other/app"})
	der, err := k.CertifyRoot(ctx, agent.CertifyRequest{KeyID: f.root.ID, GUN: gunA})
	if err != nil {
		t.Fatal(err)
	}
	f.rootCert = certKey(der)
	f.targetsKey = bareKey(t, f.targets.PublicKey)
	f.snapKey = bareKey(t, f.snap.PublicKey)
	f.otherKey = bareKey(t, f.other.PublicKey)
	f.server = foreignKey(t)
	return f
}

// newRepo is the Root of `signer add` on a new repository: agent-held root
// and targets keys, server-managed snapshot and timestamp.
func (f *rootFixture) newRepo() map[string]rootRole {
	return map[string]rootRole{
		"root":      {[]tufKey{f.rootCert}, 1},
		"targets":   {[]tufKey{f.targetsKey}, 1},
		"snapshot":  {[]tufKey{f.server}, 1},
		"timestamp": {[]tufKey{f.server}, 1},
	}
}

func (f *rootFixture) sign(data []byte) (agent.Signature, error) {
	return f.k.Sign(context.Background(), agent.SignRequest{KeyID: f.root.ID, GUN: gunA, Role: "root", Data: data})
}

func with(roles map[string]rootRole, name string, r rootRole) map[string]rootRole {
	out := map[string]rootRole{}
	for k, v := range roles {
		out[k] = v
	}
	out[name] = r
	return out
}

// TestRootThatKeepsTrustSignsUnattended: a new repository's Root, and one
// with the snapshot key held here, need nobody: `make demo` stays unattended.
func TestRootThatKeepsTrustSignsUnattended(t *testing.T) {
	script, record := askpass(t, 1) // would say no, if asked
	f := newRootFixture(t, agent.Options{Askpass: script})
	for name, roles := range map[string]map[string]rootRole{
		"new repository":     f.newRepo(),
		"snapshot held here": with(f.newRepo(), "snapshot", rootRole{[]tufKey{f.snapKey}, 1}),
	} {
		if _, err := f.sign(rootPayload(1, roles)); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	if got := asked(t, record); got != "" {
		t.Fatalf("a Root that keeps the trust here asked a person:\n%s", got)
	}
}

// TestRootHandingTrustAwayNeedsConfirmation: a Root that hands a role to a
// key the agent does not hold (or one held for another purpose), or that
// changes the root keys, is refused without an askpass program, refused
// when the person says no, and signed when the person says yes; the
// question names what is held here and what is not.
func TestRootHandingTrustAwayNeedsConfirmation(t *testing.T) {
	no, noRecord := askpass(t, 1)
	f := newRootFixture(t, agent.Options{})
	stranger := foreignKey(t)
	newRoot := foreignCert(t, gunA)
	cases := map[string]struct {
		roles map[string]rootRole
		why   string
	}{
		"foreign targets key":             {with(f.newRepo(), "targets", rootRole{[]tufKey{stranger}, 1}), "not held by this agent"},
		"foreign targets key beside ours": {with(f.newRepo(), "targets", rootRole{[]tufKey{f.targetsKey, stranger}, 1}), "not held by this agent"},
		"another repository's targets":    {with(f.newRepo(), "targets", rootRole{[]tufKey{f.otherKey}, 1}), "example.com/other/app"},
		"our root key as targets key":     {with(f.newRepo(), "targets", rootRole{[]tufKey{bareKey(t, f.root.PublicKey)}, 1}), "a root key"},
		"snapshot key of another repo":    {with(f.newRepo(), "snapshot", rootRole{[]tufKey{f.otherKey}, 1}), "snapshot role names"},
		"timestamp key held here":         {with(f.newRepo(), "timestamp", rootRole{[]tufKey{f.snapKey}, 1}), "not the server's"},
		"foreign root key added":          {with(f.newRepo(), "root", rootRole{[]tufKey{f.rootCert, newRoot}, 1}), "not held by this agent"},
		"root rotated away":               {with(f.newRepo(), "root", rootRole{[]tufKey{newRoot}, 1}), "the root keys change"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			data := rootPayload(2, c.roles)
			_, err := f.sign(data)
			if !errors.Is(err, agent.ErrDenied) || !strings.Contains(err.Error(), c.why) || !strings.Contains(err.Error(), agent.AskpassEnv+"=") {
				t.Fatalf("without askpass: err = %v, want a refusal saying %q and how to enable %s", err, c.why, agent.AskpassEnv)
			}
		})
	}
	// The same Roots, now with a person who says no, then yes.
	yes, yesRecord := askpass(t, 0)
	for _, answer := range []struct {
		script, record string
		ok             bool
	}{{no, noRecord, false}, {yes, yesRecord, true}} {
		g := newRootFixture(t, agent.Options{Askpass: answer.script})
		data := rootPayload(2, with(g.newRepo(), "targets", rootRole{[]tufKey{g.targetsKey, stranger}, 1}))
		sig, err := g.sign(data)
		if answer.ok != (err == nil) {
			t.Fatalf("askpass answering ok=%v: sig %x, err %v", answer.ok, sig.Signature, err)
		}
		if !answer.ok && (!errors.Is(err, agent.ErrDenied) || !strings.Contains(err.Error(), "declined")) {
			t.Fatalf("a no was not reported as declined: %v", err)
		}
		q := asked(t, answer.record)
		t.Logf("the question:\n%s", q)
		for _, want := range []string{gunA, "version 2", "2035-01-01", "NOT held by this agent", "held here (", ", targets)", ", root)", "confirm\n",
			stranger.id[:12], g.targetsKey.id[:12], g.rootCert.id[:12]} {
			if !strings.Contains(q, want) {
				t.Errorf("the question lacks %q:\n%s", want, q)
			}
		}
	}
}

// TestMalformedRootRefused: shapes notary's client relies on are checked
// before anyone is asked; a yes cannot make them acceptable.
func TestMalformedRootRefused(t *testing.T) {
	yes, record := askpass(t, 0)
	f := newRootFixture(t, agent.Options{Askpass: yes})
	good := f.newRepo()
	three := map[string]rootRole{}
	for k, v := range good {
		if k != "timestamp" {
			three[k] = v
		}
	}
	wrongID := f.targetsKey
	wrongID.id = f.snapKey.id
	cases := map[string][]byte{
		"threshold 0":               rootPayload(2, with(good, "targets", rootRole{[]tufKey{f.targetsKey}, 0})),
		"root threshold 0":          rootPayload(2, with(good, "root", rootRole{[]tufKey{f.rootCert}, 0})),
		"threshold above keys":      rootPayload(2, with(good, "targets", rootRole{[]tufKey{f.targetsKey}, 2})),
		"no timestamp role":         rootPayload(2, three),
		"a fifth role":              rootPayload(2, with(good, "targets/evil", rootRole{[]tufKey{f.targetsKey}, 1})),
		"no root keys":              rootPayload(2, with(good, "root", rootRole{nil, 1})),
		"root key not a cert":       rootPayload(2, with(good, "root", rootRole{[]tufKey{bareKey(t, f.root.PublicKey)}, 1})),
		"root cert of another repo": rootPayload(2, with(good, "root", rootRole{[]tufKey{foreignCert(t, "example.com/other/app")}, 1})),
		"key under another ID":      rootPayload(2, with(good, "targets", rootRole{[]tufKey{wrongID}, 1})),
		"key ID not listed": []byte(strings.Replace(string(rootPayload(2, good)), `"targets":{"keyids":["`+f.targetsKey.id,
			`"targets":{"keyids":["`+strings.Repeat("0", 64), 1)),
		"ROLES twin":                  []byte(strings.Replace(string(rootPayload(2, good)), `"roles":`, `"ROLES":{"targets":{"keyids":[],"threshold":1}},"roles":`, 1)),
		"KEYS twin":                   []byte(strings.Replace(string(rootPayload(2, good)), `"keys":`, `"KEYS":{},"keys":`, 1)),
		"duplicate key ID in role":    rootPayload(2, with(good, "targets", rootRole{[]tufKey{f.targetsKey, f.targetsKey}, 2})),
		"private key in keyval":       []byte(strings.Replace(string(rootPayload(2, good)), `"private":null`, `"private":"AAAA"`, 1)),
		"root signs for role targets": nil,
		"too many targets keys":       rootPayload(2, with(good, "targets", rootRole{manyKeys(t, 17), 1})),
	}
	for name, data := range cases {
		t.Run(name, func(t *testing.T) {
			req := agent.SignRequest{KeyID: f.root.ID, GUN: gunA, Role: "root", Data: data}
			if data == nil {
				req.Role, req.Data = "targets", rootPayload(2, good)
			}
			if _, err := f.k.Sign(context.Background(), req); !errors.Is(err, agent.ErrDenied) {
				t.Fatalf("signed: err = %v", err)
			}
		})
	}
	if q := asked(t, record); q != "" {
		t.Fatalf("a malformed Root reached the person:\n%s", q)
	}
}

// TestRootAuditRecordsRoles: the audit line of a Root signature records
// each role's key IDs and threshold, and whether a person confirmed it.
func TestRootAuditRecordsRoles(t *testing.T) {
	log := &syncWriter{w: &bytes.Buffer{}}
	yes, _ := askpass(t, 0)
	f := newRootFixture(t, agent.Options{Audit: agent.AuditTo(log), Askpass: yes})
	stranger := foreignKey(t)
	if _, err := f.sign(rootPayload(3, f.newRepo())); err != nil {
		t.Fatal(err)
	}
	if _, err := f.sign(rootPayload(4, with(f.newRepo(), "targets", rootRole{[]tufKey{stranger}, 1}))); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(log.String()), "\n")
	var events []agent.Event
	for _, l := range lines {
		var ev agent.Event
		if err := json.Unmarshal([]byte(l), &ev); err != nil {
			t.Fatal(err)
		}
		if ev.Op == "sign" {
			events = append(events, ev)
		}
	}
	if len(events) != 2 {
		t.Fatalf("%d sign lines:\n%s", len(events), log.String())
	}
	for i, ev := range events {
		md := ev.Metadata
		if md == nil || md.Type != "Root" || len(md.Roles) != 4 {
			t.Fatalf("line %d: %+v", i, md)
		}
		if r := md.Roles["root"]; len(r.KeyIDs) != 1 || r.KeyIDs[0] != f.rootCert.id || r.Threshold != 1 {
			t.Fatalf("line %d root role %+v", i, r)
		}
		if r := md.Roles["snapshot"]; len(r.KeyIDs) != 1 || r.KeyIDs[0] != f.server.id {
			t.Fatalf("line %d snapshot role %+v", i, r)
		}
	}
	if events[0].Metadata.Confirmed || !events[1].Metadata.Confirmed {
		t.Fatalf("confirmed: %v, %v; want false, true", events[0].Metadata.Confirmed, events[1].Metadata.Confirmed)
	}
	if got := events[1].Metadata.Roles["targets"].KeyIDs; len(got) != 1 || got[0] != stranger.id {
		t.Fatalf("targets role %v", got)
	}
}

// TestConfirmKey: a key marked Confirm keeps the mark on the token, shows
// it, and signs (or certifies) only after a person says yes.
func TestConfirmKey(t *testing.T) {
	tok := softhsmtest.New(t, "246810")
	open := func(opts agent.Options) *agent.Keyring {
		store, err := pkcs11.Open(tok.URI())
		if err != nil {
			t.Fatal(err)
		}
		opts.Stores = []agent.KeyStore{store}
		k := agent.New(opts)
		t.Cleanup(func() { k.Close() })
		return k
	}
	ctx := context.Background()
	k := open(agent.Options{})
	key, err := k.Generate(ctx, agent.GenerateRequest{KeyMeta: agent.KeyMeta{Role: agent.RoleDelegation, Name: "careful", Confirm: true}})
	if err != nil {
		t.Fatal(err)
	}
	root, err := k.Generate(ctx, agent.GenerateRequest{KeyMeta: agent.KeyMeta{Role: agent.RoleRoot, Name: "root", Confirm: true}})
	if err != nil {
		t.Fatal(err)
	}
	req := agent.SignRequest{KeyID: key.ID, GUN: gunA, Role: "targets/releases", Data: agenttest.TargetsJSON("v1")}
	if _, err := k.Sign(ctx, req); !errors.Is(err, agent.ErrDenied) || !strings.Contains(err.Error(), agent.AskpassEnv) {
		t.Fatalf("a confirm key signed with no askpass: %v", err)
	}
	if _, err := k.CertifyRoot(ctx, agent.CertifyRequest{KeyID: root.ID, GUN: gunA}); !errors.Is(err, agent.ErrDenied) {
		t.Fatalf("a confirm root key certified with no askpass: %v", err)
	}
	k.Close()

	// Another agent over the same token reads the mark from the token.
	yes, record := askpass(t, 0)
	k2 := open(agent.Options{Askpass: yes})
	keys, err := k2.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	marked := 0
	for _, ki := range keys {
		if ki.Confirm {
			marked++
		}
	}
	if marked != 2 {
		t.Fatalf("%d keys listed as Confirm after a restart, want 2: %+v", marked, keys)
	}
	if _, err := k2.Sign(ctx, req); err != nil {
		t.Fatal(err)
	}
	if _, err := k2.CertifyRoot(ctx, agent.CertifyRequest{KeyID: root.ID, GUN: gunA}); err != nil {
		t.Fatal(err)
	}
	q := asked(t, record)
	if strings.Count(q, "--\nconfirm\n") != 2 || !strings.Contains(q, "targets/releases") || !strings.Contains(q, "root certificate for "+gunA) {
		t.Fatalf("asked:\n%s", q)
	}
	k2.Close()
	no, _ := askpass(t, 1)
	k3 := open(agent.Options{Askpass: no})
	if _, err := k3.Sign(ctx, req); !errors.Is(err, agent.ErrDenied) {
		t.Fatalf("signed after a no: %v", err)
	}
}

func manyKeys(t *testing.T, n int) []tufKey {
	var out []tufKey
	for range n {
		out = append(out, foreignKey(t))
	}
	return out
}

// syncWriter guards a buffer the agent writes its audit lines to.
type syncWriter struct {
	mu sync.Mutex
	w  *bytes.Buffer
}

func (s *syncWriter) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.String()
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}
