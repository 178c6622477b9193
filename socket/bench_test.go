package socket

import (
	"bytes"
	"context"
	"fmt"
	"testing"

	"github.com/trust-agent/trust-agent/agent"
)

// BenchmarkSignRoundTrip measures one Sign through a real Unix socket
// (Listen, Serve, Dial) against the in-test agent, whose own work is a
// SHA-256: what remains is the cost of the wire. Compare with a direct call
// on the real agent to see what the socket adds.
func BenchmarkSignRoundTrip(b *testing.B) {
	for _, size := range []int{1 << 10, 64 << 10, 1 << 20} {
		b.Run(fmt.Sprintf("data=%dKiB", size>>10), func(b *testing.B) {
			path, _ := serveFake(b, new(fakeAgent))
			c := dialT(b, path)
			req := agent.SignRequest{KeyID: "aa", GUN: "docker.io/library/alpine", Role: "targets",
				Data: bytes.Repeat([]byte(`{"x":1}`), size/7+1)[:size]}
			ctx := context.Background()
			b.SetBytes(int64(size))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := c.Sign(ctx, req); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
