package tuf

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"math/big"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/trust-agent/trust-agent/agent"
)

const gun = "example.com/team/app"

// notaryKeyID is notary's ID of a key: the SHA-256 of the canonical JSON
// of {"keytype":T,"keyval":{"private":null,"public":B64}}.
func notaryKeyID(keytype string, public []byte) string {
	doc := `{"keytype":"` + keytype + `","keyval":{"private":null,"public":"` + base64.StdEncoding.EncodeToString(public) + `"}}`
	sum := sha256.Sum256([]byte(doc))
	return hex.EncodeToString(sum[:])
}

func targetsJSON(targets ...string) string {
	sort.Strings(targets) // canonical JSON sorts object keys
	var b strings.Builder
	b.WriteString(`{"_type":"Targets","delegations":{"keys":{},"roles":[]},"expires":"2029-01-01T00:00:00Z","targets":{`)
	for i, t := range targets {
		if i > 0 {
			b.WriteString(",")
		}
		b.WriteString(`"` + t + `":{"hashes":{"sha256":"AAAA"},"length":10}`)
	}
	b.WriteString(`},"version":3}`)
	return b.String()
}

// rootJSON is canonical Root metadata for a new repository whose root key
// is a certificate for cn: the other roles name one bare key each.
func rootJSON(t *testing.T, cn string) string {
	t.Helper()
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now(), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &priv.PublicKey, priv)
	if err != nil {
		t.Fatal(err)
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	pubDER, err := x509.MarshalPKIXPublicKey(&priv.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	rootID, keyID := notaryKeyID("ecdsa-x509", certPEM), notaryKeyID("ecdsa", pubDER)
	keys := map[string]string{
		rootID: `{"keytype":"ecdsa-x509","keyval":{"private":null,"public":"` + base64.StdEncoding.EncodeToString(certPEM) + `"}}`,
		keyID:  `{"keytype":"ecdsa","keyval":{"private":null,"public":"` + base64.StdEncoding.EncodeToString(pubDER) + `"}}`,
	}
	ids := []string{rootID, keyID}
	sort.Strings(ids)
	role := func(id string) string { return `{"keyids":["` + id + `"],"threshold":1}` }
	return `{"_type":"Root","consistent_snapshot":false,"expires":"2035-01-01T00:00:00Z","keys":{"` +
		ids[0] + `":` + keys[ids[0]] + `,"` + ids[1] + `":` + keys[ids[1]] + `},"roles":{"root":` + role(rootID) +
		`,"snapshot":` + role(keyID) + `,"targets":` + role(keyID) + `,"timestamp":` + role(keyID) + `},"version":1}`
}

func TestPolicy(t *testing.T) {
	root := rootJSON(t, gun)
	otherRoot := rootJSON(t, "example.com/other/app")
	snapshot := `{"_type":"Snapshot","expires":"2029-01-01T00:00:00Z","meta":{},"version":2}`
	timestamp := `{"_type":"Timestamp","expires":"2029-01-01T00:00:00Z","meta":{},"version":2}`
	tests := []struct {
		name   string
		meta   agent.KeyMeta
		req    agent.SignRequest
		denied string // substring of the refusal; empty means allowed
	}{
		{"delegation signs releases", agent.KeyMeta{Role: agent.RoleDelegation, Name: "jeff"},
			agent.SignRequest{GUN: gun, Role: "targets/releases", Data: []byte(targetsJSON("v1"))}, ""},
		{"delegation signs its own role", agent.KeyMeta{Role: agent.RoleDelegation, Name: "jeff"},
			agent.SignRequest{GUN: gun, Role: "targets/jeff", Data: []byte(targetsJSON())}, ""},
		{"delegation signs for several roles of one publish", agent.KeyMeta{Role: agent.RoleDelegation, Name: "jeff"},
			agent.SignRequest{GUN: gun, Role: "targets/releases,targets/jeff", Data: []byte(targetsJSON())}, ""},
		{"delegation refuses a list with targets in it", agent.KeyMeta{Role: agent.RoleDelegation, Name: "jeff"},
			agent.SignRequest{GUN: gun, Role: "targets/releases,targets", Data: []byte(targetsJSON())}, "targets/<name>"},
		{"delegation refuses top-level targets", agent.KeyMeta{Role: agent.RoleDelegation, Name: "jeff"},
			agent.SignRequest{GUN: gun, Role: "targets", Data: []byte(targetsJSON())}, "targets/<name>"},
		{"delegation refuses root", agent.KeyMeta{Role: agent.RoleDelegation, Name: "jeff"},
			agent.SignRequest{GUN: gun, Role: "targets/releases", Data: []byte(root)}, "not Root"},
		{"targets key signs its repository", agent.KeyMeta{Role: agent.RoleTargets, Name: "repo", GUN: gun},
			agent.SignRequest{GUN: gun, Role: "targets", Data: []byte(targetsJSON("latest"))}, ""},
		{"targets key refuses another repository", agent.KeyMeta{Role: agent.RoleTargets, Name: "repo", GUN: gun},
			agent.SignRequest{GUN: "example.com/other/app", Role: "targets", Data: []byte(targetsJSON())}, "bound to repository"},
		{"targets key refuses snapshot", agent.KeyMeta{Role: agent.RoleTargets, Name: "repo", GUN: gun},
			agent.SignRequest{GUN: gun, Role: "snapshot", Data: []byte(snapshot)}, "only the targets role"},
		{"snapshot key signs snapshot", agent.KeyMeta{Role: agent.RoleSnapshot, Name: "snap", GUN: gun},
			agent.SignRequest{GUN: gun, Role: "snapshot", Data: []byte(snapshot)}, ""},
		{"nobody signs timestamp", agent.KeyMeta{Role: agent.RoleSnapshot, Name: "snap", GUN: gun},
			agent.SignRequest{GUN: gun, Role: "timestamp", Data: []byte(timestamp)}, "only Snapshot"},
		{"root signs its repository's root", agent.KeyMeta{Role: agent.RoleRoot, Name: "root"},
			agent.SignRequest{GUN: gun, Role: "root", Data: []byte(root)}, ""},
		{"root refuses another repository's certificate", agent.KeyMeta{Role: agent.RoleRoot, Name: "root"},
			agent.SignRequest{GUN: gun, Role: "root", Data: []byte(otherRoot)}, "not \"example.com/team/app\""},
		{"root refuses targets", agent.KeyMeta{Role: agent.RoleRoot, Name: "root"},
			agent.SignRequest{GUN: gun, Role: "targets", Data: []byte(targetsJSON())}, "only Root"},
		{"raw digest refused", agent.KeyMeta{Role: agent.RoleDelegation, Name: "jeff"},
			agent.SignRequest{GUN: gun, Role: "targets/releases", Data: make([]byte, 32)}, "not canonical"},
		{"white space refused", agent.KeyMeta{Role: agent.RoleDelegation, Name: "jeff"},
			agent.SignRequest{GUN: gun, Role: "targets/releases", Data: []byte(`{"_type": "Targets","expires":"2029-01-01T00:00:00Z","version":1}`)}, "white space"},
		{"unsorted keys refused", agent.KeyMeta{Role: agent.RoleDelegation, Name: "jeff"},
			agent.SignRequest{GUN: gun, Role: "targets/releases", Data: []byte(`{"_type":"Targets","version":1,"expires":"2029-01-01T00:00:00Z"}`)}, "canonical encoder writes"},
		{"repeated keys refused", agent.KeyMeta{Role: agent.RoleDelegation, Name: "jeff"},
			agent.SignRequest{GUN: gun, Role: "targets/releases", Data: []byte(`{"_type":"Targets","_type":"Root","expires":"2029-01-01T00:00:00Z","version":1}`)}, "duplicate key"},
		{"other JSON refused", agent.KeyMeta{Role: agent.RoleDelegation, Name: "jeff"},
			agent.SignRequest{GUN: gun, Role: "targets/releases", Data: []byte(`{"amount":100,"to":"mallory"}`)}, "not TUF metadata"},
		{"missing version refused", agent.KeyMeta{Role: agent.RoleDelegation, Name: "jeff"},
			agent.SignRequest{GUN: gun, Role: "targets/releases", Data: []byte(`{"_type":"Targets","expires":"2029-01-01T00:00:00Z"}`)}, "lacks a version"},
		// Each of these catches a plausible bug the package tests once let
		// through: a GUN check loosened to a prefix match, the targets
		// rule's || turned into &&, Timestamp accepted where Snapshot is.
		{"targets key refuses a repository its name prefixes", agent.KeyMeta{Role: agent.RoleTargets, Name: "repo", GUN: gun},
			agent.SignRequest{GUN: gun + "-evil", Role: "targets", Data: []byte(targetsJSON())}, "bound to repository"},
		{"targets key refuses a repository under its name", agent.KeyMeta{Role: agent.RoleTargets, Name: "repo", GUN: gun},
			agent.SignRequest{GUN: gun + "/evil", Role: "targets", Data: []byte(targetsJSON())}, "bound to repository"},
		{"snapshot key refuses a repository its name prefixes", agent.KeyMeta{Role: agent.RoleSnapshot, Name: "snap", GUN: gun},
			agent.SignRequest{GUN: gun + "-evil", Role: "snapshot", Data: []byte(snapshot)}, "bound to repository"},
		{"targets key refuses a delegation role", agent.KeyMeta{Role: agent.RoleTargets, Name: "repo", GUN: gun},
			agent.SignRequest{GUN: gun, Role: "targets/releases", Data: []byte(targetsJSON())}, "only the targets role"},
		{"targets key refuses snapshot metadata for targets", agent.KeyMeta{Role: agent.RoleTargets, Name: "repo", GUN: gun},
			agent.SignRequest{GUN: gun, Role: "targets", Data: []byte(snapshot)}, "only the targets role"},
		{"snapshot key refuses timestamp metadata for snapshot", agent.KeyMeta{Role: agent.RoleSnapshot, Name: "snap", GUN: gun},
			agent.SignRequest{GUN: gun, Role: "snapshot", Data: []byte(timestamp)}, "only Snapshot"},
		{"snapshot key refuses snapshot metadata for timestamp", agent.KeyMeta{Role: agent.RoleSnapshot, Name: "snap", GUN: gun},
			agent.SignRequest{GUN: gun, Role: "timestamp", Data: []byte(snapshot)}, "only Snapshot"},
		{"root key refuses root metadata for another role", agent.KeyMeta{Role: agent.RoleRoot, Name: "root"},
			agent.SignRequest{GUN: gun, Role: "targets", Data: []byte(root)}, "only Root"},
		{"bad repository name refused", agent.KeyMeta{Role: agent.RoleTargets, Name: "repo", GUN: "NOT A REPO"},
			agent.SignRequest{GUN: "NOT A REPO", Role: "targets", Data: []byte(targetsJSON())}, "not a repository name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			md, _, err := checkPolicy(tt.meta, tt.req)
			if tt.denied == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				if md.Type == "" || md.Version == 0 {
					t.Fatalf("metadata not read: %+v", md)
				}
				return
			}
			if !errors.Is(err, agent.ErrDenied) {
				t.Fatalf("err = %v, want a refusal", err)
			}
			if !strings.Contains(err.Error(), tt.denied) {
				t.Fatalf("err = %q, want it to mention %q", err, tt.denied)
			}
		})
	}
}

