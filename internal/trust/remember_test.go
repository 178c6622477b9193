package trust

import (
	"testing"

	"github.com/theupdateframework/notary/storage"
)

// countingRemote is a remote store that counts the downloads of each name.
type countingRemote struct {
	storage.RemoteStore
	gets map[string]int
	ts   []byte
}

func (c *countingRemote) GetSized(name string, size int64) ([]byte, error) {
	c.gets[name]++
	return c.ts, nil
}

func (c *countingRemote) SetMulti(map[string][]byte) error {
	c.ts = []byte(`{"new":true}`)
	return nil
}

// TestRememberTimestampForgetsOnWrite: the timestamp is downloaded once per
// command, and again after a publish, which makes the server sign a new
// one: a command that publishes and then reads must not read the old one.
func TestRememberTimestampForgetsOnWrite(t *testing.T) {
	inner := &countingRemote{RemoteStore: storage.OfflineStore{}, gets: map[string]int{}, ts: []byte(`{"old":true}`)}
	r := &rememberTimestamp{RemoteStore: inner}
	for range 3 {
		if b, _ := r.GetSized("timestamp", -1); string(b) != `{"old":true}` {
			t.Fatalf("timestamp = %s", b)
		}
	}
	if n := inner.gets["timestamp"]; n != 1 {
		t.Fatalf("timestamp downloaded %d times by three updates; want 1", n)
	}
	if err := r.SetMulti(map[string][]byte{"targets": nil}); err != nil {
		t.Fatal(err)
	}
	if b, _ := r.GetSized("timestamp", -1); string(b) != `{"new":true}` {
		t.Fatalf("after a publish the timestamp is %s; want the server's new one", b)
	}
	r.GetSized("snapshot", -1)
	r.GetSized("snapshot", -1)
	if n := inner.gets["snapshot"]; n != 2 {
		t.Fatalf("snapshot downloaded %d times; only the timestamp is remembered", n)
	}
}
