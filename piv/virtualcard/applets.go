package virtualcard

import (
	"bytes"
	"encoding/binary"
)

// Instructions: NIST SP 800-73-4 part 2 section 3, and Yubico's PIV
// extensions (developers.yubico.com/PIV/Introduction/Yubico_extensions.html).
const (
	insVerify       = 0x20
	insChangeRef    = 0x24
	insResetRetry   = 0x2c
	insGenerate     = 0x47
	insGeneralAuth  = 0x87
	insSelect       = 0xa4
	insGetResponse  = 0xc0
	insGetData      = 0xcb
	insPutData      = 0xdb
	insGetMetadata  = 0xf7
	insGetSerial    = 0xf8
	insAttest       = 0xf9
	insSetRetries   = 0xfa
	insReset        = 0xfb
	insGetVersion   = 0xfd
	insImportKey    = 0xfe
	insSetMgmtKey   = 0xff
	insOTPSerial    = 0x01 // OTP applet, with P1 10
	insReadConfig   = 0x1d // management applet
	otpSerialP1     = 0x10
	selectByNameP1  = 0x04
	slotAttestation = 0xf9
)

type applet int

const (
	appletNone applet = iota
	appletPIV
	appletOTP
	appletMgmt
)

var (
	// aidPIV is the full PIV AID (PIX 0000 1000 0100); clients select
	// with a prefix, usually the 5-byte RID+PIX start A000000308.
	aidPIV = []byte{0xa0, 0x00, 0x00, 0x03, 0x08, 0x00, 0x00, 0x10, 0x00, 0x01, 0x00}
	// aidOTP is Yubico's OTP applet, which piv-go uses for the serial
	// number on firmware before 5.
	aidOTP = []byte{0xa0, 0x00, 0x00, 0x05, 0x27, 0x20, 0x01, 0x01}
	// aidMgmt is Yubico's management applet (form factor, device info).
	aidMgmt = []byte{0xa0, 0x00, 0x00, 0x05, 0x27, 0x47, 0x11, 0x17}
)

// minPIVSelect is the shortest partial AID that selects PIV: the RID and
// the first PIX byte, as SP 800-73-4 lets clients select by prefix.
const minPIVSelect = 5

func (c *Card) dispatch(cmd command) response {
	if cmd.ins == insSelect {
		return c.selectApplet(cmd)
	}
	switch c.s.applet {
	case appletPIV:
		return c.piv(cmd)
	case appletOTP:
		return c.otp(cmd)
	case appletMgmt:
		return c.mgmt(cmd)
	}
	return fail(swInsNotSupported)
}

// selectApplet selects by AID. Any SELECT ends the PIV session: PIN and
// management key must be presented again, as on a YubiKey (and as
// piv-go's tests expect: each Open starts unauthenticated).
func (c *Card) selectApplet(cmd command) response {
	if cmd.p1 != selectByNameP1 {
		return fail(swIncorrectP1P2)
	}
	aid := cmd.data
	var next applet
	switch {
	case len(aid) >= minPIVSelect && bytes.HasPrefix(aidPIV, aid):
		next = appletPIV
	case len(aid) >= 7 && bytes.HasPrefix(aidOTP, aid):
		next = appletOTP
	case bytes.Equal(aid, aidMgmt):
		next = appletMgmt
	default:
		return fail(swFileNotFound)
	}
	c.s = session{applet: next}
	switch next {
	case appletPIV:
		// Application property template: AID (PIX part) and the
		// coexistent tag allocation authority, as a YubiKey answers.
		apt := tlvBytes(0x4f, aidPIV[5:])
		apt = appendTLV(apt, 0x79, tlvBytes(0x4f, aidPIV[:5]))
		return success(tlvBytes(0x61, apt))
	case appletOTP:
		// OTP status: version, programming sequence, touch level.
		v := c.version
		return success([]byte{v.Major, v.Minor, v.Patch, 0x00, 0x00, 0x00})
	default:
		return success([]byte(c.version.String()))
	}
}

func (c *Card) piv(cmd command) response {
	switch cmd.ins {
	case insGetVersion:
		v := c.version
		return success([]byte{v.Major, v.Minor, v.Patch})
	case insGetSerial:
		if !c.version.atLeast(5, 0, 0) {
			return fail(swInsNotSupported)
		}
		return success(binary.BigEndian.AppendUint32(nil, c.st.Serial))
	case insVerify:
		return c.verify(cmd)
	case insChangeRef:
		return c.changeReference(cmd)
	case insResetRetry:
		return c.resetRetryCounter(cmd)
	case insSetRetries:
		return c.setRetries(cmd)
	case insReset:
		return c.reset(cmd)
	case insGeneralAuth:
		return c.generalAuthenticate(cmd)
	case insSetMgmtKey:
		return c.setManagementKey(cmd)
	case insGenerate:
		return c.generate(cmd)
	case insImportKey:
		return c.importKey(cmd)
	case insGetData:
		return c.getData(cmd)
	case insPutData:
		return c.putData(cmd)
	case insGetMetadata:
		return c.metadata(cmd)
	case insAttest:
		return c.attest(cmd)
	}
	return fail(swInsNotSupported)
}

// otp answers the one OTP-applet command PIV clients use: the serial.
func (c *Card) otp(cmd command) response {
	if cmd.ins == insOTPSerial && cmd.p1 == otpSerialP1 {
		return success(binary.BigEndian.AppendUint32(nil, c.st.Serial))
	}
	return fail(swInsNotSupported)
}

// mgmt answers READ CONFIG with the device-info TLVs yubikit defines:
// one length byte, then 01 USB capabilities, 02 serial, 03 enabled USB
// capabilities, 04 form factor, 05 firmware version.
func (c *Card) mgmt(cmd command) response {
	if cmd.ins != insReadConfig {
		return fail(swInsNotSupported)
	}
	const capabilities = 0x023b // OTP, U2F, OpenPGP, PIV, OATH, FIDO2
	caps := []byte{capabilities >> 8, capabilities & 0xff}
	var info []byte
	info = appendTLV(info, 0x01, caps)
	info = appendTLV(info, 0x02, binary.BigEndian.AppendUint32(nil, c.st.Serial))
	info = appendTLV(info, 0x03, caps)
	info = appendTLV(info, 0x04, []byte{c.form})
	info = appendTLV(info, 0x05, []byte{c.version.Major, c.version.Minor, c.version.Patch})
	return success(append([]byte{byte(len(info))}, info...))
}
