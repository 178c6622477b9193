package tuf_test

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"sync"
	"testing"

	"github.com/trust-agent/trust-agent/agent"
	"github.com/trust-agent/trust-agent/agent/agenttest"
	"github.com/trust-agent/trust-agent/format/tuf"
)

// TestCheckDoneWithPayloadOnReturn attacks the socket's pooled body
// buffers from the policy's side: a big payload (hashed beside the check,
// digest.go) is checked, and the moment Check returns its bytes are
// overwritten, as the next request read into the same buffer would. Under
// the race detector, any goroutine of Check still reading the payload (a
// hash not stopped, a parse not waited for) is a reported race; and every
// part of the answer (the error's text, the Metadata, the Question, the
// Digest) must be what Check said of the pristine bytes, so nothing in
// it aliases the payload or a released document's buffers. Accepted and
// refused: at the first byte, in the middle of the targets (the generic
// path after a run of the fast path's entries), at the last byte, and
// after the parse (the role). Several goroutines at once, each reusing
// its own buffer, so released canonjson buffers move between them.
func TestCheckDoneWithPayloadOnReturn(t *testing.T) {
	var tags []string
	for i := range 3000 { // about 170 KB: above concurrentDigestMin
		tags = append(tags, fmt.Sprintf("tag-%06d", i))
	}
	good := agenttest.TargetsJSON(tags...)
	mid := bytes.Replace(good, []byte(`"tag-001500":{"hashes":{"sha256":"3q2+7w=="}`), []byte(`"tag-001500":{"hashes":{"sha256":"3q2+7x=="}`), 1)
	if bytes.Equal(mid, good) {
		t.Fatal("the middle entry was not corrupted")
	}
	key := agent.KeyInfo{ID: "0123456789abcdef", KeyMeta: agent.KeyMeta{Role: agent.RoleDelegation, Name: "big"}}
	cases := []struct {
		name    string
		payload []byte
		role    string
		ok      bool
	}{
		{"accepted", good, "targets/releases", true},
		{"refused at the first byte", append([]byte(" "), good...), "targets/releases", false},
		{"refused in the middle", mid, "targets/releases", false},
		{"refused at the last byte", append(bytes.Clone(good), ' '), "targets/releases", false},
		{"refused after the parse", good, "targets", false},
	}
	type answer struct {
		err, md, question string
		digest            []byte
	}
	check := func(payload []byte, role string) (agent.Decision, error) {
		return tuf.Policy{}.Check(agent.PolicyRequest{Key: key, Payload: payload, GUN: agenttest.GUN, Role: role})
	}
	read := func(d agent.Decision, err error) answer {
		var a answer
		if err != nil {
			a.err = err.Error()
		}
		if d.Metadata != nil {
			a.md = fmt.Sprintf("%+v", *d.Metadata)
		}
		a.question = d.Question
		if d.Digest != nil {
			a.digest = d.Digest
		}
		return a
	}
	for _, c := range cases {
		want := read(check(bytes.Clone(c.payload), c.role))
		if (want.err == "") != c.ok {
			t.Fatalf("%s: Check = %q", c.name, want.err)
		}
		if sum := sha256.Sum256(c.payload); c.ok != bytes.Equal(want.digest, sum[:]) {
			t.Fatalf("%s: digest %x (accepted %v), the payload's SHA-256 is %x", c.name, want.digest, c.ok, sum)
		}
		var wg sync.WaitGroup
		for w := range 4 {
			wg.Go(func() {
				buf := bytes.Clone(c.payload)
				for r := range 5 {
					d, err := check(buf, c.role)
					// The next request's bytes, where this one's were.
					for i := range buf {
						buf[i] = 'X'
					}
					// Read only now, with the payload gone.
					got := read(d, err)
					if got.err != want.err || got.md != want.md || got.question != want.question || !bytes.Equal(got.digest, want.digest) {
						t.Errorf("%s, worker %d round %d: after the payload was overwritten the answer reads\n%+v\nwant\n%+v", c.name, w, r, got, want)
						return
					}
					copy(buf, c.payload)
				}
			})
		}
		wg.Wait()
	}
}
