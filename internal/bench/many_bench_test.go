package bench

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/trust-agent/trust-agent/internal/trust"
	"github.com/trust-agent/trust-agent/internal/trust/trusttest"
)

// manifestRegistry is a registry that holds every tag of every repository:
// HEAD of a manifest answers with a digest made from the tag. It is all
// that sign asks of a registry, and it lets P4 sign 10,000 tags without
// pushing 10,000 images.
func manifestRegistry(b *testing.B) string {
	b.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/v2/" {
			return
		}
		i := strings.LastIndex(r.URL.Path, "/manifests/")
		if i < 0 || r.Method != http.MethodHead {
			http.NotFound(w, r)
			return
		}
		sum := sha256.Sum256([]byte(r.URL.Path))
		w.Header().Set("Content-Type", "application/vnd.docker.distribution.manifest.v2+json")
		w.Header().Set("Docker-Content-Digest", "sha256:"+hex.EncodeToString(sum[:]))
		w.Header().Set("Content-Length", "1234")
	}))
	b.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}

// BenchmarkP4 signs 10, 100, 1,000 and 10,000 tags in one sign (trust.Sign
// with that many references; each tag's digest from the registry): the
// hardware signatures of the publish, counted by the agent, and the wall
// time. The headline is the most signatures any publish took.
func BenchmarkP4(b *testing.B) {
	settle(b)
	ip := startInProcess(b, false)
	n := trusttest.StartNotary(b)
	dc := trusttest.NewDockerConfig(b, n)
	opts := trust.Options{ConfigDir: dc.Dir, Server: n.URL}
	c := dial(b, ip.sock)
	reg := manifestRegistry(b)
	ctx := context.Background()
	most := uint64(0)
	var last time.Duration
	lastCount := 0
	for _, count := range []int{10, 100, 1000, 10000} {
		repo := fmt.Sprintf("%s/bench/tags%d", reg, count)
		signerRepoAs(b, c, opts, repo, fmt.Sprintf("signer%d", count))
		refs := make([]string, count)
		for i := range refs {
			refs[i] = fmt.Sprintf("%s:t%05d", repo, i)
		}
		before, err := c.Status(ctx)
		if err != nil {
			b.Fatal(err)
		}
		start := time.Now()
		if err := trust.Sign(ctx, trust.SignOptions{Options: opts, Out: io.Discard, Agent: c, Refs: refs}); err != nil {
			b.Fatalf("sign %d tags: %v", count, err)
		}
		took := time.Since(start)
		after, err := c.Status(ctx)
		if err != nil {
			b.Fatal(err)
		}
		sigs := after.Signatures - before.Signatures
		most = max(most, sigs)
		growth := ""
		if last > 0 {
			growth = fmt.Sprintf(", ×%.1f the time of %d tags for ×%d the tags", float64(took)/float64(last), lastCount, count/lastCount)
		}
		emit("P4: %d tags: %v (%.2f ms/tag), %d hardware signatures%s", count, took.Round(time.Millisecond), took.Seconds()*1000/float64(count), sigs, growth)
		last, lastCount = took, count
	}
	emit("P4 %d", most)
}
