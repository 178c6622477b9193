package socket

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/trust-agent/trust-agent/agent"
	"github.com/trust-agent/trust-agent/agent/agenttest"
	"github.com/trust-agent/trust-agent/pkcs11"
	"github.com/trust-agent/trust-agent/pkcs11/softhsmtest"
)

// poison is what a poisoned pool writes over every released buffer; a run
// of it in anything the agent answers or keeps is a byte read from a
// buffer after it went back to the pool.
const poison = 'X'

var poisonRun = strings.Repeat(string(poison), 8)

// pooledCase is one big request of TestPooledBufferPoisoned: sign (TUF)
// when format is "tuf", sign-payload otherwise.
type pooledCase struct {
	name    string
	format  string
	key     agent.KeyInfo
	role    string // TUF's role
	data    []byte
	refused string // "" when the agent signs it; else a part of its refusal
	fact    string // a part of its audit line that comes from data
}

// TestPooledBufferPoisoned: big sign and sign-payload bodies are read into
// pooled buffers, and the agent gets their data in place (decodeRequest).
// Here every buffer given back to the pool is filled with 'X' at once, and
// the same requests run twice, so that each reuses the buffer of one
// before: if anything (a format's policy, its parsed document, TUF's
// digest goroutine, the audit event, Decision.Facts or Metadata, an error
// message) read the body after release, or kept a slice of it, a signature
// would not verify, an accepted payload would be refused, or 'X's would
// show in a reply, an audit line or the agent's status. Every format,
// accepted and refused, through a real Keyring on SoftHSM with the audit
// log on. Run it with -race as well: the digest goroutine still reading
// when the buffer is poisoned is a data race.
func TestPooledBufferPoisoned(t *testing.T) {
	tok := softhsmtest.New(t, "13579")
	store, err := pkcs11.Open(tok.URI())
	if err != nil {
		t.Fatal(err)
	}
	auditPath := filepath.Join(t.TempDir(), "audit.log")
	af, err := agent.OpenAuditFile(auditPath)
	if err != nil {
		t.Fatal(err)
	}
	k := agent.New(agent.Options{Stores: []agent.KeyStore{store}, Audit: af})
	t.Cleanup(func() { k.Close(); af.Close() })
	ctx := context.Background()
	gen := func(m agent.KeyMeta) agent.KeyInfo {
		t.Helper()
		info, err := k.Generate(ctx, agent.GenerateRequest{KeyMeta: m})
		if err != nil {
			t.Fatal(err)
		}
		return info
	}
	tufKey := gen(agent.KeyMeta{Role: agent.RoleDelegation, Name: "releases"})
	notKey := gen(agent.KeyMeta{Role: agent.RoleNotation, Name: "notation"})
	cosKey := gen(agent.KeyMeta{Role: agent.RoleCosign, Name: "cosign", GUN: "registry.example.com/team/app"})

	tags := make([]string, 3000)
	for i := range tags {
		tags[i] = fmt.Sprintf("tag-%05d", i)
	}
	targets := agenttest.TargetsJSON(tags...)
	now := time.Now()
	cases := []pooledCase{
		{name: "tuf accepted", format: agent.TUFFormat, key: tufKey, role: "targets/releases", data: targets, fact: `"type":"Targets","version":2`},
		{name: "tuf refused after parsing", format: agent.TUFFormat, key: tufKey, role: "targets/releases",
			data: bytes.Replace(targets, []byte(`"version":2}`), []byte(`"version":0}`), 1), refused: "version", fact: `"type":"Targets"`},
		{name: "tuf refused: role", format: agent.TUFFormat, key: tufKey, role: "targets", data: targets, refused: "targets", fact: `"type":"Targets"`},
		{name: "notation accepted", format: "notation", key: notKey, data: notationJWS(t, "ES256", now), fact: `"digest":"sha256:` + strings.Repeat("ab", 32)},
		{name: "notation refused", format: "notation", key: notKey, data: notationJWS(t, "ES384", now), refused: "algorithm", fact: `"digest":"sha256:` + strings.Repeat("ab", 32)},
		{name: "cosign accepted", format: "cosign", key: cosKey, data: cosignPayload(t, "registry.example.com/team/app:v1"), fact: "registry.example.com/team/app:v1"},
		{name: "cosign refused", format: "cosign", key: cosKey, data: cosignPayload(t, "registry.example.com/team/other:v1"), refused: "signs only for", fact: "registry.example.com/team/other:v1"},
		{name: "refused before the policy: a cosign key for notation", format: "notation", key: cosKey, data: notationJWS(t, "ES256", now), refused: "signed only by keys made for them"},
	}
	for _, c := range cases {
		if len(c.data) < smallBody {
			t.Fatalf("%s: %d bytes of data, want more than %d (a pooled body)", c.name, len(c.data), smallBody)
		}
	}

	pool := &bodyPool{poison: poison, out: map[*byte]bool{}}
	path := serveWith(t, k, ServeOptions{pool: pool})
	cl := dialT(t, path)
	for round := range 2 {
		for _, c := range cases {
			sig, err := signAs(ctx, cl, c)
			where := fmt.Sprintf("round %d, %s", round, c.name)
			if c.refused != "" {
				if err == nil || !strings.Contains(err.Error(), c.refused) {
					t.Fatalf("%s: %v, want a refusal naming %q", where, err, c.refused)
				}
				if strings.Contains(err.Error(), poisonRun) {
					t.Fatalf("%s: the refusal shows a released buffer's bytes: %v", where, err)
				}
				continue
			}
			if err != nil {
				t.Fatalf("%s: %v", where, err)
			}
			verifySig(t, where, c, sig)
		}
	}
	// A refusal by the socket itself (a field it does not know): its
	// audit line and reply come from the pooled body's JSON.
	raw := rawConn(t, path)
	js := `{"key_id":"` + tufKey.ID + `","gun":"` + agenttest.GUN + `","role":"targets/releases","extra":"field"}`
	for range 2 {
		f := rawRequest(t, raw, msgSign, bulk(js, string(targets)))
		if b := failureOf(t, f); !strings.Contains(b.Message, "extra") || strings.Contains(b.Message, poisonRun) {
			t.Fatalf("unknown field in a pooled body: %q", b.Message)
		}
	}
	// The connections' last releases ran before these answers.
	if _, err := cl.Status(ctx); err != nil {
		t.Fatal(err)
	}
	if f := rawRequest(t, raw, msgStatus, ""); f.typ != msgStatus|msgSuccess {
		t.Fatalf("status: %s", f.typ)
	}
	if pool.idleBytes() == 0 {
		t.Fatal("no buffer went back to the pool: the bodies were not pooled, and nothing was poisoned")
	}

	st, err := k.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	keys, err := k.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	state, _ := json.Marshal([]any{st, keys})
	if bytes.Contains(state, []byte(poisonRun)) {
		t.Fatalf("the agent's state shows a released buffer's bytes: %s", state)
	}
	logged, err := os.ReadFile(auditPath)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(logged, []byte(poisonRun)) {
		t.Fatalf("the audit log shows a released buffer's bytes:\n%s", logged)
	}
	// Each request's line shows what came from its own data.
	for _, c := range cases {
		if c.fact != "" && bytes.Count(logged, []byte(c.fact)) < 2 {
			t.Errorf("%s: the audit log has %q fewer than twice", c.name, c.fact)
		}
	}
	if n := bytes.Count(logged, []byte(`unknown field \"extra\"`)); n < 2 {
		t.Errorf("the socket's refusals of the unknown field: %d audit lines, want 2", n)
	}
	if len(pool.out) != 0 {
		t.Errorf("%d pooled buffers still out after every request was answered", len(pool.out))
	}
}

