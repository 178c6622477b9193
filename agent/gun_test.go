package agent

import (
	"strings"
	"testing"
)

func TestValidGUN(t *testing.T) {
	for _, gun := range []string{
		"docker.io/library/alpine", "127.0.0.1:5000/team/app", "example.com/my--app", "example.com/a__b",
		"[::1]:5000/app", "Example.com/app", "localhost/a/b/c", "registry-1.example.com/x.y_z",
	} {
		if !ValidGUN(gun) {
			t.Errorf("ValidGUN(%q) = false", gun)
		}
	}
	for _, gun := range []string{
		"", "alpine", "example.com/App", "example.com/a___b", "example.com/-a", "example.com/a/", "example.com//a",
		"-bad.com/a", "example.com:port/a", "example.com/a b", strings.Repeat("a", 250) + ".com/x",
	} {
		if ValidGUN(gun) {
			t.Errorf("ValidGUN(%q) = true", gun)
		}
	}
}

func TestLabelRoundTrip(t *testing.T) {
	for _, m := range []KeyMeta{
		{Role: RoleDelegation, Name: "jeff"},
		{Role: RoleTargets, Name: "repo", GUN: "127.0.0.1:5000/team/app"},
		{Role: RoleRoot, Name: "root"},
	} {
		got, err := ParseLabel(m.Label())
		if err != nil || got != m {
			t.Fatalf("ParseLabel(%q) = %+v, %v", m.Label(), got, err)
		}
	}
	for _, bad := range []string{"", "jeff", "dct:wizard:x:", "dct:delegation:Bad Name:", "other:root:x:",
		"dct:targets:x:", "dct:delegation:x:example.com/app", "dct:root::"} {
		if _, err := ParseLabel(bad); err == nil {
			t.Errorf("ParseLabel(%q) accepted", bad)
		}
	}
}
