package uri

import (
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// fakeModule makes a regular file to stand in for a module: Parse only
// checks that module-path is one.
func fakeModule(t *testing.T) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "module.so")
	if err := os.WriteFile(p, []byte("not really"), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestParse(t *testing.T) {
	mod := fakeModule(t)
	dir := t.TempDir()
	tests := []struct {
		name string
		in   string
		want URI
	}{
		{"empty path", "pkcs11:", URI{}},
		{"token", "pkcs11:token=dct", URI{Token: "dct"}},
		{"all path attributes",
			"pkcs11:token=My%20Token;serial=0123abc;manufacturer=SoftHSM%20project;model=SoftHSM%20v2;id=%01%02%ff;object=dct:root::;type=private",
			URI{Token: "My Token", Serial: "0123abc", Manufacturer: "SoftHSM project", Model: "SoftHSM v2",
				ID: []byte{1, 2, 0xff}, Object: "dct:root::", Type: "private"}},
		{"plus is not a space", "pkcs11:token=a+b", URI{Token: "a+b"}},
		{"encoded separators", "pkcs11:object=a%3Bb%2Fc%3Fd", URI{Object: "a;b/c?d"}},
		{"id as plain characters", "pkcs11:id=AB", URI{ID: []byte("AB")}},
		{"trailing semicolon", "pkcs11:token=t;", URI{Token: "t"}},
		{"module path", "pkcs11:token=t?module-path=" + mod, URI{Token: "t", ModulePath: mod}},
		{"pin-source file:", "pkcs11:token=t?pin-source=file:" + dir + "/pin", URI{Token: "t", PINSource: dir + "/pin"}},
		{"pin-source file:///", "pkcs11:token=t?pin-source=file://" + dir + "/pin", URI{Token: "t", PINSource: dir + "/pin"}},
		{"pin-source bare path", "pkcs11:token=t?pin-source=" + dir + "/pin", URI{Token: "t", PINSource: dir + "/pin"}},
		{"both query attributes", "pkcs11:token=t?module-path=" + mod + "&pin-source=file:/run/pin",
			URI{Token: "t", ModulePath: mod, PINSource: "/run/pin"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Parse(tt.in)
			if err != nil {
				t.Fatalf("Parse(%q): %v", tt.in, err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Parse(%q) = %+v, want %+v", tt.in, got, tt.want)
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	mod := fakeModule(t)
	tests := []struct {
		name     string
		in       string
		contains []string
	}{
		{"scheme", "pkcs12:token=t", []string{"does not start with"}},
		{"pin-value refused", "pkcs11:token=t?pin-value=1234",
			[]string{"pin-value is refused", "visible to every user", "pin-source=file:"}},
		{"pin-value with module", "pkcs11:token=t?module-path=" + mod + "&pin-value=1234", []string{"pin-value is refused"}},
		{"relative module path", "pkcs11:token=t?module-path=libsofthsm2.so", []string{"module-path", "absolute path to a regular file"}},
		{"missing module", "pkcs11:token=t?module-path=/nonexistent/module.so", []string{"absolute path to a regular file", "no such file"}},
		{"module is a directory", "pkcs11:token=t?module-path=" + filepath.Dir(mod), []string{"absolute path to a regular file", "not d"}},
		{"module-name refused", "pkcs11:token=t?module-name=softhsm2", []string{"module-name is refused"}},
		{"relative pin-source", "pkcs11:token=t?pin-source=file:pin.txt", []string{"pin-source", "absolute"}},
		{"pin-source command", "pkcs11:token=t?pin-source=|cat /pin", []string{"pin-source", "absolute"}},
		{"pin-source other host", "pkcs11:token=t?pin-source=file://host/pin", []string{"another host"}},
		{"bad percent", "pkcs11:token=a%4", []string{"malformed percent-encoding"}},
		{"bad percent hex", "pkcs11:id=%zz", []string{"malformed percent-encoding"}},
		{"no equals", "pkcs11:token", []string{"no '='"}},
		{"repeated attribute", "pkcs11:token=a;token=b", []string{"appears twice"}},
		{"unknown attribute", "pkcs11:tokne=a", []string{"unsupported path attribute", "tokne"}},
		{"slot-id refused", "pkcs11:slot-id=1", []string{"slot-id is not supported"}},
		{"bad type", "pkcs11:type=key", []string{"type \"key\""}},
		{"unknown query", "pkcs11:token=t?pin=1", []string{"unsupported query attribute"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse(tt.in)
			if err == nil {
				t.Fatalf("Parse(%q) succeeded, want an error", tt.in)
			}
			msg := err.Error()
			if !strings.HasPrefix(msg, "uri: ") {
				t.Errorf("error %q lacks the uri: prefix", msg)
			}
			for _, c := range tt.contains {
				if !strings.Contains(msg, c) {
					t.Errorf("error %q does not contain %q", msg, c)
				}
			}
			if strings.Contains(msg, "1234") {
				t.Errorf("error %q echoes the PIN", msg)
			}
		})
	}
}

func TestString(t *testing.T) {
	mod := fakeModule(t)
	tests := []struct {
		name string
		in   URI
		want string
	}{
		{"location", URI{Token: "dct", ID: []byte{1, 2}, Object: "dct:root::"}, "pkcs11:token=dct;id=%01%02;object=dct:root::"},
		{"escapes separators", URI{Token: "a b;c/d?e&f"}, "pkcs11:token=a%20b%3Bc%2Fd%3Fe%26f"},
		{"gun with port", URI{Object: "dct:targets:ci:reg.example:5000/app"}, "pkcs11:object=dct:targets:ci:reg.example:5000%2Fapp"},
		{"id is always encoded", URI{ID: []byte("AB")}, "pkcs11:id=%41%42"},
		{"pin-source never shown", URI{Token: "t", PINSource: "/home/me/pin"}, "pkcs11:token=t"},
		{"module path", URI{Token: "t", ModulePath: mod}, "pkcs11:token=t?module-path=" + mod},
		{"empty", URI{}, "pkcs11:"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := tt.in.String()
			if got != tt.want {
				t.Errorf("String() = %q, want %q", got, tt.want)
			}
			back, err := Parse(got)
			if err != nil {
				t.Fatalf("Parse(String()): %v", err)
			}
			want := tt.in
			want.PINSource = ""
			if !reflect.DeepEqual(back, want) {
				t.Errorf("Parse(String()) = %+v, want %+v", back, want)
			}
		})
	}
}

func TestConfigString(t *testing.T) {
	mod := fakeModule(t)
	u := URI{Token: "t", ModulePath: mod, PINSource: "/tmp/a dir/pin&x"}
	got := u.ConfigString()
	want := "pkcs11:token=t?module-path=" + mod + "&pin-source=file:/tmp/a%20dir/pin%26x"
	if got != want {
		t.Fatalf("ConfigString() = %q, want %q", got, want)
	}
	back, err := Parse(got)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back, u) {
		t.Errorf("Parse(ConfigString()) = %+v, want %+v", back, u)
	}
	if s := (URI{Token: "t", PINSource: "/p"}).ConfigString(); s != "pkcs11:token=t?pin-source=file:/p" {
		t.Errorf("ConfigString() without module = %q", s)
	}
}

func TestReadPIN(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name    string
		content string
		want    string
		wantErr string
	}{
		{"plain", "1234", "1234", ""},
		{"one newline trimmed", "1234\n", "1234", ""},
		{"crlf trimmed", "1234\r\n", "1234", ""},
		{"only one newline trimmed", "1234\n\n", "1234\n", ""},
		{"spaces kept", " 12 34 ", " 12 34 ", ""},
		{"empty", "\n", "", "is empty"},
		{"too long", strings.Repeat("1", maxPINFileBytes+1), "", "longer than"},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := filepath.Join(dir, "pin"+string(rune('a'+i)))
			if err := os.WriteFile(p, []byte(tt.content), 0o600); err != nil {
				t.Fatal(err)
			}
			u, err := Parse("pkcs11:token=t?pin-source=file:" + p)
			if err != nil {
				t.Fatal(err)
			}
			got, err := u.ReadPIN()
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ReadPIN() error = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, []byte(tt.want)) {
				t.Errorf("ReadPIN() = %q, want %q", got, tt.want)
			}
		})
	}
	t.Run("no pin-source", func(t *testing.T) {
		pin, err := URI{Token: "t"}.ReadPIN()
		if pin != nil || err != nil {
			t.Errorf("ReadPIN() = %q, %v; want nil, nil", pin, err)
		}
	})
	t.Run("missing file", func(t *testing.T) {
		_, err := URI{PINSource: filepath.Join(dir, "nope")}.ReadPIN()
		if err == nil || !strings.HasPrefix(err.Error(), "uri: pin-source") {
			t.Errorf("ReadPIN() error = %v", err)
		}
	})
}