// signAs sends c's request through the client and returns the signature.
func signAs(ctx context.Context, cl *Client, c pooledCase) ([]byte, error) {
	if c.format == agent.TUFFormat {
		s, err := cl.Sign(ctx, agent.SignRequest{KeyID: c.key.ID, GUN: agenttest.GUN, Role: c.role, Data: c.data})
		return s.Signature, err
	}
	s, err := cl.SignPayload(ctx, agent.PayloadRequest{KeyID: c.key.ID, Format: c.format, Payload: c.data})
	return s.Signature, err
}

// verifySig checks sig, ECDSA P-256 over SHA-256 of c.data: raw r||s (TUF,
// notation) or DER (cosign).
func verifySig(t *testing.T, where string, c pooledCase, sig []byte) {
	t.Helper()
	pub, err := x509.ParsePKIXPublicKey(c.key.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	ec, ok := pub.(*ecdsa.PublicKey)
	if !ok {
		t.Fatalf("%s: a %T key", where, pub)
	}
	d := sha256.Sum256(c.data)
	var good bool
	if len(sig) == 64 {
		good = ecdsa.Verify(ec, d[:], new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:]))
	} else {
		good = ecdsa.VerifyASN1(ec, d[:], sig)
	}
	if !good {
		t.Fatalf("%s: the signature does not verify over the data sent: the agent signed other bytes", where)
	}
}

