//go:build !cgo

package softhsmtest

import "errors"

// Without cgo there is no PKCS#11 at all: tests skip, even under CI.
const cgoEnabled = false

func initToken(modulePath, label, soPIN, pin string) error {
	return errors.New("this binary was built without cgo, so PKCS#11 is unavailable")
}
