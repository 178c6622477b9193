//go:build cgo

package pkcs11

import (
	"errors"
	"strings"
	"testing"

	"github.com/miekg/pkcs11"

	"github.com/trust-agent/trust-agent/agent"
	"github.com/trust-agent/trust-agent/pkcs11/softhsmtest"
)

// TestRetriesFromFlags: the tries left are what the token's flags say, and
// nothing when they say nothing about the count.
func TestRetriesFromFlags(t *testing.T) {
	for _, tt := range []struct {
		flags uint
		want  int
	}{
		{0, -1},
		{pkcs11.CKF_USER_PIN_COUNT_LOW, -1},
		{pkcs11.CKF_USER_PIN_COUNT_LOW | pkcs11.CKF_USER_PIN_FINAL_TRY, 1},
		{pkcs11.CKF_USER_PIN_FINAL_TRY, 1},
		{pkcs11.CKF_USER_PIN_LOCKED, 0},
		{pkcs11.CKF_USER_PIN_LOCKED | pkcs11.CKF_USER_PIN_FINAL_TRY, 0},
		{pkcs11.CKF_TOKEN_INITIALIZED | pkcs11.CKF_LOGIN_REQUIRED, -1},
	} {
		if got := retriesFromFlags(tt.flags); got != tt.want {
			t.Errorf("flags 0x%X: %d tries left, want %d", tt.flags, got, tt.want)
		}
	}
}

// TestWrongPINMessage: SoftHSM reports only that a wrong PIN was entered
// (CKF_USER_PIN_COUNT_LOW), so the error says that the token does not
// report the tries left, in words, never -1; the right PIN clears the flag.
func TestWrongPINMessage(t *testing.T) {
	s := openStore(t, softhsmtest.LockedToken(t, testPIN))
	err := s.Login([]byte("000000"))
	var pe *agent.PINError
	if !errors.As(err, &pe) || pe.Retries != -1 {
		t.Fatalf("wrong PIN: %v, want a PINError with unknown retries", err)
	}
	if msg := err.Error(); strings.Contains(msg, "-1") || !strings.Contains(msg, "the token does not report how many tries are left") {
		t.Errorf("message %q", msg)
	}
	ti, err := s.p.GetTokenInfo(s.slot)
	if err != nil {
		t.Fatal(err)
	}
	if ti.Flags&pkcs11.CKF_USER_PIN_COUNT_LOW == 0 {
		t.Logf("this SoftHSM does not set CKF_USER_PIN_COUNT_LOW after a wrong PIN (flags 0x%X)", ti.Flags)
	}
	if err := s.Login([]byte(testPIN)); err != nil {
		t.Fatal(err)
	}
}
