package tuf_test

import (
	"crypto/sha256"
	"fmt"
	"testing"

	"github.com/trust-agent/trust-agent/agent"
	"github.com/trust-agent/trust-agent/agent/agenttest"
	"github.com/trust-agent/trust-agent/format/tuf"
)

// p6Targets is BenchmarkP6's 1 MiB payload (internal/bench): about 18,400
// tags, each with an 8-character hash and a length of 1.
func p6Targets() []byte {
	var tags []string
	for i := 0; ; i++ {
		tags = append(tags, fmt.Sprintf("tag-%06d", i))
		if i%256 == 0 && len(agenttest.TargetsJSON(tags...)) >= 1<<20 {
			return agenttest.TargetsJSON(tags...)
		}
	}
}

// BenchmarkCheckP6 is the Keyring's own part of a 1 MiB sign, apart
// from the signature: Policy.Check (the parse and every check) with the
// SHA-256 on a second core beside it, until the digest is handed over.
// Compare it with BenchmarkSHA256P6, the floor it runs beside.
func BenchmarkCheckP6(b *testing.B) {
	data := p6Targets()
	req := agent.PolicyRequest{
		Key:     agent.KeyInfo{ID: "bench", KeyMeta: agent.KeyMeta{Role: agent.RoleDelegation, Name: "bench"}},
		Payload: data, GUN: agenttest.GUN, Role: "targets/releases",
	}
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		d, err := tuf.Policy{}.Check(req)
		if err != nil {
			b.Fatal(err)
		}
		if d.Digest == nil || len(d.Digest) != sha256.Size {
			b.Fatal("no digest")
		}
	}
}

// BenchmarkSHA256P6 hashes the same payload on one core: the floor
// BenchmarkCheckP6 cannot go below.
func BenchmarkSHA256P6(b *testing.B) {
	data := p6Targets()
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		sha256.Sum256(data)
	}
}
