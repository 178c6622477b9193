package trust

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/theupdateframework/notary/trustmanager"
	"github.com/theupdateframework/notary/tuf/data"
	"github.com/theupdateframework/notary/tuf/signed"
	"github.com/theupdateframework/notary/tuf/utils"

	"github.com/trust-agent/trust-agent/agent"
	_ "github.com/trust-agent/trust-agent/format/tuf" // the "tuf" format: Keyring.Sign signs through it
)

const testGUN = "registry.example.com/team/app"

// recorder keeps the agent's audit events.
type recorder struct {
	mu     sync.Mutex
	events []agent.Event
}

func (r *recorder) Record(e agent.Event) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, e)
	return nil
}

func (r *recorder) last() agent.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.events[len(r.events)-1]
}

func newSoftAgent(t *testing.T) (*agent.Keyring, *recorder) {
	t.Helper()
	rec := &recorder{}
	a := agent.New(agent.Options{Stores: []agent.KeyStore{&softStore{}}, Audit: rec})
	t.Cleanup(func() { a.Close() })
	return a, rec
}

// TestCanonicalKeyIDFormula checks the formula the agent documents against
// notary: hex SHA-256 of {"keytype":T,"keyval":{"private":null,"public":B64(PKIX DER)}}.
func TestCanonicalKeyIDFormula(t *testing.T) {
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	rk, _ := rsa.GenerateKey(rand.Reader, 2048)
	for _, c := range []struct {
		keytype string
		pub     crypto.PublicKey
		notary  func([]byte) data.PublicKey
	}{
		{data.ECDSAKey, ec.Public(), func(b []byte) data.PublicKey { return data.NewECDSAPublicKey(b) }},
		{data.RSAKey, rk.Public(), func(b []byte) data.PublicKey { return data.NewRSAPublicKey(b) }},
	} {
		der, err := x509.MarshalPKIXPublicKey(c.pub)
		if err != nil {
			t.Fatal(err)
		}
		doc := `{"keytype":"` + c.keytype + `","keyval":{"private":null,"public":"` + base64.StdEncoding.EncodeToString(der) + `"}}`
		sum := sha256.Sum256([]byte(doc))
		want := hex.EncodeToString(sum[:])
		pub := c.notary(der)
		canon, err := utils.CanonicalKeyID(pub)
		if err != nil {
			t.Fatal(err)
		}
		if pub.ID() != want || canon != want {
			t.Errorf("%s: notary ID %s, canonical %s; formula gives %s", c.keytype, pub.ID(), canon, want)
		}
	}
}

// TestAgentKeyIDsAreNotarys checks the agent's IDs against notary's, for
// both algorithms and for a root certificate made by CertifyRoot.
func TestAgentKeyIDsAreNotarys(t *testing.T) {
	a, _ := newSoftAgent(t)
	ctx := context.Background()
	for _, alg := range []string{agent.AlgorithmECDSA, agent.AlgorithmRSA} {
		info, err := a.Generate(ctx, agent.GenerateRequest{KeyMeta: agent.KeyMeta{Role: agent.RoleRoot, Name: "root-" + alg}, Algorithm: alg})
		if err != nil {
			t.Fatal(err)
		}
		pub, err := publicKey(info)
		if err != nil {
			t.Fatalf("%s: %v", alg, err)
		}
		if pub.ID() != info.ID {
			t.Fatalf("%s: notary ID %s, agent ID %s", alg, pub.ID(), info.ID)
		}
		cs := NewCryptoService(a, testGUN)
		cert, err := cs.RootCertificate(info.ID)
		if err != nil {
			t.Fatal(err)
		}
		if want := alg + "-x509"; cert.Algorithm() != want {
			t.Errorf("certificate key type %s, want %s", cert.Algorithm(), want)
		}
		canon, err := utils.CanonicalKeyID(cert)
		if err != nil || canon != info.ID {
			t.Fatalf("%s: certificate's canonical ID %s (%v), want the agent's %s", alg, canon, err, info.ID)
		}
		if cert.ID() == info.ID {
			t.Fatalf("%s: certificate ID equals the canonical ID; notary scopes it per repository", alg)
		}
		// Both IDs find the key.
		for _, id := range []string{info.ID, cert.ID()} {
			k, role, err := cs.GetPrivateKey(id)
			if err != nil || k.ID() != info.ID || role != data.CanonicalRootRole {
				t.Fatalf("GetPrivateKey(%s) = %v, %s, %v", id, k, role, err)
			}
		}
		if got := cs.GetKey(cert.ID()); got == nil || got.ID() != cert.ID() {
			t.Fatalf("GetKey(certificate ID) = %v", got)
		}
		x509cert, err := utils.LoadCertFromPEM(cert.Public())
		if err != nil || x509cert.Subject.CommonName != testGUN {
			t.Fatalf("certificate subject %v (%v), want CN=%s", x509cert.Subject, err, testGUN)
		}
	}
}

