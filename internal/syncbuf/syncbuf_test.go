package syncbuf

import (
	"fmt"
	"slices"
	"sync"
	"testing"
)

// TestBufferConcurrent: writers and a reader at once (run with -race),
// and every line arrives whole.
func TestBufferConcurrent(t *testing.T) {
	var b Buffer
	if b.Lines() != nil {
		t.Fatalf("empty buffer: lines %q", b.Lines())
	}
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 100 {
				fmt.Fprintf(&b, "writer %d line %d\n", w, i)
				_ = b.String()
			}
		}()
	}
	wg.Wait()
	lines := b.Lines()
	if len(lines) != 400 {
		t.Fatalf("%d lines, want 400", len(lines))
	}
	if !slices.Contains(lines, "writer 3 line 99") {
		t.Fatalf("a line is missing or cut: %q", lines[len(lines)-1])
	}
}