// notationJWS is a JWS signing input as notation sends it, whose Notary
// payload carries annotations enough to pass smallBody.
func notationJWS(t *testing.T, alg string, now time.Time) []byte {
	t.Helper()
	hdr, err := json.Marshal(map[string]any{
		"alg": alg, "cty": "application/vnd.cncf.notary.payload.v1+json", "crit": []string{"io.cncf.notary.signingScheme"},
		"io.cncf.notary.signingScheme": "notary.x509", "io.cncf.notary.signingTime": now.UTC().Format(time.RFC3339),
	})
	if err != nil {
		t.Fatal(err)
	}
	ann := map[string]string{}
	for i := range 60 {
		ann[fmt.Sprintf("pad%02d", i)] = strings.Repeat("a", 1000)
	}
	body, err := json.Marshal(map[string]any{"targetArtifact": map[string]any{
		"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": "sha256:" + strings.Repeat("ab", 32), "size": 528, "annotations": ann}})
	if err != nil {
		t.Fatal(err)
	}
	return []byte(base64.RawURLEncoding.EncodeToString(hdr) + "." + base64.RawURLEncoding.EncodeToString(body))
}

// cosignPayload is a simple-signing payload for ref padded to cosign's
// largest (64 KiB), whose request body is then over smallBody.
func cosignPayload(t *testing.T, ref string) []byte {
	t.Helper()
	mk := func(pad int) []byte {
		return []byte(`{"critical":{"identity":{"docker-reference":"` + ref + `"},"image":{"docker-manifest-digest":"sha256:` +
			strings.Repeat("cd", 32) + `"},"type":"cosign container image signature"},"optional":{"pad":"` + strings.Repeat("a", pad) + `"}}`)
	}
	return mk(64<<10 - len(mk(0)))
}

