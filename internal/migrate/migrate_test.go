package migrate_test

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	sigsig "github.com/sigstore/sigstore/pkg/signature"

	"github.com/trust-agent/trust-agent/agent"
	"github.com/trust-agent/trust-agent/format/cosign"
	_ "github.com/trust-agent/trust-agent/format/notation"
	_ "github.com/trust-agent/trust-agent/format/tuf" // the "tuf" format: Keyring.Sign signs through it
	"github.com/trust-agent/trust-agent/internal/migrate"
	"github.com/trust-agent/trust-agent/internal/trust"
	"github.com/trust-agent/trust-agent/internal/trust/trusttest"
	"github.com/trust-agent/trust-agent/pkcs11"
	"github.com/trust-agent/trust-agent/pkcs11/softhsmtest"
	"github.com/trust-agent/trust-agent/socket"
)

// startAgent serves an agent on a fresh SoftHSM token at a real socket and
// makes a certified notation key "rel-n" and a cosign key "rel-c".
func startAgent(t *testing.T) (path string, n, c agent.KeyInfo) {
	t.Helper()
	tok := softhsmtest.New(t, "1234")
	store, err := pkcs11.Open(tok.URI())
	if err != nil {
		t.Fatal(err)
	}
	keys := agent.New(agent.Options{Stores: []agent.KeyStore{store}})
	path = filepath.Join(t.TempDir(), "run", "agent.sock")
	l, err := socket.Listen(path)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- socket.Serve(ctx, l, keys, socket.ServeOptions{}) }()
	t.Cleanup(func() { cancel(); <-done; keys.Close() })
	cl, err := socket.Dial(path)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	n, err = cl.Generate(ctx, agent.GenerateRequest{KeyMeta: agent.KeyMeta{Role: agent.RoleNotation, Name: "rel-n"}})
	if err != nil {
		t.Fatal(err)
	}
	if n.Chain, err = cl.CertifyKey(ctx, agent.CertifyKeyRequest{KeyID: n.ID}); err != nil {
		t.Fatal(err)
	}
	c, err = cl.Generate(ctx, agent.GenerateRequest{KeyMeta: agent.KeyMeta{Role: agent.RoleCosign, Name: "rel-c"}})
	if err != nil {
		t.Fatal(err)
	}
	return path, n, c
}

func startRegistry(t *testing.T, referrers bool) *trusttest.Registry {
	t.Helper()
	srv := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0)), registry.WithReferrersSupport(referrers)))
	t.Cleanup(srv.Close)
	return &trusttest.Registry{Host: strings.TrimPrefix(srv.URL, "http://")}
}

