package canonjson

import (
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"
)

// targets1MiB is Targets metadata of about 1 MiB as notary writes it: tags
// with a SHA-256 and a length each (about 90 bytes a tag).
func targets1MiB() []byte {
	var b strings.Builder
	b.WriteString(`{"_type":"Targets","delegations":{"keys":{},"roles":[]},"expires":"2030-01-01T00:00:00Z","targets":{`)
	for i := 0; b.Len() < 1<<20; i++ {
		if i > 0 {
			b.WriteByte(',')
		}
		sum := sha256.Sum256([]byte(fmt.Sprint(i)))
		fmt.Fprintf(&b, `"tag-%06d":{"hashes":{"sha256":"%s"},"length":%d}`, i, base64.StdEncoding.EncodeToString(sum[:]), 1000+i)
	}
	b.WriteString(`},"version":2}`)
	return []byte(b.String())
}

// targetsP6 is BenchmarkP6's 1 MiB payload (agenttest.TargetsJSON):
// about 18,400 tags, each with an 8-character hash and a length of 1.
func targetsP6() []byte {
	var b strings.Builder
	b.WriteString(`{"_type":"Targets","delegations":{"keys":{},"roles":[]},"expires":"2030-01-01T00:00:00Z","targets":{`)
	for i := 0; b.Len() < 1<<20; i++ {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `"tag-%06d":{"hashes":{"sha256":"3q2+7w=="},"length":1}`, i)
	}
	b.WriteString(`},"version":2}`)
	return []byte(b.String())
}

// BenchmarkParseP6 parses BenchmarkP6's 1 MiB payload.
func BenchmarkParseP6(b *testing.B) { benchmarkParse(b, targetsP6(), true) }

// BenchmarkParseP6Release parses it as the TUF policy does: each
// document released (Object.Release) once read, so the next parse takes
// its buffer instead of allocating one.
func BenchmarkParseP6Release(b *testing.B) {
	data := targetsP6()
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	cpu0 := cpuTime()
	for b.Loop() {
		o, err := Parse(data)
		if err != nil {
			b.Fatal(err)
		}
		o.Release()
	}
	b.ReportMetric(float64((cpuTime()-cpu0).Nanoseconds())/float64(b.N), "cpu-ns/op")
}

// BenchmarkParseP6Generic parses it without the fast path for file
// metadata (fast.go): the two, run alternately, say what it saves.
func BenchmarkParseP6Generic(b *testing.B) { benchmarkParse(b, targetsP6(), false) }

// BenchmarkParse parses and checks 1 MiB of Targets metadata. Besides
// the wall time it reports the process's CPU time per parse (the garbage
// collector's included), which other processes on a busy machine disturb
// less.
func BenchmarkParse(b *testing.B) { benchmarkParse(b, targets1MiB(), true) }

func benchmarkParse(b *testing.B, data []byte, fast bool) {
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	cpu0 := cpuTime()
	for b.Loop() {
		if _, err := parse(data, fast); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64((cpuTime()-cpu0).Nanoseconds())/float64(b.N), "cpu-ns/op")
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
