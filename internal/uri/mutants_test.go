package uri

import (
	"strings"
	"testing"
)

// Tests that tell a planted bug from the fix (scripts/mutants.sh;
// SECURITY.md, "Planted bugs"): each failed on one mutation that the rest
// of the package's tests let through.

// TestModulePathRelativeRefused: a relative module-path is refused even
// when it names a regular file in the working directory: dlopen would
// otherwise load what the directory holds (E2).
func TestModulePathRelativeRefused(t *testing.T) {
	for _, p := range []string{"uri.go", "./uri.go"} { // both exist here
		_, err := Parse("pkcs11:token=t?module-path=" + p)
		if err == nil || !strings.Contains(err.Error(), "absolute path") {
			t.Errorf("module-path=%s: %v, want a refusal naming an absolute path", p, err)
		}
	}
}

// TestParseErrorHidesQuery: a URI that fails to parse is quoted without
// its query, which may hold a pin-value (E9).
func TestParseErrorHidesQuery(t *testing.T) {
	_, err := Parse("pkcs12:token=t?pin-value=s3cr3t-PIN")
	if err == nil || strings.Contains(err.Error(), "s3cr3t") {
		t.Fatalf("Parse = %v; want a refusal that does not repeat the query", err)
	}
}

// TestQueryAttributeTwiceRefused: pin-source twice is ambiguous (which PIN
// is presented depends on the parser), so it is refused (E10).
func TestQueryAttributeTwiceRefused(t *testing.T) {
	_, err := Parse("pkcs11:token=t?pin-source=/a&pin-source=/b")
	if err == nil || !strings.Contains(err.Error(), "appears twice") {
		t.Fatalf("Parse = %v; want a refusal: appears twice", err)
	}
}
