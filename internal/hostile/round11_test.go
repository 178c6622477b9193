package hostile_test

import (
	"bytes"
	"crypto/x509"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/trust-agent/trust-agent/internal/hostile"
	"github.com/trust-agent/trust-agent/socket"
)

// TestVersionsInterleaved: frames of version 1 and 2 written back to back
// on one connection, before any answer (PROTOCOL.md "Versions": a
// version-1 request is answered in version 1 with code 8 and the
// connection goes on; the length field delimits every version). Each gets
// its own answer in order: the version-1 sign is not signed, not even
// when the version-2 frame after it carries the same metadata, and a
// version-2 header over a version-1 body is refused as a bulk body whose
// JSON length does not fit.
func TestVersionsInterleaved(t *testing.T) {
	_, tg := prepare(t)
	c, err := hostile.Dial(tg.Path)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	data := hostile.TargetsJSON(2, "latest")
	v1 := fmt.Appendf(nil, `{"key_id":%q,"gun":%q,"role":"targets","data":%q}`, tg.Targets.ID, tg.GUN, b64(data))
	var stream []byte
	stream = append(stream, hostile.Frame(1, hostile.TypeSign, v1)...)
	stream = append(stream, hostile.Frame(hostile.Version, hostile.TypeSign, hostile.SignBody(tg.Targets.ID, tg.GUN, "targets", data))...)
	stream = append(stream, hostile.Frame(hostile.Version, hostile.TypeSign, v1)...)
	stream = append(stream, hostile.Frame(1, hostile.TypeSign, hostile.SignBody(tg.Targets.ID, tg.GUN, "targets", data))...)
	stream = append(stream, hostile.Frame(hostile.Version, hostile.TypeStatus, nil)...)
	if err := c.Write(stream); err != nil {
		t.Fatal(err)
	}
	want := []struct {
		version, typ byte
		code         int
	}{
		{1, hostile.TypeFailure, hostile.CodeUnsupportedVersion},
		{hostile.Version, hostile.TypeSign | 0x80, 0},
		{hostile.Version, hostile.TypeFailure, hostile.CodeInvalidRequest},
		{1, hostile.TypeFailure, hostile.CodeUnsupportedVersion},
		{hostile.Version, hostile.TypeStatus | 0x80, 0},
	}
	for i, w := range want {
		rep, err := c.Recv()
		if err != nil {
			t.Fatalf("answer %d: %v", i+1, err)
		}
		if rep.Version != w.version || rep.Type != w.typ || rep.Code != w.code {
			t.Errorf("answer %d: version %d, %s; want version %d, type 0x%02x, code %d", i+1, rep.Version, rep, w.version, w.typ, w.code)
		}
	}
}

