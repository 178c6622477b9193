package hostile_test

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/theupdateframework/notary/tuf/utils"

	"github.com/trust-agent/trust-agent/internal/trust"
	"github.com/trust-agent/trust-agent/internal/uri"
)

// TestCatalogueFiles is the files part of the catalogue: bad key files
// (trust.ParseKeyFile, what `key load` reads), bad PIN files (the
// pin-source a URI names) and bad PKCS#11 URIs (uri.Parse), each with its
// exact error in testdata/catalogue-files.golden. None may be accepted.
func TestCatalogueFiles(t *testing.T) {
	dir := t.TempDir()
	ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	p8, _ := x509.MarshalPKCS8PrivateKey(ec)
	sec1, _ := x509.MarshalECPrivateKey(ec)
	tufEC, _ := utils.ECDSAToPrivateKey(ec)
	enc, err := utils.ConvertPrivateKeyToPKCS8(tufEC, "targets", "example.com/app", "s3cret")
	if err != nil {
		t.Fatal(err)
	}
	legacy, err := x509.EncryptPEMBlock(rand.Reader, "EC PRIVATE KEY", sec1, []byte("s3cret"), x509.PEMCipherAES256)
	if err != nil {
		t.Fatal(err)
	}
	unknownDEK := *legacy
	unknownDEK.Headers = map[string]string{"Proc-Type": "4,ENCRYPTED", "DEK-Info": "CHACHA-99,00112233445566778899AABBCCDDEEFF"}
	// The AES-256-CBC OID (2.16.840.1.101.3.4.1.42) in the PBES2
	// parameters changed to an unknown one (…1.99).
	encBlock, _ := pem.Decode(enc)
	unknownCipher := *encBlock
	unknownCipher.Bytes = bytes.Replace(encBlock.Bytes, []byte{0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x01, 0x2a}, []byte{0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x01, 0x63}, 1)
	// The file FuzzParseKeyFile found: it made notary panic.
	corpus, err := os.ReadFile("../trust/testdata/fuzz/FuzzParseKeyFile/encrypted-pkcs8-short-iv")
	if err != nil {
		t.Fatal(err)
	}
	quoted := strings.Split(string(corpus), "\n")[1]
	shortIV, err := strconv.Unquote(strings.TrimSuffix(strings.TrimPrefix(quoted, "[]byte("), ")"))
	if err != nil {
		t.Fatal(err)
	}
	_, edPriv, _ := ed25519.GenerateKey(rand.Reader)
	edDER, _ := x509.MarshalPKCS8PrivateKey(edPriv)
	pubDER, _ := x509.MarshalPKIXPublicKey(&ec.PublicKey)
	pemOf := func(typ string, b []byte) []byte { return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: b}) }
	good := pemOf("PRIVATE KEY", p8)
	pass := func(string) ([]byte, error) { return []byte("s3cret"), nil }
	wrong := func(string) ([]byte, error) { return []byte("guess"), nil }
	noTTY := func(string) ([]byte, error) { return nil, errors.New("trust: no terminal to ask for the passphrase") }
	keyFile := func(b []byte, p func(string) ([]byte, error)) func() error {
		return func() error { _, err := trust.ParseKeyFile(b, p); return err }
	}

	pinFile := func(name, content string, mode os.FileMode) func() error {
		return func() error {
			path := filepath.Join(dir, name)
			if content != "\x00dir" {
				if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
					return err
				}
				if err := os.Chmod(path, mode); err != nil {
					return err
				}
			} else if err := os.Mkdir(path, mode); err != nil {
				return err
			}
			_, err := uri.URI{PINSource: path}.ReadPIN()
			return err
		}
	}
	parse := func(s string) func() error { return func() error { _, err := uri.Parse(s); return err } }

	cases := []struct {
		name string
		run  func() error
	}{
		{"key/empty", keyFile(nil, pass)},
		{"key/not-pem", keyFile([]byte("hello"), pass)},
		{"key/certificate", keyFile(pemOf("CERTIFICATE", []byte{0x30, 0x03, 0x02, 0x01, 0x01}), pass)},
		{"key/public-key", keyFile(pemOf("PUBLIC KEY", pubDER), pass)},
		{"key/pkcs8-garbage", keyFile(pemOf("PRIVATE KEY", []byte("garbage")), pass)},
		{"key/pkcs8-empty", keyFile(pemOf("PRIVATE KEY", nil), pass)},
		{"key/sec1-garbage", keyFile(pemOf("EC PRIVATE KEY", []byte("garbage")), pass)},
		{"key/pkcs1-garbage", keyFile(pemOf("RSA PRIVATE KEY", []byte("garbage")), pass)},
		{"key/pkcs8-truncated-der", keyFile(pemOf("PRIVATE KEY", p8[:len(p8)-8]), pass)},
		{"key/pkcs8-no-end-line", keyFile(good[:len(good)-26], pass)},
		{"key/pkcs8-half", keyFile(good[:len(good)/2], pass)},
		{"key/ed25519", keyFile(pemOf("PRIVATE KEY", edDER), pass)},
		{"key/encrypted-wrong-passphrase", keyFile(enc, wrong)},
		{"key/encrypted-no-terminal", keyFile(enc, noTTY)},
		{"key/encrypted-unknown-cipher", keyFile(pem.EncodeToMemory(&unknownCipher), pass)},
		{"key/encrypted-short-iv", keyFile([]byte(shortIV), pass)},
		{"key/encrypted-truncated", keyFile(pemOf("ENCRYPTED PRIVATE KEY", encBlock.Bytes[:len(encBlock.Bytes)-20]), pass)},
		{"key/legacy-wrong-passphrase", keyFile(pem.EncodeToMemory(legacy), wrong)},
		{"key/legacy-unknown-cipher", keyFile(pem.EncodeToMemory(&unknownDEK), pass)},

		{"pin-file/group-readable", pinFile("pin-0640", "1234\n", 0o640)},
		{"pin-file/world-readable", pinFile("pin-0604", "1234\n", 0o604)},
		{"pin-file/group-writable", pinFile("pin-0620", "1234\n", 0o620)},
		{"pin-file/empty", pinFile("pin-empty", "", 0o600)},
		{"pin-file/newline-only", pinFile("pin-newline", "\n", 0o600)},
		{"pin-file/too-long", pinFile("pin-long", strings.Repeat("1", 2048), 0o600)},
		{"pin-file/directory", pinFile("pin-dir", "\x00dir", 0o700)},
		{"pin-file/missing", func() error { _, err := (uri.URI{PINSource: filepath.Join(dir, "missing")}).ReadPIN(); return err }},

		{"uri/no-scheme", parse("token=dct")},
		{"uri/no-scheme-with-pin-value", parse("token=dct?pin-value=123456")},
		{"uri/upper-case-scheme", parse("PKCS11:token=dct")},
		{"uri/pin-value", parse("pkcs11:token=dct?pin-value=1234")},
		{"uri/module-name", parse("pkcs11:token=dct?module-name=softhsm2")},
		{"uri/module-path-relative", parse("pkcs11:token=dct?module-path=libsofthsm2.so")},
		{"uri/module-path-missing", parse("pkcs11:token=dct?module-path=/nonexistent/lib.so")},
		{"uri/module-path-directory", parse("pkcs11:token=dct?module-path=/")},
		{"uri/pin-source-relative", parse("pkcs11:token=dct?pin-source=file:pin")},
		{"uri/pin-source-other-host", parse("pkcs11:token=dct?pin-source=file://host/pin")},
		{"uri/pin-source-command", parse("pkcs11:token=dct?pin-source=|cat%20/etc/pin")},
		{"uri/repeated-path-attribute", parse("pkcs11:token=a;token=b")},
		{"uri/repeated-query-attribute", parse("pkcs11:token=a?pin-source=/a&pin-source=/b")},
		{"uri/unknown-path-attribute", parse("pkcs11:tokne=dct")},
		{"uri/unknown-query-attribute", parse("pkcs11:token=dct?debug=1")},
		{"uri/slot-id", parse("pkcs11:slot-id=0")},
		{"uri/attribute-without-value", parse("pkcs11:token")},
		{"uri/bad-percent-escape", parse("pkcs11:id=%g1")},
		{"uri/truncated-percent-escape", parse("pkcs11:id=%0")},
		{"uri/unknown-type", parse("pkcs11:type=secret")},
	}
	var out []string
	for _, c := range cases {
		err := c.run()
		if err == nil {
			t.Errorf("%s was accepted", c.name)
			out = append(out, c.name+": ACCEPTED")
			continue
		}
		out = append(out, c.name+": "+strings.ReplaceAll(err.Error(), dir, "<dir>"))
	}
	checkGolden(t, "catalogue-files.golden", out)
}
