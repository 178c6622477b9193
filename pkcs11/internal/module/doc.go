// Package module keeps one PKCS#11 context per module per process.
//
// C_Initialize may be called once per process and module: a second call
// answers CKR_CRYPTOKI_ALREADY_INITIALIZED, and C_Finalize from one user
// pulls the module out from under every other. So every user in the
// process (the pkcs11 backend and the softhsmtest helper) acquires the
// module here and releases it when done; the last release finalizes it.
//
// Built without cgo this package is empty.
package module
