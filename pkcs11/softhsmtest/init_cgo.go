//go:build cgo

package softhsmtest

import (
	"fmt"
	"sync"

	"github.com/miekg/pkcs11"

	"github.com/trust-agent/trust-agent/pkcs11/internal/module"
)

// initMu serialises token creation: two goroutines must not both pick the
// same free slot.
var initMu sync.Mutex

const cgoEnabled = true

// initToken initialises SoftHSM's free slot as a token named label, with
// user PIN pin, through the process-wide module context.
func initToken(modulePath, label, soPIN, pin string) (err error) {
	initMu.Lock()
	defer initMu.Unlock()

	m, err := module.Acquire(modulePath)
	if err != nil {
		return err
	}
	defer func() {
		if rerr := m.Release(); err == nil {
			err = rerr
		}
	}()
	p := m.Ctx
	slot, err := freeSlot(p)
	if err != nil {
		return err
	}
	if err := p.InitToken(slot, soPIN, label); err != nil {
		return fmt.Errorf("C_InitToken: %w", err)
	}
	sh, err := p.OpenSession(slot, pkcs11.CKF_SERIAL_SESSION|pkcs11.CKF_RW_SESSION)
	if err != nil {
		return fmt.Errorf("C_OpenSession: %w", err)
	}
	defer p.CloseSession(sh)
	if err := p.Login(sh, pkcs11.CKU_SO, soPIN); err != nil {
		return fmt.Errorf("C_Login as SO: %w", err)
	}
	defer p.Logout(sh)
	if err := p.InitPIN(sh, pin); err != nil {
		return fmt.Errorf("C_InitPIN: %w", err)
	}
	return nil
}

// freeSlot finds the slot whose token is not initialised yet. SoftHSM
// keeps exactly one; C_GetSlotList adds a new one once it is used.
func freeSlot(p *pkcs11.Ctx) (uint, error) {
	slots, err := p.GetSlotList(true)
	if err != nil {
		return 0, fmt.Errorf("C_GetSlotList: %w", err)
	}
	for _, s := range slots {
		ti, err := p.GetTokenInfo(s)
		if err != nil {
			continue
		}
		if ti.Flags&pkcs11.CKF_TOKEN_INITIALIZED == 0 {
			return s, nil
		}
	}
	return 0, fmt.Errorf("no free SoftHSM slot among %d", len(slots))
}
