package main

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/trust-agent/trust-agent/internal/trust"
)

type fakeTTY struct {
	in  *strings.Reader
	out bytes.Buffer
}

func (f *fakeTTY) Read(p []byte) (int, error)  { return f.in.Read(p) }
func (f *fakeTTY) Write(p []byte) (int, error) { return f.out.Write(p) }
func (f *fakeTTY) Close() error                { return nil }

func TestConfirmer(t *testing.T) {
	saved := openTTY
	t.Cleanup(func() { openTTY = saved })

	for _, c := range []struct {
		answer string
		want   bool
	}{{"y\n", true}, {"YES\n", true}, {"n\n", false}, {"\n", false}, {"yep\n", false}} {
		tty := &fakeTTY{in: strings.NewReader(c.answer)}
		openTTY = func() (io.ReadWriteCloser, error) { return tty, nil }
		cf := &confirmer{flag: "-y"}
		if got := cf.confirm("Sure? [y/N] "); got != c.want || cf.result(nil) != nil {
			t.Errorf("answer %q: %v (%v), want %v", c.answer, got, cf.result(nil), c.want)
		}
		if tty.out.String() != "Sure? [y/N] " {
			t.Errorf("prompt written %q", tty.out.String())
		}
	}

	// No terminal: "no", and an error that says which flag skips the question.
	openTTY = func() (io.ReadWriteCloser, error) { return nil, errors.New("no such device") }
	cf := &confirmer{flag: "-f"}
	if cf.confirm("Sure? [y/N] ") {
		t.Fatal("confirmed without a terminal")
	}
	err := cf.result(nil)
	if !errors.Is(err, errNoTTY) || !strings.Contains(trust.Hint(err), "pass -f") {
		t.Fatalf("error %v, hint %q", err, trust.Hint(err))
	}
	if other := errors.New("x"); cf.result(other) != other {
		t.Fatal("result hides the command's own error")
	}
}
