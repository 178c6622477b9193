// Package hostile is a hostile local client of trust-agent, written from
// docs/PROTOCOL.md alone: raw frames over the Unix socket, no import of
// package socket, no trust in anything the document does not promise.
// It carries the attacks of issue 7 as functions that return what
// happened, and the catalogue of bad inputs; the tests of this package run
// both against a real agent on a SoftHSM token and say, for each attack,
// which defence refuses it. internal/cmd/hostileclient runs the same
// attacks against a running agent.
//
// # Why a separate client
//
// A client that shares the server's decoder shares its bugs: a lenient
// decoder on both sides never sees the forms only a hostile peer sends
// (a duplicated field, "KEY_ID", base64 with newlines). Everything here is
// bytes built by hand.
//
// # Concurrency
//
// A Conn is one connection and is not safe for concurrent use; the
// package functions open their own connections and may run concurrently.
//
// # Security
//
// These are attacks. Run them only against an agent whose token holds
// nothing of value: Prepare generates keys on it, and an attack the agent
// fails to refuse leaves a signature, a key or a certificate behind.
package hostile