// TestPooledBuffersConcurrent: connections signing big payloads at once
// each get a buffer of their own (the pool panics on a buffer handed out
// twice; the race detector sees two requests sharing one), and each
// signature is over its own connection's data, which differs in every
// byte from the others'.
func TestPooledBuffersConcurrent(t *testing.T) {
	pool := &bodyPool{poison: poison, out: map[*byte]bool{}}
	path := serveWith(t, new(fakeAgent), ServeOptions{pool: pool})
	const conns, rounds = 6, 20
	var wg sync.WaitGroup
	errs := make(chan error, conns)
	for i := range conns {
		cl := dialT(t, path)
		wg.Go(func() {
			for r := range rounds {
				// Two size classes, so buffers also move between sizes.
				size := 200<<10 + (r%2)*300<<10
				data := bytes.Repeat([]byte{byte('a' + i)}, size)
				req := agent.SignRequest{KeyID: "aa", GUN: "docker.io/library/alpine", Role: "targets", Data: data}
				sig, err := cl.Sign(context.Background(), req)
				if err != nil {
					errs <- err
					return
				}
				h := sha256.New()
				h.Write([]byte(req.KeyID + "|" + req.GUN + "|" + req.Role + "|"))
				h.Write(data)
				if !bytes.Equal(sig.Signature, h.Sum(nil)) {
					errs <- fmt.Errorf("connection %d, round %d: the agent hashed other bytes than the connection sent", i, r)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if pool.idleBytes() > maxIdleBytes {
		t.Fatalf("%d idle bytes in the pool, the bound is %d", pool.idleBytes(), maxIdleBytes)
	}
}

// The pool's bounds: a class holds at most maxIdlePerClass buffers, the
// pool at most maxIdleBuffers and maxIdleBytes, and a class's buffer fits
// every body of the class with at most 25% to spare.
func TestBodyPoolBounds(t *testing.T) {
	for _, n := range []int{smallBody + 1, 100 << 10, 1 << 20, 1<<20 + 1, 5<<20 + 3, maxFrameBytes - 2, maxFrameBytes} {
		c := bodyClass(n)
		if c < n || c > maxFrameBytes || float64(c) > 1.25*float64(n)+1 {
			t.Errorf("bodyClass(%d) = %d", n, c)
		}
	}
	p := &bodyPool{out: map[*byte]bool{}}
	var out [][]byte
	for range 5 {
		out = append(out, p.get(1<<20))
	}
	for _, b := range out {
		p.put(b)
	}
	if len(p.idle) != maxIdlePerClass {
		t.Fatalf("%d idle buffers of one class, want %d", len(p.idle), maxIdlePerClass)
	}
	out = out[:0]
	for i := range 20 {
		out = append(out, p.get(smallBody+1+i*(200<<10)))
	}
	for _, b := range out {
		p.put(b)
	}
	if len(p.idle) > maxIdleBuffers || p.idleBytes() > maxIdleBytes {
		t.Fatalf("%d idle buffers, %d bytes; the bounds are %d and %d", len(p.idle), p.idleBytes(), maxIdleBuffers, maxIdleBytes)
	}
	big := p.get(maxFrameBytes - 2)
	p.put(big)
	if p.idleBytes() > maxIdleBytes {
		t.Fatalf("%d idle bytes after a maximum frame, the bound is %d", p.idleBytes(), maxIdleBytes)
	}
	// A buffer given back twice is a bug the pool catches (tests only).
	defer func() {
		if recover() == nil {
			t.Fatal("a buffer put twice was accepted")
		}
	}()
	b := p.get(1 << 20)
	p.put(b)
	p.put(b)
}

// A pooled frame cut short gives its buffer and its budget back, and the
// next frame of its class reads into the same buffer, whole.
func TestPooledFrameCutShort(t *testing.T) {
	pool := &bodyPool{out: map[*byte]bool{}}
	budget := newByteBudget(DefaultFrameBudget)
	acquire := func(n int) (func(), error) { return budget.acquire(context.Background(), n, time.Second) }
	n := 100 << 10
	full := append(header(msgSign, n), bytes.Repeat([]byte("b"), n)...)
	if _, _, err := readFrameBudget(bytes.NewReader(full[:len(full)-1]), maxFrameBytes, acquire, pool); err == nil || !errors.Is(err, ErrMalformedFrame) {
		t.Fatalf("a frame one byte short: %v, want malformed", err)
	}
	if budget.inUse() != 0 || len(pool.out) != 0 || pool.idleBytes() != bodyClass(n) {
		t.Fatalf("after a frame cut short: budget %d, %d buffers out, %d idle bytes", budget.inUse(), len(pool.out), pool.idleBytes())
	}
	f, release, err := readFrameBudget(bytes.NewReader(full), maxFrameBytes, acquire, pool)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(f.body, full[headerBytes:]) || cap(f.body) != len(f.body) {
		t.Fatalf("body of %d bytes, capacity %d; want the %d bytes sent, capacity cut to them", len(f.body), cap(f.body), n)
	}
	if got := budget.inUse(); got != bodyClass(n) {
		t.Fatalf("budget in use %d, want the buffer's %d", got, bodyClass(n))
	}
	release()
	release() // a second call changes nothing
	if budget.inUse() != 0 || len(pool.out) != 0 || pool.idleBytes() != bodyClass(n) {
		t.Fatalf("after release: budget %d, %d buffers out, %d idle bytes", budget.inUse(), len(pool.out), pool.idleBytes())
	}
}

// Idle buffers are dropped once no big request came for a while (here
// 10 ms; poolIdleTimeout in the agent), so one big signature does not keep
// its buffer in the agent's memory for good.
func TestBodyPoolIdleExpiry(t *testing.T) {
	p := &bodyPool{keep: 10 * time.Millisecond}
	p.put(p.get(1 << 20))
	if p.idleBytes() == 0 {
		t.Fatal("the buffer was not kept")
	}
	deadline := time.Now().Add(20 * time.Second)
	for p.idleBytes() != 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if n := p.idleBytes(); n != 0 {
		t.Fatalf("%d idle bytes long after the last request", n)
	}
	// And the pool still works afterwards.
	p.put(p.get(1 << 20))
	if p.idleBytes() != bodyClass(1<<20) {
		t.Fatalf("%d idle bytes after a request, want %d", p.idleBytes(), bodyClass(1<<20))
	}
}
