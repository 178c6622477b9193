package hostile

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Idle opens n connections that send nothing. The caller closes them.
func Idle(path string, n int) ([]*Conn, error) {
	conns := make([]*Conn, 0, n)
	for range n {
		c, err := Dial(path)
		if err != nil {
			CloseAll(conns)
			return nil, err
		}
		conns = append(conns, c)
	}
	return conns, nil
}

// CloseAll closes every connection.
func CloseAll(conns []*Conn) {
	for _, c := range conns {
		c.Close()
	}
}

// Stall opens n connections, each announcing a frame of announce bytes
// (a sign request) and sending only send bytes of it, then nothing. The
// caller closes them.
func Stall(path string, n, announce, send int) ([]*Conn, error) {
	if announce < 2 || send > announce-2 {
		return nil, fmt.Errorf("hostile: stall: announce %d, send %d", announce, send)
	}
	hdr := make([]byte, 6)
	binary.BigEndian.PutUint32(hdr, uint32(announce))
	hdr[4], hdr[5] = Version, TypeSign
	body := make([]byte, send)
	for i := range body {
		body[i] = 'A'
	}
	if send > 0 {
		body[0] = '{'
	}
	conns := make([]*Conn, 0, n)
	for range n {
		c, err := Dial(path)
		if err == nil {
			err = c.Write(append(hdr[:6:6], body...))
		}
		if err != nil {
			CloseAll(conns)
			return nil, err
		}
		conns = append(conns, c)
	}
	return conns, nil
}

// SlowFrame sends a list request one byte per interval and reports what
// happened: the agent should cut a frame that does not arrive within its
// deadline (Accepted means it waited for the whole trickle and answered).
func SlowFrame(path string, interval time.Duration, pad int) Result {
	c, err := Dial(path)
	if err != nil {
		return Result{Err: err}
	}
	defer c.Close()
	// A lock request padded to pad bytes would be refused for its body;
	// an unknown type keeps the connection (code 9), so only the time
	// taken decides whether the agent answers.
	frame := Frame(Version, 0x7e, make([]byte, pad))
	start := time.Now()
	for i, b := range frame {
		if err := c.Write([]byte{b}); err != nil {
			return Result{Note: fmt.Sprintf("the agent closed the connection after %d of %d bytes, %s", i, len(frame), time.Since(start).Round(time.Millisecond))}
		}
		time.Sleep(interval)
	}
	rep, err := c.Recv()
	if err != nil {
		return Result{Note: fmt.Sprintf("no answer after the whole frame: %v", err)}
	}
	// The answer to the frame itself is "unknown message type"; any other
	// failure (a deadline, say) means the agent cut it.
	served := rep.Failed() && rep.Code == CodeUnknownMessageType
	return Result{Accepted: served, Reply: rep, Note: fmt.Sprintf("answered after %s of trickle", time.Since(start).Round(time.Millisecond))}
}

// GuessPINs sends one unlock request per PIN, as fast as the agent
// answers, on one connection, and returns the answers.
func GuessPINs(path, backend string, pins [][]byte) ([]Reply, error) {
	c, err := Dial(path)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	var out []Reply
	for _, pin := range pins {
		body, err := json.Marshal(map[string]any{"backend": backend, "pin": pin})
		if err != nil {
			return out, err
		}
		rep, err := c.Do(TypeUnlock, body)
		if err != nil {
			return out, err
		}
		out = append(out, rep)
	}
	return out, nil
}

// CertifyMadeUp asks for root certificates of keyID for n made-up
// repositories under prefix and returns how many the agent made.
func CertifyMadeUp(path, keyID, prefix string, n int) (made int, last Reply, err error) {
	c, err := Dial(path)
	if err != nil {
		return 0, Reply{}, err
	}
	defer c.Close()
	for i := range n {
		body, _ := json.Marshal(map[string]string{"key_id": keyID, "gun": fmt.Sprintf("%s/made-up-%d", prefix, i)})
		rep, err := c.Do(TypeCertifyRoot, body)
		if err != nil {
			return made, last, err
		}
		if rep.OK(TypeCertifyRoot) {
			made++
		} else {
			last = rep
		}
	}
	return made, last, nil
}

// BigField sends a sign request whose gun is size bytes long (the audit
// log records the gun), so the agent refuses it and logs it.
func BigField(path, keyID string, size int) Result {
	body := SignBody(keyID, strings.Repeat("g", size), "targets", TargetsJSON(2, "latest"))
	return Send(path, TypeSign, body)
}

// ErrNoAnswer means a request got no answer in time.
var ErrNoAnswer = errors.New("hostile: no answer")

// Ping sends a status request on a new connection and returns how long
// the answer took.
func Ping(path string) (time.Duration, error) {
	start := time.Now()
	r := Send(path, TypeStatus, nil)
	if r.Err != nil {
		return 0, r.Err
	}
	if !r.Accepted {
		return 0, fmt.Errorf("%w: status answered %s", ErrNoAnswer, r.Reply)
	}
	return time.Since(start), nil
}

// SlowReader sends n status requests on one connection without reading an
// answer, waits, then reads what the agent still sends. It returns how
// many answers arrived before the agent closed the connection (or went
// quiet): all n means the agent waited for the reader as long as it took,
// holding the connection and its goroutine.
func SlowReader(path string, n int, wait time.Duration) (answers int, err error) {
	c, err := Dial(path)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	reqs := make([]byte, 0, 6*n)
	for range n {
		reqs = append(reqs, Frame(Version, TypeStatus, nil)...)
	}
	wrote := make(chan error, 1)
	go func() {
		// Blocks once the agent stops reading: it is stuck writing
		// answers nobody reads.
		c.c.SetWriteDeadline(time.Now().Add(wait + replyTimeout))
		_, err := c.c.Write(reqs)
		wrote <- err
	}()
	time.Sleep(wait)
	for answers < n {
		c.c.SetReadDeadline(time.Now().Add(2 * time.Second))
		if _, err := readReply(c.c); err != nil {
			break
		}
		answers++
	}
	c.Close()
	<-wrote
	return answers, nil
}
