// Package syncbuf is a bytes.Buffer that goroutines can share: the tests
// give one to a child process, a logger or an agent's audit writer, and
// read what it wrote while it may still be writing.
package syncbuf

import (
	"bytes"
	"strings"
	"sync"
)

// Buffer is a bytes.Buffer behind a mutex. The zero value is empty and
// ready to use.
type Buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *Buffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

// String returns what was written so far.
func (s *Buffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// Lines returns what was written so far as lines, without the last
// newline; none when nothing was.
func (s *Buffer) Lines() []string {
	text := strings.TrimSpace(s.String())
	if text == "" {
		return nil
	}
	return strings.Split(text, "\n")
}