func TestMetadataListsTargets(t *testing.T) {
	md, _, err := parseMetadata([]byte(targetsJSON("v2", "latest", "v1")))
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(md.Targets, ","); got != "latest,v1,v2" {
		t.Fatalf("targets = %s", got)
	}
	if md.Version != 3 || md.Expires.Year() != 2029 {
		t.Fatalf("version/expiry = %d/%v", md.Version, md.Expires)
	}
}

func TestDERToRaw(t *testing.T) {
	priv, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	digest := make([]byte, 32)
	for i := 0; i < 50; i++ { // short r or s values must be left-padded
		digest[0] = byte(i)
		der, _ := ecdsa.SignASN1(rand.Reader, priv, digest)
		raw, err := derToRaw(der, 32)
		if err != nil || len(raw) != 64 {
			t.Fatalf("derToRaw: %d bytes, %v", len(raw), err)
		}
		r, s := new(big.Int).SetBytes(raw[:32]), new(big.Int).SetBytes(raw[32:])
		if !ecdsa.Verify(&priv.PublicKey, digest, r, s) {
			t.Fatal("raw signature does not verify")
		}
	}
	if _, err := derToRaw([]byte{0x30, 0x00}, 32); err == nil {
		t.Fatal("empty signature accepted")
	}
}
