//go:build cgo

package pkcs11

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"sync"
	"testing"

	"github.com/trust-agent/trust-agent/agent"
	"github.com/trust-agent/trust-agent/internal/uri"
	"github.com/trust-agent/trust-agent/pkcs11/softhsmtest"
)

// TestConcurrentSign signs from many goroutines at once (run it under
// -race): more goroutines than sessions, over two keys, while Keys lists.
func TestConcurrentSign(t *testing.T) {
	s := openStore(t, softhsmtest.Token(t, testPIN))
	var keys []agent.Key
	for _, m := range []agent.KeyMeta{rootMeta, targetsMeta} {
		k, err := s.Generate(m, "", 0)
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, k)
	}
	const goroutines, each = 32, 25
	var wg sync.WaitGroup
	errs := make(chan error, goroutines+1)
	for g := 0; g < goroutines; g++ {
		wg.Go(func() {
			k := keys[g%len(keys)]
			pub := k.Public().(*ecdsa.PublicKey)
			for i := 0; i < each; i++ {
				d := sha256.Sum256(fmt.Appendf(nil, "%d/%d", g, i))
				sig, err := k.Sign(rand.Reader, d[:], crypto.SHA256)
				if err != nil {
					errs <- err
					return
				}
				if !ecdsa.VerifyASN1(pub, d[:], sig) {
					errs <- fmt.Errorf("goroutine %d: signature %d does not verify", g, i)
					return
				}
			}
		})
	}
	wg.Go(func() {
		for i := 0; i < 10; i++ {
			if ks, err := s.Keys(); err != nil || len(ks) != 2 {
				errs <- fmt.Errorf("Keys during signing: %d keys, %v", len(ks), err)
				return
			}
		}
	})
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if n := len(s.pool.idle); n > defaultSessions {
		t.Errorf("%d idle sessions, more than the pool's %d", n, defaultSessions)
	}
}

// BenchmarkSignP256 compares one session with the pool:
// go test -bench SignP256 -run '^$' ./pkcs11/
func BenchmarkSignP256(b *testing.B) {
	tok := softhsmtest.New(b, testPIN)
	u, err := uri.Parse(tok.URI())
	if err != nil {
		b.Fatal(err)
	}
	for _, sessions := range []int{1, defaultSessions} {
		b.Run(fmt.Sprintf("sessions=%d", sessions), func(b *testing.B) {
			s, err := open(u, sessions)
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			k, err := s.Generate(targetsMeta, "", 0)
			if err != nil {
				b.Fatal(err)
			}
			d := sha256.Sum256([]byte("benchmark"))
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if _, err := k.Sign(rand.Reader, d[:], crypto.SHA256); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}
