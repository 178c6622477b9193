package tuf

import (
	"bytes"
	"runtime"
	"strings"
	"testing"
)

// TestCheckBesideHashPanics: a panic in the check (a parser bug a crafted
// payload finds) reaches Check's caller on its own goroutine, as it did
// when the check ran there, so a recover above Check sees it and the
// stack names where it was; it does not kill the process from a goroutine
// nothing can recover on.
func TestCheckBesideHashPanics(t *testing.T) {
	payload := bytes.Repeat([]byte("a"), 8*digestChunk)
	var got any
	func() {
		defer func() { got = recover() }()
		checkBesideHash(payload, func() error { panic("canonjson: a crafted payload's bug") })
	}()
	s, _ := got.(string)
	if !strings.Contains(s, "canonjson: a crafted payload's bug") || !strings.Contains(s, "TestCheckBesideHashPanics") {
		t.Fatalf("Check's caller recovered %#v; want the check's panic with the check's stack", got)
	}
}

// TestCheckBesideHashGoexit: a check that ends its goroutine without an
// answer (runtime.Goexit) is not taken for a check that said yes.
func TestCheckBesideHashGoexit(t *testing.T) {
	payload := bytes.Repeat([]byte("a"), 8*digestChunk)
	var got any
	func() {
		defer func() { got = recover() }()
		digest, err := checkBesideHash(payload, func() error { runtime.Goexit(); return nil })
		t.Errorf("Check returned digest %x, error %v after its check gave no answer", digest, err)
	}()
	if s, _ := got.(string); !strings.Contains(s, "without an answer") {
		t.Fatalf("Check's caller recovered %#v; want a panic saying the check gave no answer", got)
	}
}
