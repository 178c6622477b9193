package tuf_test

import (
	"fmt"
	"testing"

	"github.com/trust-agent/trust-agent/agent/agenttest"
	"github.com/trust-agent/trust-agent/format/tuf"
)

// TestConcurrentChecksReadTheirOwn: large Targets checked at once from
// several goroutines, each document released by the policy once read
// and its buffer taken by the next parse (canonjson's Object.Release):
// every check reads its own payload's names and version, never another's.
func TestConcurrentChecksReadTheirOwn(t *testing.T) {
	const workers, rounds = 6, 15
	errs := make(chan error, workers)
	for w := range workers {
		go func() {
			errs <- func() error {
				for r := range rounds {
					n := 600 + 97*w + 13*r // more than 512: a buffer of their own
					var tags []string
					for i := range n {
						tags = append(tags, fmt.Sprintf("w%d-r%02d-%06d", w, r, i))
					}
					data := agenttest.TargetsJSON(tags...)
					md, err := tuf.ReadPayload(data)
					if err != nil {
						return err
					}
					if len(md.Targets) != 257 || md.Targets[256] != fmt.Sprintf("... %d more", n-256) {
						return fmt.Errorf("worker %d round %d: %d names, last %q", w, r, len(md.Targets), md.Targets[len(md.Targets)-1])
					}
					for i, name := range md.Targets[:256] {
						if name != tags[i] {
							return fmt.Errorf("worker %d round %d: name %d is %q, want %q", w, r, i, name, tags[i])
						}
					}
				}
				return nil
			}()
		}()
	}
	for range workers {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
}