// TestBigSignStarvedByStalledFrames: how long can a process of the
// agent's user keep a legitimate big sign request (a Targets file of
// 1 MiB) from being served? Four connections that each send a 6-byte
// header announcing a 16 MiB sign frame, and nothing more, hold the whole
// 64 MiB frame budget until the frame deadline cuts them (30 s by
// default, which this agent keeps); the big sign waits BudgetWait (5 s)
// and is refused "agent busy", its connection closed. Small requests are
// served meanwhile, and the same big sign is served once the stalled
// frames are gone. As SECURITY.md "Not defended" says; what it did not say
// is that the attacker needs 24 bytes per 30 s, and that by renewing the
// stalled frames (and keeping frames queued for the budget ahead of the
// victim: the queue is first come, first served) it keeps every body over
// 64 KiB refused for as long as it runs.
func TestBigSignStarvedByStalledFrames(t *testing.T) {
	e := startAgentWith(t, func(log *slog.Logger) socket.ServeOptions {
		return socket.ServeOptions{Logger: log} // the defaults: 30 s frame deadline, 64 MiB budget, 5 s wait
	})
	tg, err := hostile.Prepare(e.path, testGUN, otherGUN)
	if err != nil {
		t.Fatal(err)
	}
	names := make([]string, 20000)
	for i := range names {
		names[i] = fmt.Sprintf("t%06d", i)
	}
	big := hostile.SignBody(tg.Targets.ID, tg.GUN, "targets", hostile.TargetsJSON(2, names...))
	if len(big) < 1<<20 {
		t.Fatalf("the big sign request has %d bytes, want 1 MiB", len(big))
	}
	stalled, err := hostile.Stall(e.path, 4, hostile.MaxFrameBytes, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer hostile.CloseAll(stalled)
	// The stalled frames may reach their budget after the big one asks
	// for it; then the big one is served, and the stalled frames take the
	// budget when it is done. The third try at the latest is refused.
	var r hostile.Result
	for range 3 {
		if r = sendBig(e.path, big); !r.Accepted {
			break
		}
	}
	if r.Accepted || r.Err != nil || r.Reply.Code != hostile.CodeInvalidRequest || !strings.Contains(r.Reply.Message, "agent busy") {
		t.Fatalf("a 1 MiB sign with the budget held by 4 stalled headers: %s, want code 7 agent busy", r)
	}
	t.Logf("held by 4 stalled 6-byte headers: %s", r)
	small := hostile.SignBody(tg.Targets.ID, tg.GUN, "targets", hostile.TargetsJSON(2, "latest"))
	if r := hostile.Send(e.path, hostile.TypeSign, small); !r.Accepted {
		t.Fatalf("a small sign while the budget is held: %s", r)
	}
	hostile.CloseAll(stalled)
	// The budget comes back when the agent sees the stalled connections
	// close; a try that still finds it spent waits up to 5 s for it.
	for i := range 3 {
		if r = sendBig(e.path, big); r.Accepted {
			break
		}
		t.Logf("try %d after the stalled frames closed: %s", i+1, r)
	}
	if !r.Accepted {
		t.Fatalf("the 1 MiB sign after the stalled frames closed: %s", r)
	}
}

// sendBig sends a sign request whose body the agent may refuse before
// reading it (agent busy): it writes while it reads the answer, so the
// refusal is read even when the agent closes the connection under the
// write.
func sendBig(path string, body []byte) hostile.Result {
	c, err := hostile.Dial(path)
	if err != nil {
		return hostile.Result{Err: err}
	}
	defer c.Close()
	go c.Send(hostile.TypeSign, body) // a write cut by the agent's close is expected
	rep, err := c.Recv()
	if err != nil {
		return hostile.Result{Err: err}
	}
	return hostile.Result{Accepted: rep.OK(hostile.TypeSign), Reply: rep}
}

// TestCertifyKeyStrangerChainReplaces backs certify-key/stranger-chain's
// Open note: after the key's own self-signed certificate is made, a chain
// a stranger's CA issued for the key's public key (100 years) replaces it
// unconfirmed, and the agent hands it out as the key's from then on.
func TestCertifyKeyStrangerChainReplaces(t *testing.T) {
	_, tg := prepare(t)
	c, err := hostile.Dial(tg.Path)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var own struct{ Chain [][]byte }
	if err := c.DoJSON(hostile.TypeCertifyKey, map[string]string{"key_id": tg.Notation.ID}, &own); err != nil || len(own.Chain) != 1 {
		t.Fatalf("the key's own certificate: %v (%d certificates)", err, len(own.Chain))
	}
	a, ok := hostile.AttackNamed("certify-key/stranger-chain")
	if !ok {
		t.Fatal("no attack certify-key/stranger-chain")
	}
	if r := a.Run(tg); !r.Accepted {
		t.Fatalf("the stranger's chain is refused now (%s): remove the attack's Open note and SECURITY.md's open row", r)
	}
	var keys []struct {
		ID    string   `json:"id"`
		Chain [][]byte `json:"chain"`
	}
	if err := c.DoJSON(hostile.TypeList, nil, &keys); err != nil {
		t.Fatal(err)
	}
	for _, k := range keys {
		if k.ID != tg.Notation.ID {
			continue
		}
		if len(k.Chain) != 1 || bytes.Equal(k.Chain[0], own.Chain[0]) {
			t.Fatalf("the key's chain after the attack: %d certificates, the key's own: %v", len(k.Chain), len(k.Chain) == 1)
		}
		cert, err := x509.ParseCertificate(k.Chain[0])
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("the notation key's chain is now a certificate issued by %q, valid until %s", cert.Issuer.CommonName, cert.NotAfter.Format(time.DateOnly))
		if cert.Issuer.CommonName != "a stranger" {
			t.Fatalf("the chain's leaf is issued by %q", cert.Issuer.CommonName)
		}
		return
	}
	t.Fatal("the notation key is not listed")
}

// TestEscapedQuoteKeyOrderControl is the control for
// payload/escaped-quote-key-order: the same two targets in notary's order
// (`a"b` sorts before `a#` by its decoded bytes) are signed, so that
// attack is refused for its order alone.
func TestEscapedQuoteKeyOrderControl(t *testing.T) {
	_, tg := prepare(t)
	body := hostile.SignBody(tg.Targets.ID, tg.GUN, "targets", hostile.TargetsJSON(2, `a\"b`, `a#`))
	if r := hostile.Send(tg.Path, hostile.TypeSign, body); !r.Accepted {
		t.Fatalf("targets a\"b, a# in notary's order: %s", r)
	}
}