func TestCryptoServiceKeys(t *testing.T) {
	a, _ := newSoftAgent(t)
	cs := NewCryptoService(a, testGUN)

	_, _, err := cs.GetPrivateKey("0000")
	if _, ok := err.(trustmanager.ErrKeyNotFound); !ok {
		t.Fatalf("GetPrivateKey(unknown) error = %#v, want trustmanager.ErrKeyNotFound unwrapped", err)
	}
	if cs.GetKey("0000") != nil {
		t.Fatal("GetKey(unknown) is not nil")
	}
	if err := cs.AddKey(data.CanonicalTargetsRole, testGUN, nil); err == nil || !strings.Contains(err.Error(), "key import") {
		t.Fatalf("AddKey error = %v, want a refusal naming key import", err)
	}
	if _, err := cs.Create(data.CanonicalTimestampRole, testGUN, data.ECDSAKey); err == nil {
		t.Fatal("Create(timestamp) succeeded; the server owns that key")
	}

	targets, err := cs.Create(data.CanonicalTargetsRole, testGUN, data.ECDSAKey)
	if err != nil {
		t.Fatal(err)
	}
	alice, err := cs.Create("targets/alice", testGUN, data.ECDSAKey)
	if err != nil {
		t.Fatal(err)
	}
	root, err := cs.Create(data.CanonicalRootRole, "", data.RSAKey)
	if err != nil {
		t.Fatal(err)
	}
	if root.Algorithm() != data.RSAKey {
		t.Fatalf("root algorithm %s", root.Algorithm())
	}
	fresh := NewCryptoService(a, testGUN) // reads the agent, not the cache
	for role, want := range map[data.RoleName]string{
		data.CanonicalTargetsRole: targets.ID(),
		"targets/alice":           alice.ID(),
		data.CanonicalRootRole:    root.ID(),
	} {
		if got := fresh.ListKeys(role); len(got) != 1 || got[0] != want {
			t.Errorf("ListKeys(%s) = %v, want [%s]", role, got, want)
		}
	}
	all := fresh.ListAllKeys()
	if len(all) != 3 || all[targets.ID()] != data.CanonicalTargetsRole || all[alice.ID()] != "targets/alice" {
		t.Errorf("ListAllKeys = %v", all)
	}

	// A key bound to one repository does not exist for another.
	other := NewCryptoService(a, "registry.example.com/other")
	if ids := other.ListKeys(data.CanonicalTargetsRole); len(ids) != 0 {
		t.Errorf("other repository lists targets keys %v", ids)
	}
	if _, _, err := other.GetPrivateKey(targets.ID()); !errors.As(err, new(trustmanager.ErrKeyNotFound)) {
		t.Errorf("other repository finds the targets key: %v", err)
	}
	if err := cs.RemoveKey(targets.ID()); err != nil || fresh.GetKey(targets.ID()) == nil {
		t.Errorf("RemoveKey removed a hardware key (err %v)", err)
	}
}

// signedTargets returns the canonical bytes notary signs for a Targets role.
func signedTargets(t *testing.T) []byte {
	t.Helper()
	tgts := data.NewTargets()
	tgts.Signed.Version = 1
	tgts.Signed.Expires = data.DefaultExpires(data.CanonicalTargetsRole)
	s, err := tgts.ToSigned()
	if err != nil {
		t.Fatal(err)
	}
	return *s.Signed
}

