package backend_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/trust-agent/trust-agent/agent"
	"github.com/trust-agent/trust-agent/agent/backend"
)

var errOpened = errors.New("opened")

func init() {
	backend.Register("test", func(_ context.Context, uri string, opts backend.Options) (agent.KeyStore, error) {
		if opts.Logger == nil {
			return nil, errors.New("no logger")
		}
		return nil, errOpened // the opener saw the whole URI: see below
	})
}

func TestOpenChoosesByScheme(t *testing.T) {
	if _, err := backend.Open(context.Background(), "test:thing", backend.Options{}); !errors.Is(err, errOpened) {
		t.Fatalf("Open(test:) = %v, want the test opener's answer", err)
	}
	for _, uri := range []string{"nothing", ":x", "nosuch:x"} {
		_, err := backend.Open(context.Background(), uri, backend.Options{})
		if err == nil || !strings.HasPrefix(err.Error(), "backend: ") || !strings.Contains(err.Error(), "test:") {
			t.Errorf("Open(%q) = %v, want an error naming the known schemes", uri, err)
		}
	}
}

func TestRegisterTwicePanics(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("a second Register of a scheme did not panic")
		}
	}()
	backend.Register("test", func(context.Context, string, backend.Options) (agent.KeyStore, error) { return nil, nil })
}

func TestSchemes(t *testing.T) {
	if got := backend.Schemes(); len(got) != 1 || got[0] != "test" {
		t.Fatalf("Schemes() = %v, want [test] (this test imports no backend)", got)
	}
}
