package hostile

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
	"fmt"
	"math/big"
	"sort"
	"strings"
	"time"
)

// The payloads here are written byte by byte as notary's canonical JSON
// encoder writes the "signed" object of TUF metadata (docs/PROTOCOL.md:
// `data` is exactly the bytes notary signs): keys sorted, no white space,
// only `\"` and `\\` escaped. The attacks then change one thing.

// Expires is the expiry every payload carries.
const Expires = "2035-01-01T00:00:00Z"

// hashB64 is a placeholder digest, as agenttest uses.
const hashB64 = "3q2+7w=="

// PublicKey is a key as TUF metadata lists it.
type PublicKey struct {
	ID      string // notary's key ID: hex SHA-256 of the key's canonical JSON
	KeyType string // "ecdsa", "ecdsa-x509", "rsa", "rsa-x509"
	Public  string // base64 of PKIX DER, or of a PEM certificate for *-x509
}

// NewPublicKey computes the notary key ID of a key of keyType whose
// keyval.public is the base64 of public.
func NewPublicKey(keyType string, public []byte) PublicKey {
	k := PublicKey{KeyType: keyType, Public: base64.StdEncoding.EncodeToString(public)}
	sum := sha256.Sum256([]byte(k.JSON()))
	k.ID = hex.EncodeToString(sum[:])
	return k
}

// JSON is the key's canonical JSON.
func (k PublicKey) JSON() string {
	return `{"keytype":"` + k.KeyType + `","keyval":{"private":null,"public":"` + k.Public + `"}}`
}

// KeyFromInfo is the TUF form of a key the agent listed (PKIX DER).
func KeyFromInfo(k KeyInfo) PublicKey {
	return NewPublicKey(k.Algorithm, k.PublicKey)
}

// CertKey is the TUF form of a root certificate (DER): keytype
// ALG-x509, keyval.public the base64 of the PEM certificate.
func CertKey(algorithm string, der []byte) PublicKey {
	return NewPublicKey(algorithm+"-x509", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
}

// ForeignKey makes an ECDSA P-256 key outside any agent: a stranger's key.
func ForeignKey() (PublicKey, error) {
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return PublicKey{}, fmt.Errorf("hostile: foreign key: %w", err)
	}
	der, err := x509.MarshalPKIXPublicKey(&priv.PublicKey)
	if err != nil {
		return PublicKey{}, fmt.Errorf("hostile: foreign key: %w", err)
	}
	return NewPublicKey("ecdsa", der), nil
}

// RoleSpec is one role of Root metadata.
type RoleSpec struct {
	Keys      []PublicKey
	Threshold int
}

// RootSpec describes Root metadata: the four roles by name.
type RootSpec struct {
	Version int
	Roles   map[string]RoleSpec
}

// RootJSON writes spec as notary's canonical JSON: every key of every
// role in "keys", roles and key IDs sorted.
func RootJSON(spec RootSpec) []byte {
	keys := map[string]PublicKey{}
	for _, r := range spec.Roles {
		for _, k := range r.Keys {
			keys[k.ID] = k
		}
	}
	var b strings.Builder
	b.WriteString(`{"_type":"Root","consistent_snapshot":false,"expires":"` + Expires + `","keys":{`)
	for i, id := range sortedKeys(keys) {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(`"` + id + `":` + keys[id].JSON())
	}
	b.WriteString(`},"roles":{`)
	for i, name := range sortedKeys(spec.Roles) {
		if i > 0 {
			b.WriteByte(',')
		}
		r := spec.Roles[name]
		ids := make([]string, 0, len(r.Keys))
		for _, k := range r.Keys {
			ids = append(ids, `"`+k.ID+`"`)
		}
		sort.Strings(ids)
		fmt.Fprintf(&b, `"%s":{"keyids":[%s],"threshold":%d}`, name, strings.Join(ids, ","), r.Threshold)
	}
	fmt.Fprintf(&b, `},"version":%d}`, spec.Version)
	return []byte(b.String())
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// TargetsJSON is canonical Targets metadata listing the given target names
// (written as given, so a caller may put escapes or raw bytes in them; the
// caller keeps them sorted).
func TargetsJSON(version int, names ...string) []byte {
	return []byte(`{"_type":"Targets","delegations":{"keys":{},"roles":[]},"expires":"` + Expires +
		`","targets":{` + targetEntries(names...) + fmt.Sprintf(`},"version":%d}`, version))
}

func targetEntries(names ...string) string {
	var b strings.Builder
	for i, n := range names {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(`"` + n + `":{"hashes":{"sha256":"` + hashB64 + `"},"length":1}`)
	}
	return b.String()
}

// SnapshotJSON is canonical Snapshot metadata.
func SnapshotJSON(version int) []byte {
	return []byte(`{"_type":"Snapshot","expires":"` + Expires + `","meta":{"root":{"hashes":{"sha256":"` + hashB64 +
		`"},"length":1},"targets":{"hashes":{"sha256":"` + hashB64 + `"},"length":1}},"version":` + fmt.Sprint(version) + `}`)
}

// TimestampJSON is canonical Timestamp metadata.
func TimestampJSON(version int) []byte {
	return []byte(`{"_type":"Timestamp","expires":"` + Expires + `","meta":{"snapshot":{"hashes":{"sha256":"` + hashB64 +
		`"},"length":1}},"version":` + fmt.Sprint(version) + `}`)
}

// ForeignCertificate is a certificate for the public key pub (PKIX DER)
// with CN cn, valid from now for validity, issued by a CA key made here: a
// stranger's certificate for somebody else's key.
func ForeignCertificate(pub []byte, cn string, validity time.Duration) ([]byte, error) {
	key, err := x509.ParsePKIXPublicKey(pub)
	if err != nil {
		return nil, fmt.Errorf("hostile: foreign certificate: %w", err)
	}
	ca, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("hostile: foreign certificate: %w", err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(now.UnixNano()),
		Subject:      pkix.Name{CommonName: cn},
		Issuer:       pkix.Name{CommonName: "a stranger"},
		NotBefore:    now.Add(-time.Minute),
		NotAfter:     now.Add(validity),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageCodeSigning},
	}
	parent := &x509.Certificate{Subject: pkix.Name{CommonName: "a stranger"}, PublicKey: &ca.PublicKey}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, key, ca)
	if err != nil {
		return nil, fmt.Errorf("hostile: foreign certificate: %w", err)
	}
	return der, nil
}
