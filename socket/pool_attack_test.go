package socket

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/trust-agent/trust-agent/agent"
)

// TestPooledHostileMix: a hostile local process mixes, on several
// connections at once, big sign frames the server reads into pooled
// buffers and then refuses (another protocol version, a head with a
// field the agent does not know, a bulk length past the body), frames
// cut off mid-body by a hang-up, and honest big signatures, under the
// race detector with a pool that poisons every released buffer and panics
// on a buffer out twice. Every honest signature is over the bytes its
// connection sent; a refusal leaves its connection usable; and once every
// connection is done, the budget is all back, no buffer is still out, and
// the idle buffers are within their bounds.
func TestPooledHostileMix(t *testing.T) {
	pool := &bodyPool{poison: poison, out: map[*byte]bool{}}
	budget := newByteBudget(DefaultFrameBudget)
	path := serveWith(t, new(fakeAgent), ServeOptions{pool: pool, budget: budget})
	const conns, rounds = 6, 10
	var wg sync.WaitGroup
	for w := range conns {
		wg.Go(func() {
			if err := hostileConn(path, w, rounds); err != nil {
				t.Errorf("connection %d: %v", w, err)
			}
		})
	}
	wg.Wait()
	// A connection cut off mid-body is seen by its server goroutine
	// after the client's close returned.
	waitPoolBack(t, pool, budget)
	if n := pool.idleBytes(); n > maxIdleBytes {
		t.Fatalf("%d idle bytes, the bound is %d", n, maxIdleBytes)
	}
}

// hostileConn runs rounds of the mix on one connection (a new one after
// each hang-up).
func hostileConn(path string, w, rounds int) error {
	c, err := net.Dial("unix", path)
	if err != nil {
		return err
	}
	defer func() { c.Close() }()
	for r := range rounds {
		size := 100<<10 + (w*rounds+r)%3*(150<<10) // several size classes
		data := bytes.Repeat([]byte{byte('a' + w)}, size)
		head := `{"gun":"docker.io/library/alpine","key_id":"aa","role":"targets"}`
		body := []byte(bulk(head, string(data)))
		c.SetDeadline(time.Now().Add(20 * time.Second))
		switch (w + r) % 5 {
		case 0: // honest
			f, err := hostileFrame(c, Version, msgSign, body)
			if err != nil {
				return err
			}
			if f.typ != msgSign|msgSuccess {
				return fmt.Errorf("round %d: an honest sign got a %s frame: %s", r, f.typ, f.body)
			}
			h := sha256.New()
			h.Write([]byte("aa|docker.io/library/alpine|targets|"))
			h.Write(data)
			if want := fmt.Sprintf(`"sig":"%s"`, b64(h.Sum(nil))); !bytes.Contains(f.body, []byte(want)) {
				return fmt.Errorf("round %d: the signature is not over the bytes sent: %s", r, f.body)
			}
		case 1, 2, 3: // refused after the body was read into a pooled buffer
			v, b := byte(Version), body
			switch (w + r) % 5 {
			case 1:
				v = Version + 1
			case 2:
				b = []byte(bulk(`{"extra":1,"gun":"docker.io/library/alpine","key_id":"aa","role":"targets"}`, string(data)))
			case 3:
				b = binary.BigEndian.AppendUint32(nil, uint32(len(body)))
				b = append(b, body[4:]...)
			}
			f, err := hostileFrame(c, v, msgSign, b)
			if err != nil {
				return err
			}
			if f.typ != msgFailure || bytes.Contains(f.body, []byte(poisonRun)) {
				return fmt.Errorf("round %d: a refused frame got a %s frame: %.200s", r, f.typ, f.body)
			}
			if f, err := hostileFrame(c, Version, msgStatus, nil); err != nil || f.typ != msgStatus|msgSuccess {
				return fmt.Errorf("round %d: after a refusal, status = %v, %v", r, f.typ, err)
			}
		case 4: // cut off mid-body: the agent holds its buffer until it sees the hang-up
			fr := encodeFrame(frame{version: Version, typ: msgSign, body: body})
			if _, err := c.Write(fr[:len(fr)/2]); err != nil {
				return err
			}
			c.Close()
			if c, err = net.Dial("unix", path); err != nil {
				return err
			}
		}
	}
	return nil
}

// hostileFrame writes one frame and reads the answer.
func hostileFrame(c net.Conn, version byte, typ msgType, body []byte) (frame, error) {
	fr := encodeFrame(frame{version: Version, typ: typ, body: body})
	fr[4] = version
	if _, err := c.Write(fr); err != nil {
		return frame{}, err
	}
	return readFrame(c, maxFrameBytes)
}

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

// TestBigSignsAfterIdleClose: sign and sign-payload skip the client's
// look for a closed connection (they may be sent twice), so a big one
// on a connection the agent closed as idle is written into a dead socket:
// it must fail as a hang-up, go once more on a new connection, reach the
// agent exactly once, whole (its pooled body the bytes sent), and leave
// no pooled buffer or budget behind.
func TestBigSignsAfterIdleClose(t *testing.T) {
	fake := new(fakeAgent)
	pool := &bodyPool{poison: poison, out: map[*byte]bool{}}
	budget := newByteBudget(DefaultFrameBudget)
	path := serveWith(t, fake, ServeOptions{IdleTimeout: 200 * time.Millisecond, pool: pool, budget: budget})
	c := dialT(t, path)
	ctx := context.Background()
	for i := range 4 {
		old := waitIdleClosed(t, c)
		data := bytes.Repeat([]byte{byte('a' + i)}, 1<<20+i)
		if i%2 == 0 {
			sig, err := c.Sign(ctx, agent.SignRequest{KeyID: "aa", GUN: "g", Role: "targets", Data: data})
			h := sha256.New()
			h.Write([]byte("aa|g|targets|"))
			h.Write(data)
			if err != nil || !bytes.Equal(sig.Signature, h.Sum(nil)) {
				t.Fatalf("sign %d after the idle close: %v, or a signature over other bytes", i, err)
			}
		} else {
			sig, err := c.SignPayload(ctx, agent.PayloadRequest{KeyID: "aa", Format: "cosign", Payload: data})
			if err != nil || !bytes.Equal(sig.Signature, data) {
				t.Fatalf("sign-payload %d after the idle close: %v, or other bytes", i, err)
			}
		}
		if c.currentConn() == old {
			t.Fatalf("call %d: no new connection", i)
		}
		if n := fake.callCount(); n != i+1 {
			t.Fatalf("after call %d the agent was called %d times, want %d (each call once)", i, n, i+1)
		}
	}
	waitPoolBack(t, pool, budget)
}

// waitPoolBack waits until every pooled buffer and budget byte is back
// (a server goroutine gives them back after its reply is written, or once
// it sees its connection gone), and fails if that takes 20 s.
func waitPoolBack(t *testing.T, pool *bodyPool, budget *byteBudget) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		pool.mu.Lock()
		out := len(pool.out)
		pool.mu.Unlock()
		used := budget.inUse()
		if used == 0 && out == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("every call is done, and still %d budget bytes in use, %d pooled buffers out", used, out)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
