package virtualcard

import (
	"errors"
	"fmt"
)

// Status words (ISO 7816-4 and NIST SP 800-73-4 part 2, table 6), named as
// the specification does so that each handler reads like the table.
const (
	swOK                  uint16 = 0x9000
	swMoreData            uint16 = 0x6100 // | bytes left, 00 meaning 256 or more
	swVerifyFailed        uint16 = 0x63c0 // | tries left
	swMemoryFailure       uint16 = 0x6581
	swWrongLength         uint16 = 0x6700
	swLastCommandExpected uint16 = 0x6883
	swSecurityStatus      uint16 = 0x6982
	swAuthBlocked         uint16 = 0x6983
	swConditionsNotMet    uint16 = 0x6985
	swIncorrectData       uint16 = 0x6a80
	swFileNotFound        uint16 = 0x6a82
	swNotEnoughMemory     uint16 = 0x6a84
	swIncorrectP1P2       uint16 = 0x6a86
	swRefNotFound         uint16 = 0x6a88
	swInsNotSupported     uint16 = 0x6d00
	swClaNotSupported     uint16 = 0x6e00
)

const (
	// claChaining is the ISO 7816-4 bit that marks "more command data
	// follows" (piv-go sends it for data over 255 bytes).
	claChaining = 0x10

	// maxShortResponse is the most data one short response carries; the
	// rest waits for GET RESPONSE behind 61xx.
	maxShortResponse = 256

	// maxCommandData caps the data of one command after chaining. The
	// largest legitimate input is an RSA-4096 import (about 1,300 bytes)
	// or a certificate near maxObjectSize; 16 KiB leaves room for both
	// while a runaway chain cannot grow the card without bound.
	maxCommandData = 16 << 10
)

var errShortAPDU = errors.New("virtualcard: command APDU shorter than 4 bytes")

// command is a parsed command APDU.
type command struct {
	cla, ins, p1, p2 byte
	data             []byte
	// le is the expected response length, 0 when absent. A short Le of
	// 00 means 256; clients send it but this card answers the same
	// either way, chunking at maxShortResponse.
	le int
}

// parseCommand decodes a short or extended command APDU (ISO 7816-3
// cases 1 to 4). Short is what piv-go and yubico-piv-tool send; extended
// is accepted because OpenSC may use it.
func parseCommand(b []byte) (command, error) {
	if len(b) < 4 {
		return command{}, errShortAPDU
	}
	c := command{cla: b[0], ins: b[1], p1: b[2], p2: b[3]}
	body := b[4:]
	switch {
	case len(body) == 0: // case 1
	case len(body) == 1: // case 2 short
		c.le = int(body[0])
		if c.le == 0 {
			c.le = 256
		}
	case body[0] != 0: // case 3 or 4 short
		n := int(body[0])
		if len(body) < 1+n || len(body) > 2+n {
			return command{}, fmt.Errorf("virtualcard: Lc %d does not match %d bytes of body", n, len(body))
		}
		c.data = body[1 : 1+n]
		if len(body) == 2+n {
			c.le = int(body[1+n])
			if c.le == 0 {
				c.le = 256
			}
		}
	default: // extended: 00 then a 2-byte Lc or Le
		if len(body) < 3 {
			return command{}, fmt.Errorf("virtualcard: truncated extended APDU")
		}
		n := int(body[1])<<8 | int(body[2])
		if len(body) == 3 { // case 2 extended
			c.le = n
			if c.le == 0 {
				c.le = 65536
			}
			break
		}
		if len(body) < 3+n || len(body) > 5+n {
			return command{}, fmt.Errorf("virtualcard: extended Lc %d does not match %d bytes of body", n, len(body))
		}
		c.data = body[3 : 3+n]
	}
	return c, nil
}

// response is what a handler returns: data plus a status word.
type response struct {
	data []byte
	sw   uint16
}

func success(data []byte) response { return response{data: data, sw: swOK} }
func fail(sw uint16) response      { return response{sw: sw} }

// verifyFailed is 63Cx with x = tries left, capped at 15 because only a
// nibble carries it (a YubiKey allows up to 255 retries).
func verifyFailed(left int) response {
	if left > 15 {
		left = 15
	}
	return fail(swVerifyFailed | uint16(left))
}
