package secretfile

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestRead(t *testing.T) {
	for _, tc := range []struct {
		name    string
		content string
		mode    fs.FileMode
		max     int
		want    string
		kind    Kind
		msg     string // the whole message, with DIR for the temp dir
	}{
		{name: "plain", content: "1234", mode: 0o600, max: 16, want: "1234"},
		{name: "newline", content: "1234\n", mode: 0o600, max: 16, want: "1234"},
		{name: "crlf", content: "1234\r\n", mode: 0o600, max: 16, want: "1234"},
		{name: "one newline only", content: "1234\n\n", mode: 0o600, max: 16, want: "1234\n"},
		{name: "inner newline kept", content: "12\n34", mode: 0o600, max: 16, want: "12\n34"},
		{name: "lone cr kept", content: "1234\r", mode: 0o600, max: 16, want: "1234\r"},
		{name: "owner read only", content: "1234", mode: 0o400, max: 16, want: "1234"},
		{name: "exactly max", content: "12345678", mode: 0o600, max: 8, want: "12345678"},
		{name: "over max", content: "123456789", mode: 0o600, max: 8, kind: TooLong,
			msg: "the PIN file DIR/f is longer than 8 bytes; it should hold only the PIN"},
		{name: "group readable", content: "1234", mode: 0o640, max: 16, kind: Mode,
			msg: "the PIN file DIR/f is readable or writable by group or others (mode 0640); chmod 600 DIR/f"},
		{name: "other writable", content: "1234", mode: 0o602, max: 16, kind: Mode,
			msg: "the PIN file DIR/f is readable or writable by group or others (mode 0602); chmod 600 DIR/f"},
		{name: "empty", content: "", mode: 0o600, max: 16, kind: Empty, msg: "the PIN file DIR/f is empty"},
		{name: "only newline", content: "\r\n", mode: 0o600, max: 16, kind: Empty, msg: "the PIN file DIR/f is empty"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			p := filepath.Join(dir, "f")
			if err := os.WriteFile(p, []byte(tc.content), 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(p, tc.mode); err != nil {
				t.Fatal(err)
			}
			got, err := Read(p, "PIN", tc.max)
			if tc.kind == 0 {
				if err != nil {
					t.Fatalf("Read: %v", err)
				}
				if string(got) != tc.want {
					t.Fatalf("Read = %q, want %q", got, tc.want)
				}
				return
			}
			var se *Error
			if !errors.As(err, &se) {
				t.Fatalf("Read = %q, %v; want an *Error of kind %d", got, err, tc.kind)
			}
			if se.Kind != tc.kind {
				t.Errorf("kind %d, want %d", se.Kind, tc.kind)
			}
			if want := strings.ReplaceAll(tc.msg, "DIR", dir); err.Error() != want {
				t.Errorf("error %q\nwant  %q", err, want)
			}
			if got != nil {
				t.Errorf("Read returned %q with its error", got)
			}
		})
	}
}

func TestReadMissing(t *testing.T) {
	p := filepath.Join(t.TempDir(), "absent")
	_, err := Read(p, "passphrase", 16)
	var se *Error
	if !errors.As(err, &se) || se.Kind != Open {
		t.Fatalf("err = %v, want kind Open", err)
	}
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("err %v does not wrap fs.ErrNotExist", err)
	}
	if want := "reading the passphrase file: open " + p + ": no such file or directory"; err.Error() != want {
		t.Errorf("error %q, want %q", err, want)
	}
}

func TestReadOptions(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "k")
	if err := os.WriteFile(p, []byte("KEY\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	// Check replaces the mode check, and its error comes back as is.
	refuse := errors.New("refused by check")
	var seen fs.FileInfo
	_, err := ReadOptions(p, Options{What: "key", Max: 16, Check: func(fi fs.FileInfo) error { seen = fi; return refuse }})
	if err != refuse {
		t.Fatalf("err = %v, want the Check's error", err)
	}
	if seen == nil || seen.Mode().Perm() != 0o644 {
		t.Fatalf("Check saw %v, want the opened file's info (mode 0644)", seen)
	}
	got, err := ReadOptions(p, Options{What: "key", Max: 16, Check: func(fs.FileInfo) error { return nil }})
	if err != nil || string(got) != "KEY" {
		t.Fatalf("with a passing Check: %q, %v; want \"KEY\"", got, err)
	}
	// Raw keeps the newline and allows empty; the mode check still applies.
	if err := os.Chmod(p, 0o600); err != nil {
		t.Fatal(err)
	}
	got, err = ReadOptions(p, Options{What: "key", Max: 16, Raw: true})
	if err != nil || string(got) != "KEY\n" {
		t.Fatalf("Raw: %q, %v; want \"KEY\\n\"", got, err)
	}
	if err := os.WriteFile(p, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	got, err = ReadOptions(p, Options{What: "key", Max: 16, Raw: true})
	if err != nil || len(got) != 0 {
		t.Fatalf("Raw empty: %q, %v; want empty and no error", got, err)
	}
	if err := os.Chmod(p, 0o660); err != nil {
		t.Fatal(err)
	}
	_, err = ReadOptions(p, Options{What: "key", Max: 16, Raw: true})
	var se *Error
	if !errors.As(err, &se) || se.Kind != Mode || se.Perm != 0o660 {
		t.Fatalf("Raw with mode 0660: %v; want kind Mode, perm 0660", err)
	}
}
