package virtualcard

import (
	"bytes"
	"fmt"
	"testing"
)

// step is one APDU of a script and what the card must answer.
type step struct {
	apdu string // hex
	sw   uint16
	data string // hex the answer must equal; "*" accepts any data
}

// TestScripts replays APDU exchanges byte for byte, from a fresh card
// each. The byte strings are what piv-go v2.6.0 and yubico-piv-tool send
// (see PIV.md's table).
func TestScripts(t *testing.T) {
	const pin = "20 00 80 08 31 32 33 34 35 36 ff ff" // VERIFY 123456, after 00
	tests := []struct {
		name  string
		opts  Options
		steps []step
	}{
		{"select and identify", Options{Serial: 12345678}, []step{
			{"00 a4 04 00 05 a0 00 00 03 08", swOK, "61 11 4f 06 00 00 10 00 01 00 79 07 4f 05 a0 00 00 03 08"},
			{"00 fd 00 00 00", swOK, "05 07 01"},
			{"00 f8 00 00 00", swOK, "00 bc 61 4e"},
			{"00 a4 04 00 08 a0 00 00 05 27 20 01 01", swOK, "*"},
			{"00 01 10 00 00", swOK, "00 bc 61 4e"},
			{"00 fd 00 00 00", swInsNotSupported, ""},
			{"00 a4 04 00 08 a0 00 00 05 27 47 11 17", swOK, "35 2e 37 2e 31"},
			{"00 1d 00 00 00", swOK, "16 01 02 02 3b 02 04 00 bc 61 4e 03 02 02 3b 04 01 01 05 03 05 07 01"},
			{"00 a4 04 00 05 a0 00 00 03 09", swFileNotFound, ""},
		}},
		{"old firmware has no F8, F7 or Ed25519", Options{Version: Version{4, 3, 5}}, []step{
			{"00 fd 00 00 00", swOK, "04 03 05"},
			{"00 f8 00 00 00", swInsNotSupported, ""},
			{"00 f7 00 9b 00", swInsNotSupported, ""},
		}},
		{"PIN retries and status", Options{}, []step{
			{"00 20 00 80 00", 0x63c3, ""},
			{"00 20 00 80 08 30 ff ff ff ff ff ff ff", 0x63c2, ""},
			{"00 20 00 80 00", 0x63c2, ""},
			{"00 " + pin, swOK, ""},
			{"00 20 00 80 00", swOK, ""}, // verified: piv-go's "no login needed"
			{"00 20 ff 80 00", swOK, ""}, // reset verification
			{"00 20 00 80 00", 0x63c3, ""},
			{"00 20 00 80 03 31 32 33", swIncorrectData, ""},
			{"00 20 00 81 00", swRefNotFound, ""},
		}},
		{"blocked PIN, unblock with PUK", Options{}, []step{
			{"00 20 00 80 08 30 ff ff ff ff ff ff ff", 0x63c2, ""},
			{"00 20 00 80 08 30 ff ff ff ff ff ff ff", 0x63c1, ""},
			{"00 20 00 80 08 30 ff ff ff ff ff ff ff", 0x63c0, ""},
			{"00 " + pin, swAuthBlocked, ""},
			{"00 20 00 80 00", swAuthBlocked, ""},
			{"00 2c 00 80 10 30 30 30 30 30 30 30 30 36 35 34 33 32 31 ff ff", 0x63c2, ""},
			{"00 2c 00 80 10 31 32 33 34 35 36 37 38 36 35 ff ff ff ff ff ff", swIncorrectData, ""},
			{"00 2c 00 80 10 31 32 33 34 35 36 37 38 36 35 34 33 32 31 ff ff", swOK, ""},
			{"00 20 00 80 00", 0x63c3, ""},
			{"00 20 00 80 08 36 35 34 33 32 31 ff ff", swOK, ""},
		}},
		{"change PIN and PUK", Options{}, []step{
			{"00 24 00 80 10 36 35 34 33 32 31 ff ff 36 35 34 33 32 31 ff ff", 0x63c2, ""},
			{"00 24 00 80 10 31 32 33 34 35 36 ff ff 31 32 33 34 35 ff ff ff", swIncorrectData, ""},
			{"00 24 00 80 10 31 32 33 34 35 36 ff ff 38 37 36 35 34 33 32 31", swOK, ""},
			{"00 20 00 80 00", 0x63c3, ""}, // a good change restores the tries
			{"00 " + pin, 0x63c2, ""},
			{"00 24 00 81 10 31 32 33 34 35 36 37 38 38 37 36 35 34 33 32 31", swOK, ""},
			{"00 24 00 81 10 31 32 33 34 35 36 37 38 38 37 36 35 34 33 32 31", 0x63c2, ""},
			{"00 24 00 82 10 31 32 33 34 35 36 37 38 38 37 36 35 34 33 32 31", swRefNotFound, ""},
		}},
		{"reset only when PIN and PUK are blocked", Options{}, []step{
			{"00 fb 00 00 00", swConditionsNotMet, ""},
			{"00 20 00 80 08 30 ff ff ff ff ff ff ff", 0x63c2, ""},
			{"00 20 00 80 08 30 ff ff ff ff ff ff ff", 0x63c1, ""},
			{"00 20 00 80 08 30 ff ff ff ff ff ff ff", 0x63c0, ""},
			{"00 fb 00 00 00", swConditionsNotMet, ""},
			{"00 24 00 81 10 30 30 30 30 30 30 30 30 30 30 30 30 30 30 30 30", 0x63c2, ""},
			{"00 24 00 81 10 30 30 30 30 30 30 30 30 30 30 30 30 30 30 30 30", 0x63c1, ""},
			{"00 24 00 81 10 30 30 30 30 30 30 30 30 30 30 30 30 30 30 30 30", 0x63c0, ""},
			{"00 24 00 81 10 30 30 30 30 30 30 30 30 30 30 30 30 30 30 30 30", swAuthBlocked, ""},
			{"00 fb 00 00 00", swOK, ""},
			{"00 " + pin, swOK, ""},
			{"00 f7 00 f9 00", swOK, "*"}, // the attestation key survives
		}},
		{"management key needed", Options{}, []step{
			{"00 47 00 9a 0b ac 09 80 01 11 aa 01 01 ab 01 01", swSecurityStatus, ""},
			{"00 db 3f ff 07 5c 03 5f c1 0a 53 00", swSecurityStatus, ""},
			{"00 fe 11 9a 03 06 01 01", swSecurityStatus, ""},
			{"00 ff ff ff 1b 0a 9b 18 01 02 03 04 05 06 07 08 01 02 03 04 05 06 07 08 01 02 03 04 05 06 07 08", swSecurityStatus, ""},
			{"00 fa 05 05 00", swSecurityStatus, ""},
			{"00 87 03 9b 04 7c 02 80 00", swIncorrectP1P2, ""}, // 3DES against an AES-192 key
			{"00 87 0a 9b 16 7c 14 80 08 00 00 00 00 00 00 00 00 81 08 00 00 00 00 00 00 00 00", swIncorrectData, ""},
		}},
		{"metadata", Options{}, []step{
			{"00 f7 00 9b 00", swOK, "01 01 0a 02 02 00 01 05 01 01"},
			{"00 f7 00 80 00", swOK, "01 01 ff 05 01 01 06 02 03 03"},
			{"00 f7 00 81 00", swOK, "01 01 ff 05 01 01 06 02 03 03"},
			{"00 f7 00 9a 00", swRefNotFound, ""},
			{"00 f7 00 f9 00", swOK, "*"},
		}},
		{"metadata of a 3DES card", Options{Version: Version{5, 6, 0}}, []step{
			{"00 f7 00 9b 00", swOK, "01 01 03 02 02 00 01 05 01 01"},
		}},
		{"data objects and errors", Options{}, []step{
			{"00 cb 3f ff 05 5c 03 5f c1 0a", swFileNotFound, ""},
			{"00 cb 3f ff 05 5c 03 5f c1 09", swSecurityStatus, ""},
			{"00 " + pin, swOK, ""},
			{"00 cb 3f ff 05 5c 03 5f c1 09", swFileNotFound, ""},
			{"00 cb 3f ff 03 5c 01 7e", swOK, "7e 12 4f 0b a0 00 00 03 08 00 00 10 00 01 00 5f 2f 02 40 00"},
			{"00 cb 3f 00 05 5c 03 5f c1 0a", swIncorrectP1P2, ""},
			{"00 f9 9a 00 00", swIncorrectData, ""}, // attest an empty slot
			{"00 87 11 9a 26 7c 24 82 00 81 20 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00", swIncorrectData, ""},
			{"00 c0 00 00 00", swConditionsNotMet, ""}, // nothing pending
			{"00 77 00 00 00", swInsNotSupported, ""},
			{"80 fd 00 00 00", swClaNotSupported, ""},
			{"00 fd 00", swWrongLength, ""},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tc := newTestCard(t, tt.opts)
			for i, s := range tt.steps {
				data, sw := tc.raw(unhex(t, s.apdu))
				if sw != s.sw {
					t.Fatalf("step %d (%s): SW %04x, want %04x (data % x)", i, s.apdu, sw, s.sw, data)
				}
				if s.data != "*" && !bytes.Equal(data, unhex(t, s.data)) {
					t.Fatalf("step %d (%s): data\n% x\nwant\n% x", i, s.apdu, data, unhex(t, s.data))
				}
			}
		})
	}
}

