package tuf_test

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/docker/go/canonical/json"
	tufdata "github.com/theupdateframework/notary/tuf/data"

	"github.com/trust-agent/trust-agent/agent"
	"github.com/trust-agent/trust-agent/agent/agenttest"
	"github.com/trust-agent/trust-agent/format/tuf"
)

// FuzzCanonicalPolicy is differential: whatever the policy accepts is
// exactly what notary's canonical encoder writes for the decoded value,
// and notary's own types read from it what the policy read. The corpus is
// in testdata/fuzz/FuzzCanonicalPolicy; `make fuzz` runs it for minutes.
func FuzzCanonicalPolicy(f *testing.F) {
	for _, s := range fuzzSeeds(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, payload []byte) {
		md, err := tuf.ReadPayload(payload)
		if err != nil {
			return
		}
		// notary's canonical encoder, on the generic value.
		dec := json.NewDecoder(bytes.NewReader(payload))
		dec.UseNumber()
		var v any
		if err := dec.Decode(&v); err != nil {
			t.Fatalf("accepted %q, which notary's decoder refuses: %v", payload, err)
		}
		enc, err := json.MarshalCanonical(v)
		if err != nil || !bytes.Equal(enc, payload) {
			t.Fatalf("accepted %q, which notary's canonical encoder writes as %q (%v)", payload, enc, err)
		}
		// notary verifies a signature over the payload decoded into
		// interface{} (numbers as float64) and written back canonically.
		var generic any
		if err := json.Unmarshal(payload, &generic); err != nil {
			t.Fatalf("accepted %q, which notary's verifier cannot decode: %v", payload, err)
		}
		if back, err := json.MarshalCanonical(generic); err != nil || !bytes.Equal(back, payload) {
			t.Fatalf("accepted %q, which notary's verifier reads back as %q (%v)", payload, back, err)
		}
		// notary's types, read and written back.
		var common tufdata.SignedCommon
		var typed any
		var targets []string
		var roles map[string]agent.RoleKeys
		switch md.Type {
		case "Root":
			var r tufdata.Root
			err = json.Unmarshal(payload, &r)
			common, typed = r.SignedCommon, &r
			roles = map[string]agent.RoleKeys{}
			for name, role := range r.Roles {
				roles[name.String()] = agent.RoleKeys{KeyIDs: role.KeyIDs, Threshold: role.Threshold}
			}
		case "Targets":
			var tg tufdata.Targets
			err = json.Unmarshal(payload, &tg)
			common, typed = tg.SignedCommon, &tg
			for name := range tg.Targets {
				targets = append(targets, name)
			}
			sort.Strings(targets)
		case "Snapshot":
			var s tufdata.Snapshot
			err = json.Unmarshal(payload, &s)
			common, typed = s.SignedCommon, &s
		case "Timestamp":
			var s tufdata.Timestamp
			err = json.Unmarshal(payload, &s)
			common, typed = s.SignedCommon, &s
		default:
			t.Fatalf("accepted type %q", md.Type)
		}
		if err != nil {
			t.Fatalf("accepted %q, which notary's %s type refuses: %v", payload, md.Type, err)
		}
		if common.Type != md.Type || int64(common.Version) != md.Version || !common.Expires.Equal(md.Expires) {
			t.Fatalf("notary reads %s v%d expiring %v; the policy read %s v%d expiring %v",
				common.Type, common.Version, common.Expires, md.Type, md.Version, md.Expires)
		}
		if len(md.Targets) <= 256 && !reflect.DeepEqual(targets, md.Targets) {
			t.Fatalf("notary reads targets %q; the policy read %q", targets, md.Targets)
		}
		if !reflect.DeepEqual(roles, md.Roles) {
			t.Fatalf("notary reads roles %v; the policy read %v", roles, md.Roles)
		}
		enc, err = json.MarshalCanonical(typed)
		if err != nil || !bytes.Equal(unescapeHTML(enc), payload) {
			t.Fatalf("accepted %q, which notary writes back from its %s type as %q (%v)", payload, md.Type, enc, err)
		}
	})
}

// unescapeHTML undoes the one thing notary's types write differently from
// its generic canonical form: a target's custom is a json.RawMessage, which
// the encoder compacts with <, >, &, U+2028 and U+2029 escaped. Notary
// verifies signatures over the generic form (tuf/signed VerifySignatures
// decodes into a map and encodes that), where they are raw, so the policy
// accepts them raw; the escaped form would not verify. The escapes cannot
// stand for anything else here: the policy refuses every \u escape.
func unescapeHTML(b []byte) []byte {
	r := strings.NewReplacer(`\u003c`, "<", `\u003e`, ">", `\u0026`, "&", `\u2028`, "\u2028", `\u2029`, "\u2029")
	return []byte(r.Replace(string(b)))
}

// fuzzSeeds are payloads of each type the policy accepts, and a few it
// refuses, for the fuzzer to start from.
func fuzzSeeds(tb testing.TB) [][]byte {
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: agenttest.GUN},
		NotBefore: time.Unix(1700000000, 0), NotAfter: time.Unix(2000000000, 0)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &priv.PublicKey, priv)
	if err != nil {
		tb.Fatal(err)
	}
	pub, err := x509.MarshalPKIXPublicKey(&priv.PublicKey)
	if err != nil {
		tb.Fatal(err)
	}
	return [][]byte{
		agenttest.RootJSON(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pub, pub, 3),
		agenttest.TargetsJSON(),
		agenttest.TargetsJSON("latest", "v1", "v<2>&\u2028"),
		targetsWith(`{"a":{"custom":{"k":[1,true,null,"s"]},"hashes":{"sha256":"3q2+7w==","sha512":""},"length":0}}`),
		[]byte(`{"_type":"Targets","delegations":{"keys":{},"roles":[{"keyids":["ab"],"name":"targets/releases","paths":[""],"threshold":1}]},"expires":"2030-01-01T00:00:00.5+01:00","targets":{},"version":9007199254740992}`),
		[]byte(`{"_type":"Targets","delegations":{"keys":{},"roles":[{"keyids":null,"name":"targets/x","threshold":1}]},"expires":"2030-01-01T00:00:00Z","targets":null,"version":1}`),
		[]byte(`{"_type":"Snapshot","expires":"2030-01-01T00:00:00Z","meta":{"root":{"hashes":{"sha256":"3q2+7w=="},"length":1234},"targets":{"hashes":{"sha256":"3q2+7w=="},"length":99}},"version":2}`),
		[]byte(`{"_type":"Timestamp","expires":"2030-01-01T00:00:00Z","meta":{"snapshot":{"hashes":{"sha256":"3q2+7w=="},"length":1}},"version":2}`),
		targetsWith(`{"\u0041":` + fileMeta + `}`),
		[]byte(`{"VERSION":9,"_type":"Snapshot","expires":"2030-01-01T00:00:00Z","meta":{},"version":2}`),
	}
}

// TestFuzzSeedsAccepted: the fuzzer starts from payloads the policy
// accepts, so the differential checks run from the first input.
func TestFuzzSeedsAccepted(t *testing.T) {
	seeds := fuzzSeeds(t)
	for i, s := range seeds[:len(seeds)-2] {
		if _, err := tuf.ReadPayload(s); err != nil {
			t.Errorf("seed %d %q refused: %v", i, s, err)
		}
	}
	for _, s := range seeds[len(seeds)-2:] {
		if _, err := tuf.ReadPayload(s); err == nil {
			t.Errorf("seed %q accepted", s)
		}
	}
}
