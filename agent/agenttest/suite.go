// Package agenttest is the one test suite every agent.Agent must pass, and
// through it every agent.KeyStore: the Keyring called directly and the
// socket.Client talking to it over a real Unix socket run the same cases,
// as x/crypto's ssh/agent tests both sides, over SoftHSM (package pkcs11),
// the virtual PIV card (package piv) and a software store (package
// agent/softstore).
//
// The suite asks the agent for its backend's Abilities (Status) and runs
// every case; a case that needs an ability the backend lacks (RSA keys,
// import, attestation, deletion) checks instead that the agent refuses it
// cleanly. A new backend passes this suite before it is registered.
package agenttest

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"math/big"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/trust-agent/trust-agent/agent"
	// The suite signs TUF metadata: a Keyring built in a test that uses
	// it signs through format/tuf, registered here for the whole binary.
	_ "github.com/trust-agent/trust-agent/format/cosign"
	_ "github.com/trust-agent/trust-agent/format/notation"
	_ "github.com/trust-agent/trust-agent/format/tuf"
)

// Config is what Run needs: a fresh agent over one unlocked backend, and
// the backend's PIN so the suite can lock and unlock it. The agent has no
// askpass program unless the caller gave it one.
type Config struct {
	Agent agent.Agent
	PIN   string
}

// GUN is the repository the suite signs for.
const GUN = "example.com/team/app"

// TargetsJSON is canonical Targets metadata listing the given (sorted) tags.
func TargetsJSON(tags ...string) []byte {
	var b strings.Builder
	b.WriteString(`{"_type":"Targets","delegations":{"keys":{},"roles":[]},"expires":"2030-01-01T00:00:00Z","targets":{`)
	for i, t := range tags {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(`"` + t + `":{"hashes":{"sha256":"3q2+7w=="},"length":1}`)
	}
	b.WriteString(`},"version":2}`)
	return []byte(b.String())
}

// RootJSON is canonical Root metadata as notary writes it for a new
// repository: the root role names the root certificate (PEM), targets the
// key with PKIX DER targets, snapshot and timestamp the server's key.
func RootJSON(rootCertPEM, targets, server []byte, version int) []byte {
	type key struct{ id, typ, pub string }
	mk := func(typ string, pub []byte) key {
		b64 := base64.StdEncoding.EncodeToString(pub)
		sum := sha256.Sum256([]byte(`{"keytype":"` + typ + `","keyval":{"private":null,"public":"` + b64 + `"}}`))
		return key{hex.EncodeToString(sum[:]), typ, b64}
	}
	r, tk, s := mk("ecdsa-x509", rootCertPEM), mk("ecdsa", targets), mk("ecdsa", server)
	keys := []key{r, tk}
	if s.id != tk.id {
		keys = append(keys, s)
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i].id < keys[j].id })
	var b strings.Builder
	b.WriteString(`{"_type":"Root","consistent_snapshot":false,"expires":"2035-01-01T00:00:00Z","keys":{`)
	for i, k := range keys {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(`"` + k.id + `":{"keytype":"` + k.typ + `","keyval":{"private":null,"public":"` + k.pub + `"}}`)
	}
	role := func(k key) string { return `{"keyids":["` + k.id + `"],"threshold":1}` }
	b.WriteString(`},"roles":{"root":` + role(r) + `,"snapshot":` + role(s) + `,"targets":` + role(tk) + `,"timestamp":` + role(s) + `},"version":` + strconv.Itoa(version) + `}`)
	return []byte(b.String())
}