// TestMigrate: a DCT-signed tag gets a notation and a cosign signature from
// the agent's keys, pushed as OCI referrers on a registry that has the API
// and by the tag schemas on one that has not, each verified back; a tag DCT
// does not trust is refused with nothing signed; a second run skips.
func TestMigrate(t *testing.T) {
	ctx := context.Background()
	sock, nkey, ckey := startAgent(t)
	notary := trusttest.StartNotary(t)
	dc := trusttest.NewDockerConfig(t, notary)
	topts := trust.Options{ConfigDir: dc.Dir, Server: notary.URL}
	for _, referrers := range []bool{true, false} {
		name := map[bool]string{true: "referrers", false: "tag-fallback"}[referrers]
		t.Run(name, func(t *testing.T) {
			reg := startRegistry(t, referrers)
			img := reg.PushRandom(t, "team/app", "v1")
			unsigned := reg.PushRandom(t, "team/app", "unsigned")
			dc.AddSigner(t, "bob", img.Repo)
			dc.SignWithNotaryCLI(t, img, "targets/releases", "targets/bob")

			var progress bytes.Buffer
			o := migrate.Options{Trust: topts, Socket: sock, NotationKey: "rel-n", CosignKey: "rel-c", Progress: &progress}
			res, err := migrate.Run(ctx, o, img.Ref, unsigned.Ref)
			if !errors.Is(err, migrate.ErrFailed) {
				t.Fatalf("Run with an unsigned tag: err %v, want ErrFailed\n%s", err, progress.String())
			}
			want := map[string]string{
				img.Ref + " notation": migrate.StatusSigned, img.Ref + " cosign": migrate.StatusSigned,
				unsigned.Ref + " notation": migrate.StatusFailed, unsigned.Ref + " cosign": migrate.StatusFailed,
			}
			checkResults(t, res, want, progress.String())
			for _, r := range res {
				if r.Ref == img.Ref && r.Digest != img.Digest {
					t.Errorf("%s %s: digest %s, want the DCT-signed %s", r.Ref, r.Format, r.Digest, img.Digest)
				}
			}
			t.Logf("progress:\n%s", progress.String())
			if got := strings.Count(progress.String(), "\n"); got != 4 {
				t.Errorf("%d progress lines, want one per tag and format:\n%s", got, progress.String())
			}

			// Where the notation signature went.
			refs := getJSON(t, "http://"+reg.Host+"/v2/team/app/referrers/"+img.Digest)
			tagIndex := getJSON(t, "http://"+reg.Host+"/v2/team/app/manifests/sha256-"+img.Hex)
			if referrers {
				if !strings.Contains(refs, "application/vnd.cncf.notary.signature") {
					t.Errorf("referrers API does not list the notation signature: %s", refs)
				}
			} else if !strings.Contains(tagIndex, "application/vnd.cncf.notary.signature") {
				t.Errorf("referrers tag sha256-%s does not list the notation signature: %s", img.Hex, tagIndex)
			}
			// nothing pushed for the refused tag
			if s := getJSON(t, "http://"+reg.Host+"/v2/team/app/manifests/sha256-"+unsigned.Hex+".sig"); s != "" {
				t.Errorf("a cosign signature was pushed for a tag DCT does not trust: %s", s)
			}
			if s := getJSON(t, "http://"+reg.Host+"/v2/team/app/referrers/"+unsigned.Digest); strings.Contains(s, "notary.signature") {
				t.Errorf("a notation signature was pushed for a tag DCT does not trust: %s", s)
			}

			// The cosign signature, verified here with sigstore's verifier
			// and the key as `key export` gives it.
			verifyCosign(t, img, ckey)

			// A second run skips what is signed.
			progress.Reset()
			res, err = migrate.Run(ctx, o, img.Ref)
			if err != nil {
				t.Fatalf("second run: %v\n%s", err, progress.String())
			}
			checkResults(t, res, map[string]string{img.Ref + " notation": migrate.StatusSkipped, img.Ref + " cosign": migrate.StatusSkipped}, progress.String())
			if !strings.Contains(progress.String(), "already signed by key "+nkey.ID[:12]) {
				t.Errorf("progress does not say the tag was skipped:\n%s", progress.String())
			}

			// Keys bound to the repository sign it too (the notation
			// payload carries io.trust-agent.repository), beside the
			// signatures already there.
			cl, err := socket.Dial(sock)
			if err != nil {
				t.Fatal(err)
			}
			defer cl.Close()
			bn, err := cl.Generate(ctx, agent.GenerateRequest{KeyMeta: agent.KeyMeta{Role: agent.RoleNotation, Name: "bound-n-" + name, GUN: img.Repo}})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := cl.CertifyKey(ctx, agent.CertifyKeyRequest{KeyID: bn.ID}); err != nil {
				t.Fatal(err)
			}
			if _, err := cl.Generate(ctx, agent.GenerateRequest{KeyMeta: agent.KeyMeta{Role: agent.RoleCosign, Name: "bound-c-" + name, GUN: img.Repo}}); err != nil {
				t.Fatal(err)
			}
			bo := o
			bo.NotationKey, bo.CosignKey = "bound-n-"+name, "bound-c-"+name
			res, err = migrate.Run(ctx, bo, img.Ref)
			if err != nil {
				t.Fatalf("bound keys: %v\n%s", err, progress.String())
			}
			checkResults(t, res, map[string]string{img.Ref + " notation": migrate.StatusSigned, img.Ref + " cosign": migrate.StatusSigned}, progress.String())
			if sig := getJSON(t, "http://"+reg.Host+"/v2/team/app/manifests/sha256-"+img.Hex+".sig"); strings.Count(sig, migrate.CosignLayerMediaType) != 2 {
				t.Errorf("the .sig image should keep the first key's signature and add the bound key's: %s", sig)
			}

			// COSE: a second tag, notation only.
			v2 := reg.PushRandom(t, "team/app", "v2")
			dc.SignWithNotaryCLI(t, v2, "targets/releases", "targets/bob")
			o.Formats, o.SignatureMediaType = []string{migrate.FormatNotation}, "application/cose"
			res, err = migrate.Run(ctx, o, v2.Ref)
			if err != nil {
				t.Fatalf("COSE run: %v", err)
			}
			checkResults(t, res, map[string]string{v2.Ref + " notation": migrate.StatusSigned}, "")
			index := getJSON(t, "http://"+reg.Host+"/v2/team/app/referrers/"+v2.Digest)
			if !referrers {
				index = getJSON(t, "http://"+reg.Host+"/v2/team/app/manifests/sha256-"+v2.Hex)
			}
			var idx struct{ Manifests []struct{ Digest string } }
			if err := json.Unmarshal([]byte(index), &idx); err != nil || len(idx.Manifests) != 1 {
				t.Fatalf("want one notation signature for %s: %s (%v)", v2.Ref, index, err)
			}
			if got := getJSON(t, "http://"+reg.Host+"/v2/team/app/manifests/"+idx.Manifests[0].Digest); !strings.Contains(got, `"mediaType":"application/cose"`) {
				t.Errorf("no COSE signature listed for %s: %s", v2.Ref, got)
			}
		})
	}
}

