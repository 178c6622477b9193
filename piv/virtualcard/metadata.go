package virtualcard

// Tags of Yubico's GET METADATA answer.
const (
	tagMetaAlg     = 0x01
	tagMetaPolicy  = 0x02
	tagMetaOrigin  = 0x03
	tagMetaPublic  = 0x04
	tagMetaDefault = 0x05
	tagMetaRetries = 0x06

	// algPIN is the "algorithm" GET METADATA reports for PIN and PUK.
	algPIN = 0xff
)

// metadata is Yubico's GET METADATA (F7, firmware 5.3+): P2 is a key
// reference. piv-go reads the management key's algorithm from byte 2 of
// the answer, so 01 01 <alg> must come first.
func (c *Card) metadata(cmd command) response {
	if !c.version.atLeast(5, 3, 0) {
		return fail(swInsNotSupported)
	}
	if cmd.p1 != 0 {
		return fail(swIncorrectP1P2)
	}
	st := c.st
	var b []byte
	switch cmd.p2 {
	case refPIN, refPUK:
		cur, def, total, left := st.PIN, DefaultPIN, st.PINRetries, st.PINLeft
		if cmd.p2 == refPUK {
			cur, def, total, left = st.PUK, DefaultPUK, st.PUKRetries, st.PUKLeft
		}
		b = appendTLV(b, tagMetaAlg, []byte{algPIN})
		b = appendTLV(b, tagMetaDefault, []byte{boolByte(equalSecret(cur, pad8(def)))})
		b = appendTLV(b, tagMetaRetries, []byte{byte(total), byte(left)})
	case slotMgmt:
		tp := byte(touchNever)
		if st.MgmtTouch {
			tp = touchAlways
		}
		isDefault := st.MgmtAlg == c.defaultMgmtAlg() && equalSecret(st.MgmtKey, DefaultManagementKey)
		b = appendTLV(b, tagMetaAlg, []byte{st.MgmtAlg})
		b = appendTLV(b, tagMetaPolicy, []byte{0x00, tp})
		b = appendTLV(b, tagMetaDefault, []byte{boolByte(isDefault)})
	default:
		s, ok := st.Slots[slotName(cmd.p2)]
		if !ok {
			return fail(swRefNotFound)
		}
		priv, err := s.key()
		if err != nil {
			return fail(swMemoryFailure)
		}
		b = appendTLV(b, tagMetaAlg, []byte{s.Alg})
		b = appendTLV(b, tagMetaPolicy, []byte{s.PINPolicy, s.TouchPolicy})
		b = appendTLV(b, tagMetaOrigin, []byte{s.Origin})
		b = appendTLV(b, tagMetaPublic, publicKeyData(priv))
	}
	return success(b)
}

func boolByte(b bool) byte {
	if b {
		return 1
	}
	return 0
}
