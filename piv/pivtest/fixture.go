package pivtest

import (
	"crypto/x509"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/trust-agent/trust-agent/piv/virtualcard"
)

// Fixture is a virtual card plugged into a vpcd reader.
type Fixture struct {
	// Card is the card itself: call its methods to inspect state
	// (Touches, Serial) or hand its options to a second card.
	Card *virtualcard.Card
	// Link is the vpcd connection.
	Link *virtualcard.Link
	// Reader is the PC/SC reader name to pass to piv.Open.
	Reader string
}

// Remove unplugs the card; Insert plugs it back in.
func (f *Fixture) Remove(t testing.TB) {
	t.Helper()
	if err := f.Link.Remove(); err != nil {
		t.Fatalf("pivtest: %v", err)
	}
}

// defaultAddrs are the two readers of /etc/reader.conf.d/vpcd and of
// with-pcscd.sh's reader.conf.
var defaultAddrs = []string{"127.0.0.1:35963", "127.0.0.1:35964"}

// vpcdBasePort is CHANNELID 0x8C7B: vpcd's reader "NAME 00 0k" listens on
// vpcdBasePort+k.
const vpcdBasePort = 0x8c7b

func addrs() []string {
	v := os.Getenv("PIVTEST_VPCD_ADDR")
	if v == "" {
		return defaultAddrs
	}
	var out []string
	for _, a := range strings.Split(v, ",") {
		if a = strings.TrimSpace(a); a != "" {
			out = append(out, a)
		}
	}
	return out
}

// readerSuffix is the end of the PC/SC reader name vpcd gives the reader
// on addr: pcscd names readers "FRIENDLYNAME 00 0k", k the vpcd slot.
func readerSuffix(addr string) (string, error) {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", err
	}
	p, err := strconv.Atoi(port)
	if err != nil || p < vpcdBasePort || p > vpcdBasePort+9 {
		return "", fmt.Errorf("port %s is not one of vpcd's default ones; set PIVTEST_READER", port)
	}
	return fmt.Sprintf(" 00 %02d", p-vpcdBasePort), nil
}

// inCI reports whether CI is set to something true-ish.
func inCI() bool {
	v := strings.ToLower(os.Getenv("CI"))
	return v != "" && v != "0" && v != "false"
}

// unavailable skips, or fails when CI is set: missing pcscd is an
// environment problem locally and a broken pipeline in CI.
func unavailable(t testing.TB, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf("pivtest: "+format, args...)
	if inCI() {
		t.Fatal(msg + " (CI is set, so this fails instead of skipping)")
	}
	t.Skip(msg + " (run under piv/scripts/with-pcscd.sh)")
}

// Roots is the pool to verify a virtual card's attestations with:
// piv.Verifier{Roots: pivtest.Roots(t)}.
func Roots(t testing.TB) *x509.CertPool {
	t.Helper()
	pool, err := virtualcard.AttestationRoots()
	if err != nil {
		t.Fatalf("pivtest: %v", err)
	}
	return pool
}