// Run runs every case against cfg.Agent, in order (they share the token).
func Run(t *testing.T, cfg Config) {
	ctx := context.Background()
	a := cfg.Agent
	var deleg, repo, root, rsaKey agent.KeyInfo
	made := 0 // keys on the backend

	// What the backend can do decides which cases expect success.
	st, err := a.Status(ctx)
	must(t, err)
	if len(st.Backends) != 1 {
		t.Fatalf("the suite runs over one backend; the agent has %d", len(st.Backends))
	}
	ab := st.Backends[0].Abilities
	t.Logf("backend %s (%s): abilities %+v", st.Backends[0].Name, st.Backends[0].Kind, ab)
	if !ab.Algorithm(agent.AlgorithmECDSA) {
		t.Fatalf("backend %s makes no ECDSA keys (abilities %+v); every backend must", st.Backends[0].Name, ab)
	}

	t.Run("Generate", func(t *testing.T) {
		var err error
		deleg, err = a.Generate(ctx, agent.GenerateRequest{KeyMeta: agent.KeyMeta{Role: agent.RoleDelegation, Name: "jeff"}})
		must(t, err)
		repo, err = a.Generate(ctx, agent.GenerateRequest{KeyMeta: agent.KeyMeta{Role: agent.RoleTargets, Name: "repo", GUN: GUN}})
		must(t, err)
		root, err = a.Generate(ctx, agent.GenerateRequest{KeyMeta: agent.KeyMeta{Role: agent.RoleRoot, Name: "root"}})
		must(t, err)
		made += 3
		rsaKey, err = a.Generate(ctx, agent.GenerateRequest{KeyMeta: agent.KeyMeta{Role: agent.RoleDelegation, Name: "rsa-signer"}, Algorithm: agent.AlgorithmRSA})
		if ab.Algorithm(agent.AlgorithmRSA) {
			must(t, err)
			made++
			if rsaKey.Algorithm != agent.AlgorithmRSA {
				t.Fatalf("algorithm: %s", rsaKey.Algorithm)
			}
		} else if !errors.Is(err, agent.ErrInvalidRequest) {
			t.Fatalf("an RSA key on a backend without RSA: %v, want ErrInvalidRequest", err)
		}
		if deleg.Algorithm != agent.AlgorithmECDSA {
			t.Fatalf("algorithm: %s", deleg.Algorithm)
		}
		if deleg.Location == "" || deleg.Location == deleg.Backend || deleg.Backend != st.Backends[0].Name {
			t.Fatalf("location %q, backend %q: a key's location names the key on its backend %s", deleg.Location, deleg.Backend, st.Backends[0].Name)
		}
		// Every key carries its backend's abilities, so a client decides
		// from data (attest it? tell the user to touch?), never from names.
		if !reflect.DeepEqual(deleg.Abilities, ab) {
			t.Fatalf("key abilities %+v, backend's %+v", deleg.Abilities, ab)
		}
	})

	t.Run("GenerateRefusesBadInput", func(t *testing.T) {
		for _, req := range []agent.GenerateRequest{
			{KeyMeta: agent.KeyMeta{Role: agent.RoleDelegation, Name: "Not A Name"}},
			{KeyMeta: agent.KeyMeta{Role: agent.RoleTargets, Name: "repo2"}}, // no GUN
			{KeyMeta: agent.KeyMeta{Role: "wizard", Name: "x"}},
			{KeyMeta: agent.KeyMeta{Role: agent.RoleDelegation, Name: "jeff"}}, // exists
			{KeyMeta: agent.KeyMeta{Role: agent.RoleDelegation, Name: "small"}, Algorithm: agent.AlgorithmRSA, Bits: 1024},
		} {
			if _, err := a.Generate(ctx, req); !errors.Is(err, agent.ErrInvalidRequest) {
				t.Errorf("Generate(%+v) = %v, want ErrInvalidRequest", req, err)
			}
		}
	})

	t.Run("List", func(t *testing.T) {
		keys, err := a.List(ctx)
		must(t, err)
		got := map[string]agent.KeyInfo{}
		for _, k := range keys {
			got[k.ID] = k
		}
		want := []agent.KeyInfo{deleg, repo, root}
		if rsaKey.ID != "" {
			want = append(want, rsaKey)
		}
		for _, want := range want {
			k, ok := got[want.ID]
			if !ok || k.KeyMeta != want.KeyMeta {
				t.Errorf("List lacks %s (%+v); got %+v", want.ID, want.KeyMeta, k.KeyMeta)
			}
		}
	})

	t.Run("SignTargetsECDSA", func(t *testing.T) {
		data := TargetsJSON("latest", "v1")
		sig, err := a.Sign(ctx, agent.SignRequest{KeyID: deleg.ID, GUN: GUN, Role: "targets/releases", Data: data})
		must(t, err)
		if sig.Method != "ecdsa" || len(sig.Signature) != 64 {
			t.Fatalf("method %s, %d bytes; want ecdsa, 64 (raw r||s)", sig.Method, len(sig.Signature))
		}
		pub := parsePub(t, deleg).(*ecdsa.PublicKey)
		d := sha256.Sum256(data)
		r, s := new(big.Int).SetBytes(sig.Signature[:32]), new(big.Int).SetBytes(sig.Signature[32:])
		if !ecdsa.Verify(pub, d[:], r, s) {
			t.Fatal("signature does not verify")
		}
	})

	t.Run("SignTargetsP384", func(t *testing.T) {
		k, err := a.Generate(ctx, agent.GenerateRequest{KeyMeta: agent.KeyMeta{Role: agent.RoleDelegation, Name: "p384"}, Bits: 384})
		must(t, err)
		made++
		data := TargetsJSON("v3")
		sig, err := a.Sign(ctx, agent.SignRequest{KeyID: k.ID, GUN: GUN, Role: "targets/p384", Data: data})
		must(t, err)
		if len(sig.Signature) != 96 { // r||s at P-384's width, as notary expects
			t.Fatalf("%d bytes, want 96", len(sig.Signature))
		}
		pub := parsePub(t, k).(*ecdsa.PublicKey)
		if pub.Curve != elliptic.P384() {
			t.Fatalf("curve %s", pub.Curve.Params().Name)
		}
		d := sha256.Sum256(data)
		r, s := new(big.Int).SetBytes(sig.Signature[:48]), new(big.Int).SetBytes(sig.Signature[48:])
		if !ecdsa.Verify(pub, d[:], r, s) {
			t.Fatal("P-384 signature does not verify")
		}
	})

	t.Run("SignTargetsRSAPSS", func(t *testing.T) {
		if !ab.Algorithm(agent.AlgorithmRSA) {
			t.Skip("the backend makes no RSA keys (Abilities.Algorithms); Generate checked the refusal")
		}
		data := TargetsJSON("v2")
		sig, err := a.Sign(ctx, agent.SignRequest{KeyID: rsaKey.ID, GUN: GUN, Role: "targets/rsa-signer", Data: data})
		must(t, err)
		d := sha256.Sum256(data)
		if sig.Method != "rsapss" {
			t.Fatalf("method %s", sig.Method)
		}
		opts := &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash}
		if err := rsa.VerifyPSS(parsePub(t, rsaKey).(*rsa.PublicKey), 5 /* crypto.SHA256 */, d[:], sig.Signature, opts); err != nil {
			t.Fatalf("PSS signature does not verify: %v", err)
		}
	})

	t.Run("PolicyRefusals", func(t *testing.T) {
		for name, req := range map[string]agent.SignRequest{
			"digest":             {KeyID: deleg.ID, GUN: GUN, Role: "targets/releases", Data: make([]byte, 32)},
			"other repository":   {KeyID: repo.ID, GUN: "example.com/other/app", Role: "targets", Data: TargetsJSON()},
			"wrong role":         {KeyID: deleg.ID, GUN: GUN, Role: "root", Data: TargetsJSON()},
			"root signs targets": {KeyID: root.ID, GUN: GUN, Role: "targets", Data: TargetsJSON()},
		} {
			_, err := a.Sign(ctx, req)
			var denied *agent.DeniedError
			if !errors.Is(err, agent.ErrDenied) || !errors.As(err, &denied) || denied.Reason == "" {
				t.Errorf("%s: err = %v, want a refusal with a reason", name, err)
			}
		}
	})

	t.Run("UnknownKey", func(t *testing.T) {
		_, err := a.Sign(ctx, agent.SignRequest{KeyID: strings.Repeat("ab", 32), GUN: GUN, Role: "targets", Data: TargetsJSON()})
		if !errors.Is(err, agent.ErrNotFound) {
			t.Fatalf("err = %v, want ErrNotFound", err)
		}
	})

	t.Run("CertifyRootThenSignRoot", func(t *testing.T) {
		der, err := a.CertifyRoot(ctx, agent.CertifyRequest{KeyID: root.ID, GUN: GUN})
		must(t, err)
		cert, err := x509.ParseCertificate(der)
		must(t, err)
		if cert.Subject.CommonName != GUN {
			t.Fatalf("CN = %q", cert.Subject.CommonName)
		}
		if err := cert.CheckSignature(cert.SignatureAlgorithm, cert.RawTBSCertificate, cert.Signature); err != nil {
			t.Fatalf("certificate is not self-signed by the root key: %v", err)
		}
		again, err := a.CertifyRoot(ctx, agent.CertifyRequest{KeyID: root.ID, GUN: GUN})
		must(t, err)
		if string(again) != string(der) {
			t.Fatal("a second CertifyRoot made a new certificate instead of the stored one")
		}
		server, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader) // notary's snapshot and timestamp key
		must(t, err)
		serverDER, err := x509.MarshalPKIXPublicKey(&server.PublicKey)
		must(t, err)
		rootJSON := RootJSON(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), repo.PublicKey, serverDER, 1)
		_, err = a.Sign(ctx, agent.SignRequest{KeyID: root.ID, GUN: GUN, Role: "root", Data: rootJSON})
		must(t, err)
		// The root key is also found under the certificate's key ID, as
		// notary asks for it.
		keys, err := a.List(ctx)
		must(t, err)
		for _, k := range keys {
			if k.ID == root.ID && len(k.Certs) == 0 {
				t.Fatal("the certificate is not stored beside the root key")
			}
		}
		if _, err := a.CertifyRoot(ctx, agent.CertifyRequest{KeyID: deleg.ID, GUN: GUN}); !errors.Is(err, agent.ErrDenied) {
			t.Fatalf("a delegation key certified a root: %v", err)
		}
		// Root metadata handing the repository to a key the agent does not
		// hold (a certificate with the right name, from elsewhere) is refused.
		foreign, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		must(t, err)
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: GUN},
			NotBefore: time.Now(), NotAfter: time.Now().Add(time.Hour)}
		fder, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &foreign.PublicKey, foreign)
		must(t, err)
		hijack := RootJSON(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: fder}), repo.PublicKey, serverDER, 2)
		_, err = a.Sign(ctx, agent.SignRequest{KeyID: root.ID, GUN: GUN, Role: "root", Data: hijack})
		if !errors.Is(err, agent.ErrDenied) || !strings.Contains(err.Error(), "not held by this agent") {
			t.Fatalf("root signed metadata trusting a foreign key: %v", err)
		}
	})

	t.Run("CertifyKey", func(t *testing.T) {
		nk, err := a.Generate(ctx, agent.GenerateRequest{KeyMeta: agent.KeyMeta{Role: agent.RoleNotation, Name: "release"}})
		must(t, err)
		chain, err := a.CertifyKey(ctx, agent.CertifyKeyRequest{KeyID: nk.ID})
		must(t, err)
		if len(chain) != 1 {
			t.Fatalf("a self-signed chain of %d certificates", len(chain))
		}
		leaf, err := x509.ParseCertificate(chain[0])
		must(t, err)
		codeSigning := len(leaf.ExtKeyUsage) == 1 && leaf.ExtKeyUsage[0] == x509.ExtKeyUsageCodeSigning
		if !codeSigning || leaf.KeyUsage != x509.KeyUsageDigitalSignature || leaf.IsCA || leaf.CheckSignature(leaf.SignatureAlgorithm, leaf.RawTBSCertificate, leaf.Signature) != nil {
			t.Fatalf("not a self-signed code-signing leaf: EKU %v, key usage %v, CA %v", leaf.ExtKeyUsage, leaf.KeyUsage, leaf.IsCA)
		}
		if !parsePub(t, nk).(interface{ Equal(crypto.PublicKey) bool }).Equal(leaf.PublicKey) {
			t.Fatal("the certificate is for another key")
		}
		again, err := a.CertifyKey(ctx, agent.CertifyKeyRequest{KeyID: nk.ID})
		must(t, err)
		if len(again) != 1 || string(again[0]) != string(chain[0]) {
			t.Fatal("a second certify made a new certificate instead of returning the stored one")
		}
		keys, err := a.List(ctx)
		must(t, err)
		for _, k := range keys {
			if k.ID == nk.ID && (len(k.Chain) != 1 || string(k.Chain[0]) != string(chain[0])) {
				t.Fatal("List does not carry the stored chain")
			}
		}
		if _, err := a.CertifyKey(ctx, agent.CertifyKeyRequest{KeyID: deleg.ID}); !errors.Is(err, agent.ErrDenied) {
			t.Fatalf("CertifyKey of a delegation key: %v", err)
		}
	})

	t.Run("Import", func(t *testing.T) {
		priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		must(t, err)
		der, err := x509.MarshalPKCS8PrivateKey(priv)
		must(t, err)
		info, err := a.Import(ctx, agent.ImportRequest{KeyMeta: agent.KeyMeta{Role: agent.RoleDelegation, Name: "imported"}, PKCS8: der})
		if !ab.Import {
			if !errors.Is(err, agent.ErrInvalidRequest) {
				t.Fatalf("import on a backend without import: %v, want ErrInvalidRequest", err)
			}
			return
		}
		must(t, err)
		made++
		if !parsePub(t, info).(*ecdsa.PublicKey).Equal(&priv.PublicKey) {
			t.Fatal("imported key has another public key")
		}
		if _, err := a.Import(ctx, agent.ImportRequest{KeyMeta: agent.KeyMeta{Role: agent.RoleDelegation, Name: "junk"}, PKCS8: []byte("junk")}); !errors.Is(err, agent.ErrInvalidRequest) {
			t.Fatalf("junk import: %v", err)
		}
	})

	t.Run("Attest", func(t *testing.T) {
		chain, err := a.Attest(ctx, agent.AttestRequest{KeyID: deleg.ID})
		if ab.Attest {
			// The chain's leaf certifies the very key (the caller judges
			// the rest against the maker's roots).
			must(t, err)
			if len(chain) < 2 {
				t.Fatalf("attestation chain of %d certificates, want the slot's and the device's", len(chain))
			}
			leaf, err := x509.ParseCertificate(chain[0])
			must(t, err)
			der, err := x509.MarshalPKIXPublicKey(leaf.PublicKey)
			must(t, err)
			if string(der) != string(deleg.PublicKey) {
				t.Fatal("the attestation certifies another key")
			}
		} else if !errors.Is(err, agent.ErrInvalidRequest) || !strings.Contains(err.Error(), "cannot be attested") {
			// A token that cannot prove where a key was made: the agent
			// says so rather than answering with nothing.
			t.Fatalf("Attest on a backend without attestation = %v, want ErrInvalidRequest saying it cannot be attested", err)
		}
		if _, err := a.Attest(ctx, agent.AttestRequest{KeyID: strings.Repeat("cd", 32)}); !errors.Is(err, agent.ErrNotFound) {
			t.Fatalf("Attest(unknown key) = %v, want ErrNotFound", err)
		}
	})

	t.Run("Delete", func(t *testing.T) {
		// Deleting is confirmed by a person: an agent without an askpass
		// program refuses it, and a backend that cannot delete refuses it
		// first. Either way the key stays.
		err := a.Delete(ctx, agent.DeleteRequest{KeyID: deleg.ID})
		var denied *agent.DeniedError
		switch {
		case !ab.Delete && !errors.Is(err, agent.ErrInvalidRequest):
			t.Fatalf("Delete on a backend without deletion = %v, want ErrInvalidRequest", err)
		case ab.Delete && err != nil && !errors.As(err, &denied):
			t.Fatalf("Delete = %v, want success or a refusal for want of a confirmation", err)
		case ab.Delete && err == nil:
			t.Skip("the agent has an askpass program that said yes; agent's own tests cover deletion")
		}
		keys, err := a.List(ctx)
		must(t, err)
		for _, k := range keys {
			if k.ID == deleg.ID {
				return
			}
		}
		t.Fatal("a refused Delete removed the key")
	})

	t.Run("LockUnlock", func(t *testing.T) {
		must(t, a.Lock(ctx))
		st, err := a.Status(ctx)
		must(t, err)
		if !st.Locked {
			t.Fatal("Status says unlocked after Lock")
		}
		_, err = a.Sign(ctx, agent.SignRequest{KeyID: deleg.ID, GUN: GUN, Role: "targets/releases", Data: TargetsJSON()})
		if !errors.Is(err, agent.ErrLocked) {
			t.Fatalf("sign while locked: %v, want ErrLocked", err)
		}
		// A wrong PIN of the right length (a PIV PIN has 6 to 8 characters).
		wrong := []byte(cfg.PIN)
		wrong[len(wrong)-1] ^= 1
		err = a.Unlock(ctx, agent.UnlockRequest{PIN: wrong})
		var pinErr *agent.PINError
		if !errors.Is(err, agent.ErrPINIncorrect) || !errors.As(err, &pinErr) {
			t.Fatalf("wrong PIN: %v, want a PINError", err)
		}
		must(t, a.Unlock(ctx, agent.UnlockRequest{PIN: []byte(cfg.PIN)}))
		_, err = a.Sign(ctx, agent.SignRequest{KeyID: deleg.ID, GUN: GUN, Role: "targets/releases", Data: TargetsJSON()})
		must(t, err)
	})

	t.Run("Status", func(t *testing.T) {
		st, err := a.Status(ctx)
		must(t, err)
		if st.Locked || len(st.Backends) != 1 || st.Backends[0].Keys < made || !reflect.DeepEqual(st.Backends[0].Abilities, ab) {
			t.Fatalf("status %+v", st)
		}
		if st.Signatures < 4 || st.Refusals < 4 {
			t.Fatalf("counters: %d signatures, %d refusals", st.Signatures, st.Refusals)
		}
		if time.Since(st.Started) < 0 || st.PID == 0 {
			t.Fatalf("started %v, pid %d", st.Started, st.PID)
		}
	})
}

func parsePub(t *testing.T, k agent.KeyInfo) any {
	t.Helper()
	pub, err := x509.ParsePKIXPublicKey(k.PublicKey)
	must(t, err)
	return pub
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