// TestMigrateRefusesUncertifiedKey: a notation key without a chain is
// refused before anything is signed, with the certify hint.
func TestMigrateRefusesUncertifiedKey(t *testing.T) {
	sock, _, _ := startAgent(t)
	cl, err := socket.Dial(sock)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if _, err := cl.Generate(context.Background(), agent.GenerateRequest{KeyMeta: agent.KeyMeta{Role: agent.RoleNotation, Name: "bare"}}); err != nil {
		t.Fatal(err)
	}
	_, err = migrate.Run(context.Background(), migrate.Options{Socket: sock, Key: "bare", Formats: []string{migrate.FormatNotation}}, "127.0.0.1:1/x:v1")
	if err == nil || !strings.Contains(err.Error(), "trust-agent key certify bare") {
		t.Fatalf("err = %v, want the certify hint", err)
	}
	_, err = migrate.Run(context.Background(), migrate.Options{Socket: sock, Key: "rel-n", Formats: []string{migrate.FormatCosign}}, "127.0.0.1:1/x:v1")
	if err == nil || !strings.Contains(err.Error(), "is a notation key, not a cosign key") {
		t.Fatalf("err = %v, want a wrong-role refusal", err)
	}
}

func checkResults(t *testing.T, res []migrate.Result, want map[string]string, progress string) {
	t.Helper()
	if len(res) != len(want) {
		t.Fatalf("%d results, want %d: %+v\n%s", len(res), len(want), res, progress)
	}
	for _, r := range res {
		if w := want[r.Ref+" "+r.Format]; r.Status != w {
			t.Errorf("%s %s: %s (%s), want %s\n%s", r.Ref, r.Format, r.Status, r.Error, w, progress)
		}
	}
}

func getJSON(t *testing.T, url string) string {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	req.Header.Set("Accept", "application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return ""
	}
	return string(b)
}

func verifyCosign(t *testing.T, img trusttest.Image, key agent.KeyInfo) {
	t.Helper()
	tag, err := name.NewTag(img.Repo + ":sha256-" + img.Hex + ".sig")
	if err != nil {
		t.Fatal(err)
	}
	sigImg, err := remote.Image(tag)
	if err != nil {
		t.Fatalf("no cosign signature image %s: %v", tag, err)
	}
	mf, err := sigImg.Manifest()
	if err != nil {
		t.Fatal(err)
	}
	if len(mf.Layers) != 1 || string(mf.Layers[0].MediaType) != migrate.CosignLayerMediaType {
		t.Fatalf("cosign signature layers: %+v", mf.Layers)
	}
	sig, err := base64.StdEncoding.DecodeString(mf.Layers[0].Annotations[migrate.CosignAnnotation])
	if err != nil {
		t.Fatal(err)
	}
	l, err := sigImg.LayerByDigest(mf.Layers[0].Digest)
	if err != nil {
		t.Fatal(err)
	}
	rc, err := l.Compressed()
	if err != nil {
		t.Fatal(err)
	}
	payload, _ := io.ReadAll(rc)
	rc.Close()
	var p struct {
		Critical struct {
			Identity struct {
				Ref string `json:"docker-reference"`
			} `json:"identity"`
			Image struct {
				Digest string `json:"docker-manifest-digest"`
			} `json:"image"`
			Type string `json:"type"`
		} `json:"critical"`
	}
	if err := json.Unmarshal(payload, &p); err != nil {
		t.Fatal(err)
	}
	if p.Critical.Identity.Ref != img.Repo || p.Critical.Image.Digest != img.Digest || p.Critical.Type != cosign.SignatureType {
		t.Fatalf("simple-signing payload %s, want %s@%s", payload, img.Repo, img.Digest)
	}
	pub, err := x509.ParsePKIXPublicKey(key.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	v, err := sigsig.LoadVerifier(pub, cosign.Hash(pub))
	if err != nil {
		t.Fatal(err)
	}
	if err := v.VerifySignature(bytes.NewReader(sig), bytes.NewReader(payload)); err != nil {
		t.Fatalf("sigstore does not verify the cosign signature: %v", err)
	}
	if err := v.VerifySignature(bytes.NewReader(sig), bytes.NewReader(append(payload, ' '))); err == nil {
		t.Fatal("sigstore verifies the signature over another payload")
	}
}