// TestSelectEndsSession: piv-go's tests expect each Open (a SELECT) to
// start without PIN or management key.
func TestSelectEndsSession(t *testing.T) {
	tc := newTestCard(t, Options{})
	tc.authDefault()
	if sw := tc.verifyPIN(DefaultPIN); sw != swOK {
		t.Fatalf("VERIFY: %04x", sw)
	}
	tc.must(insSelect, selectByNameP1, 0, aidPIV[:5])
	if _, sw := tc.cmd(insVerify, 0, refPIN, nil); sw != 0x63c3 {
		t.Errorf("after SELECT, empty VERIFY = %04x, want 63c3", sw)
	}
	if _, sw := tc.cmd(insGenerate, 0, 0x9a, []byte{0xac, 0x03, 0x80, 0x01, algP256}); sw != swSecurityStatus {
		t.Errorf("after SELECT, GENERATE = %04x, want 6982", sw)
	}
}

func TestManagementKeys(t *testing.T) {
	tests := []struct {
		version Version
		alg     byte
		key     []byte
	}{
		{Version{5, 7, 1}, algAES128, bytes.Repeat([]byte{7}, 16)},
		{Version{5, 7, 1}, algAES192, bytes.Repeat([]byte{8}, 24)},
		{Version{5, 7, 1}, algAES256, bytes.Repeat([]byte{9}, 32)},
		{Version{5, 7, 1}, alg3DES, bytes.Repeat([]byte{0x1f}, 24)},
		{Version{5, 4, 3}, algAES128, bytes.Repeat([]byte{7}, 16)},
		{Version{5, 3, 0}, alg3DES, bytes.Repeat([]byte{0x2f}, 24)},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%v alg %02x", tt.version, tt.alg), func(t *testing.T) {
			tc := newTestCard(t, Options{Version: tt.version})
			tc.authDefault()
			data := append([]byte{tt.alg, slotMgmt, byte(len(tt.key))}, tt.key...)
			tc.must(insSetMgmtKey, 0xff, 0xff, data)
			tc.must(insSelect, selectByNameP1, 0, aidPIV[:5])
			if sw := tc.auth(tt.alg, tt.key); sw != swOK {
				t.Fatalf("auth with the new key: %04x", sw)
			}
			meta := tc.must(insGetMetadata, 0, slotMgmt, nil)
			if meta[2] != tt.alg {
				t.Errorf("metadata algorithm %02x, want %02x", meta[2], tt.alg)
			}
			wrong := bytes.Repeat([]byte{0x55}, len(tt.key))
			if sw := tc.auth(tt.alg, wrong); sw != swSecurityStatus {
				t.Errorf("auth with a wrong key: %04x, want 6982", sw)
			}
		})
	}

	t.Run("AES refused before 5.4", func(t *testing.T) {
		tc := newTestCard(t, Options{Version: Version{5, 3, 0}})
		tc.authDefault()
		data := append([]byte{algAES128, slotMgmt, 16}, make([]byte, 16)...)
		if _, sw := tc.cmd(insSetMgmtKey, 0xff, 0xff, data); sw != swIncorrectData {
			t.Errorf("SW %04x, want 6a80", sw)
		}
	})

	t.Run("external authentication", func(t *testing.T) {
		tc := newTestCard(t, Options{})
		resp := tc.must(insGeneralAuth, algAES192, slotMgmt, []byte{0x7c, 0x02, 0x81, 0x00})
		tlvs, _ := parseTLVs(resp)
		inner, _ := parseTLVs(tlvs[0].value)
		chal, _ := find(inner, tagChallenge)
		block, _ := mgmtCipher(algAES192, DefaultManagementKey)
		enc := make([]byte, 16)
		block.Encrypt(enc, chal)
		tc.must(insGeneralAuth, algAES192, slotMgmt, tlvBytes(tagDynAuth, tlvBytes(tagResponse, enc)))
		// Authenticated: PUT DATA, which needs the management key, works.
		tc.must(insPutData, 0x3f, 0xff, unhex(t, "5c 03 5f c1 02 53 01 00"))
	})
}

