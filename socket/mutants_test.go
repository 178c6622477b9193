package socket

import (
	"errors"
	"io"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/trust-agent/trust-agent/agent"
)

// Tests that tell a planted bug from the fix (scripts/mutants.sh;
// SECURITY.md, "Planted bugs"): each failed on one mutation that the rest
// of the package's tests let through.

// TestStrictSurrogatePairs: a high surrogate escape followed by an escape
// that is not a low surrogate is not UTF-8, and encoding/json would turn it
// into U+FFFD: two clients would see different strings (C18).
func TestStrictSurrogatePairs(t *testing.T) {
	for _, s := range []string{`\ud800\u0041`, `\ud800\ud800`, `\udbff\ue000`, `\ud800\u`} {
		body := `{"key_id":"aa","gun":"docker.io/a/` + s + `"}`
		err := checkStrict([]byte(body), new(agent.SignRequest), "data")
		if err == nil || !strings.Contains(err.Error(), "escape") {
			t.Errorf("checkStrict(%s) = %v, want a refusal of the escape", body, err)
		}
	}
	// A real pair is one character, and passes.
	if err := checkStrict([]byte(`{"gun":"docker.io/a/\ud83d\ude00"}`), new(agent.SignRequest), "data"); err != nil {
		t.Errorf("a surrogate pair was refused: %v", err)
	}
}

// TestStrictBase64RawLineBreak: a raw line break inside a []byte field (an
// import's pkcs8) is refused by the strict check itself, as not base64
// (base64's Strict decoder skips \r and \n) (C5).
func TestStrictBase64RawLineBreak(t *testing.T) {
	for _, data := range []string{"eyJh\nIjoxfQ==", "eyJh\rIjoxfQ==", "eyJhIjoxfQ==\n"} {
		body := `{"role":"delegation","name":"aa","pkcs8":"` + data + `"}`
		err := checkStrict([]byte(body), new(agent.ImportRequest), "")
		if err == nil || !strings.Contains(err.Error(), "not standard base64") {
			t.Errorf("checkStrict(%q) = %v, want a refusal: not standard base64", body, err)
		}
	}
}

// TestConnectionCapClosesAnIdleOne: with MaxConns connections idle, a new
// client is served and one of the idle ones is closed (C14). Which one
// depends on when each went idle, so either is accepted.
func TestConnectionCapClosesAnIdleOne(t *testing.T) {
	path := serveWith(t, new(fakeAgent), ServeOptions{MaxConns: 2})
	var idle []net.Conn
	for range 2 {
		c := rawConn(t, path)
		if f := rawRequest(t, c, msgList, ""); f.typ != msgList|msgSuccess {
			t.Fatalf("idle client's request: %s", f.typ)
		}
		idle = append(idle, c)
	}
	c := rawConn(t, path)
	if f := rawRequest(t, c, msgList, ""); f.typ != msgList|msgSuccess {
		t.Fatalf("new client beside %d idle ones: %s", len(idle), f.typ)
	}
	closed := make(chan int, len(idle))
	for i, ic := range idle {
		go func() {
			ic.SetReadDeadline(time.Now().Add(20 * time.Second))
			if _, err := io.ReadAll(ic); err == nil || !errors.Is(err, os.ErrDeadlineExceeded) {
				closed <- i
			}
		}()
	}
	select {
	case <-closed:
	case <-time.After(25 * time.Second):
		t.Fatal("no idle connection was closed for the new client: the cap is not enforced")
	}
}