func TestCryptoServiceSign(t *testing.T) {
	a, rec := newSoftAgent(t)
	cs := NewCryptoService(a, testGUN)
	msg := signedTargets(t)
	check := func(pub data.PublicKey, sig []byte, method data.SigAlgorithm, role string) {
		t.Helper()
		if err := signed.VerifySignature(msg, &data.Signature{KeyID: pub.ID(), Method: method, Signature: sig}, pub); err != nil {
			t.Fatalf("notary rejects the agent's signature: %v", err)
		}
		if e := rec.last(); e.Op != "sign" || e.Role != role || e.GUN != testGUN || e.Result != "ok" {
			t.Fatalf("agent saw %+v, want a sign of %s for %s", e, role, testGUN)
		}
	}

	for _, alg := range []string{data.ECDSAKey, data.RSAKey} {
		pub, err := cs.Create(data.CanonicalTargetsRole, testGUN, alg)
		if err != nil {
			t.Fatal(err)
		}
		k, role, err := cs.GetPrivateKey(pub.ID())
		if err != nil || role != data.CanonicalTargetsRole {
			t.Fatalf("GetPrivateKey = %v, %v", role, err)
		}
		sig, err := k.Sign(rand.Reader, msg, nil)
		if err != nil {
			t.Fatal(err)
		}
		check(pub, sig, k.SignatureAlgorithm(), "targets")
		if k.Private() != nil || k.CryptoSigner() != nil {
			t.Fatal("the private key handle exposes private material or a digest signer")
		}
	}

	del, err := cs.Create("targets/alice", testGUN, data.ECDSAKey)
	if err != nil {
		t.Fatal(err)
	}
	k, _, err := cs.GetPrivateKey(del.ID())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := k.Sign(rand.Reader, msg, nil); err == nil || !strings.Contains(err.Error(), "SetDelegationRole") {
		t.Fatalf("delegation signature without a role: %v", err)
	}
	if err := cs.SetDelegationRole("targets"); err == nil {
		t.Fatal("SetDelegationRole(targets) accepted a top-level role")
	}
	for _, role := range []data.RoleName{"targets/releases", "targets/alice"} {
		if err := cs.SetDelegationRole(role); err != nil {
			t.Fatal(err)
		}
		sig, err := k.Sign(rand.Reader, msg, nil)
		if err != nil {
			t.Fatal(err)
		}
		check(del, sig, data.ECDSASignature, role.String())
	}

	// The agent's policy holds through the CryptoService: a snapshot key
	// does not sign Targets metadata.
	snap, err := cs.Create(data.CanonicalSnapshotRole, testGUN, data.ECDSAKey)
	if err != nil {
		t.Fatal(err)
	}
	sk, _, _ := cs.GetPrivateKey(snap.ID())
	if _, err := sk.Sign(rand.Reader, msg, nil); !errors.Is(err, agent.ErrDenied) {
		t.Fatalf("snapshot key signing Targets: %v, want agent.ErrDenied", err)
	}
}

// listCounter counts the agent's List calls.
type listCounter struct {
	agent.Agent
	mu    sync.Mutex
	lists int
}

func (c *listCounter) List(ctx context.Context) ([]agent.KeyInfo, error) {
	c.mu.Lock()
	c.lists++
	c.mu.Unlock()
	return c.Agent.List(ctx)
}

func (c *listCounter) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.lists
}

// TestCryptoServiceListsOnce: a command asks the agent for its keys once.
// A key it does not hold (the server's snapshot key, which notary looks up
// in every publish) is not a reason to ask again; what the command itself
// changes on the agent is still seen: a key it creates at once, a root
// certificate it has the agent make after one more List, and a key created
// before the first List at that List.
func TestCryptoServiceListsOnce(t *testing.T) {
	a, _ := newSoftAgent(t)
	root, err := NewCryptoService(a, testGUN).Create(data.CanonicalRootRole, "", data.ECDSAKey)
	if err != nil {
		t.Fatal(err)
	}
	lc := &listCounter{Agent: a}
	cs := NewCryptoService(lc, testGUN)
	for range 2 {
		if _, _, err := cs.GetPrivateKey("the server's snapshot key"); !errors.As(err, new(trustmanager.ErrKeyNotFound)) {
			t.Fatalf("GetPrivateKey(a key the agent lacks) = %v, want ErrKeyNotFound", err)
		}
	}
	if cs.GetKey(root.ID()) == nil {
		t.Fatal("GetKey(root) = nil")
	}
	if n := lc.count(); n != 1 {
		t.Fatalf("%d Lists for lookups of one absent key twice and one present key, want 1", n)
	}

	alice, err := cs.Create("targets/alice", testGUN, data.ECDSAKey)
	if err != nil {
		t.Fatal(err)
	}
	if _, role, err := cs.GetPrivateKey(alice.ID()); err != nil || role != "targets/alice" {
		t.Fatalf("GetPrivateKey(the key just created) = %v, %v", role, err)
	}
	if n := lc.count(); n != 1 {
		t.Fatalf("%d Lists after finding the key the command created, want 1", n)
	}

	cert, err := cs.RootCertificate(root.ID())
	if err != nil {
		t.Fatal(err)
	}
	if got := cs.GetKey(cert.ID()); got == nil || got.ID() != cert.ID() {
		t.Fatalf("GetKey(the new root certificate's ID) = %v", got)
	}
	if n := lc.count(); n != 2 {
		t.Fatalf("%d Lists after the root certificate, want 2 (the certificate is new to the list)", n)
	}

	// Create before any List: the next lookup lists every key.
	first := NewCryptoService(lc, testGUN)
	if _, err := first.Create("targets/bob", testGUN, data.ECDSAKey); err != nil {
		t.Fatal(err)
	}
	if first.GetKey(root.ID()) == nil || first.GetKey(alice.ID()) == nil {
		t.Fatal("after a Create with nothing listed yet, the agent's other keys are not found")
	}
}