// TestResponseChunks: answers over 256 bytes, or over the client's Le,
// come in pieces behind 61xx, where xx is what is left (00: 256 or more).
func TestResponseChunks(t *testing.T) {
	tc := newTestCard(t, Options{})
	tc.authDefault()
	obj := bytes.Repeat([]byte{0x5a}, 600)
	tc.must(insPutData, 0x3f, 0xff, append(unhex(t, "5c 03 5f c1 05"), tlvBytes(tagDataObject, obj)...))
	want := tlvBytes(tagDataObject, obj) // 604 bytes

	data, sw := tc.raw(unhex(t, "00 cb 3f ff 05 5c 03 5f c1 05 00"))
	if len(data) != 256 || sw != 0x6100 {
		t.Fatalf("first piece: %d bytes, SW %04x; want 256, 6100", len(data), sw)
	}
	more, sw := tc.raw(unhex(t, "00 c0 00 00 10"))
	if len(more) != 16 || sw != 0x6100 { // 332 left
		t.Fatalf("Le 10: %d bytes, SW %04x", len(more), sw)
	}
	data = append(data, more...)
	more, sw = tc.raw(unhex(t, "00 c0 00 00 00"))
	if len(more) != 256 || sw != 0x614c { // 76 left
		t.Fatalf("third piece: %d bytes, SW %04x", len(more), sw)
	}
	data = append(data, more...)
	more, sw = tc.raw(unhex(t, "00 c0 00 00 4c"))
	if len(more) != 76 || sw != swOK {
		t.Fatalf("last piece: %d bytes, SW %04x", len(more), sw)
	}
	if data = append(data, more...); !bytes.Equal(data, want) {
		t.Error("pieces do not add up to the object")
	}
}
