//go:build !unix

package socket

func raiseNOFILE(uint64) {}
