package virtualcard

// Data objects (SP 800-73-4 part 1 table 3, and Yubico's 5FFFxx).
const (
	tagTagList      = 0x5c
	tagDataObject   = 0x53
	objDiscovery    = 0x7e
	objFingerprints = 0x5fc103
	objPrinted      = 0x5fc109 // "printed information": piv-go's Metadata
	objFacial       = 0x5fc108
	objIris         = 0x5fc121
	objAttestation  = 0x5fff01 // the f9 certificate
)

// maxObjectSize caps one data object. A YubiKey 5 stores objects of up to
// about 3 KB; 3,052 bytes is the figure Yubico gives for certificates, so
// an object this card accepts also fits a real key.
const maxObjectSize = 3052

// pinProtected lists the objects SP 800-73-4 reads only after the PIN.
func pinProtected(tag uint32) bool {
	switch tag {
	case objPrinted, objFingerprints, objFacial, objIris:
		return true
	}
	return false
}

// writableObject reports whether PUT DATA may store tag: the PIV objects
// 5FC101–5FC123 and Yubico's 5FFF00–5FFF15 (admin data, attestation
// certificate and the like). The discovery object is fixed.
func writableObject(tag uint32) bool {
	return (tag >= 0x5fc101 && tag <= 0x5fc123) || (tag >= 0x5fff00 && tag <= 0x5fff15)
}

// objectTag reads the 5C tag list of GET or PUT DATA: one tag, 1 to 3 bytes.
func objectTag(tlvs []tlv) (uint32, bool) {
	v, ok := find(tlvs, tagTagList)
	if !ok || len(v) < 1 || len(v) > 3 {
		return 0, false
	}
	var tag uint32
	for _, b := range v {
		tag = tag<<8 | uint32(b)
	}
	return tag, true
}

// discovery is the fixed discovery object: the PIV AID and a PIN usage
// policy of 40 00 (application PIN only, no global PIN).
func discovery() []byte {
	v := tlvBytes(0x4f, aidPIV)
	v = appendTLV(v, 0x5f2f, []byte{0x40, 0x00})
	return tlvBytes(objDiscovery, v)
}

// getData is GET DATA (CB 3F FF, 5C tag): answers 53 {content}, or 6A82.
func (c *Card) getData(cmd command) response {
	if cmd.p1 != 0x3f || cmd.p2 != 0xff {
		return fail(swIncorrectP1P2)
	}
	tlvs, err := parseTLVs(cmd.data)
	if err != nil {
		return fail(swIncorrectData)
	}
	tag, ok := objectTag(tlvs)
	if !ok {
		return fail(swIncorrectData)
	}
	if tag == objDiscovery {
		return response{data: discovery(), sw: swOK}
	}
	if pinProtected(tag) && !c.s.pinVerified {
		return fail(swSecurityStatus)
	}
	v, present := c.st.Objects[objectName(tag)]
	if !present {
		return fail(swFileNotFound)
	}
	return response{data: tlvBytes(tagDataObject, v), sw: swOK}
}

// putData is PUT DATA (DB 3F FF, 5C tag, 53 content); it needs the
// management key. An empty 53 deletes the object.
func (c *Card) putData(cmd command) response {
	if !c.s.mgmtAuthed {
		return fail(swSecurityStatus)
	}
	if cmd.p1 != 0x3f || cmd.p2 != 0xff {
		return fail(swIncorrectP1P2)
	}
	tlvs, err := parseTLVs(cmd.data)
	if err != nil || len(tlvs) != 2 {
		return fail(swIncorrectData)
	}
	tag, ok := objectTag(tlvs)
	if !ok || !writableObject(tag) {
		return fail(swIncorrectData)
	}
	v, ok := find(tlvs, tagDataObject)
	if !ok {
		return fail(swIncorrectData)
	}
	if len(v) > maxObjectSize {
		return fail(swNotEnoughMemory)
	}
	if len(v) == 0 {
		delete(c.st.Objects, objectName(tag))
	} else {
		c.st.Objects[objectName(tag)] = append([]byte(nil), v...)
	}
	return c.saved(success(nil))
}
