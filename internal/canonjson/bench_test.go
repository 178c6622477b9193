package canonjson

import (
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"strings"
	"testing"
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

// BenchmarkParse parses and checks 1 MiB of Targets metadata.
func BenchmarkParse(b *testing.B) {
	data := targets1MiB()
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Parse(data); err != nil {
			b.Fatal(err)
		}
	}
}
