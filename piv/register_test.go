package piv

import (
	"errors"
	"testing"

	"github.com/trust-agent/trust-agent/agent"
)

func TestParseURI(t *testing.T) {
	for uri, want := range map[string]uint32{"piv:any": 0, "piv:": 0, "piv:serial=12345678": 12345678} {
		if got, err := ParseURI(uri); err != nil || got != want {
			t.Errorf("ParseURI(%q) = %d, %v; want %d", uri, got, err, want)
		}
	}
	for _, uri := range []string{"pkcs11:token=x", "piv:serial=", "piv:serial=0", "piv:serial=-1", "piv:serial=99999999999", "piv:12345", "piv:serial=1;slot=9c"} {
		if _, err := ParseURI(uri); !errors.Is(err, agent.ErrInvalidRequest) {
			t.Errorf("ParseURI(%q) = %v, want ErrInvalidRequest", uri, err)
		}
	}
}
