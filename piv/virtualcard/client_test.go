package virtualcard

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/des"
	"crypto/rand"
	"testing"
)

// testClient drives a Card through Transmit the way piv-go does, with no
// pcscd in between: chaining over 255 bytes, GET RESPONSE on 61xx.
type testClient struct {
	t    testing.TB
	card *Card
}

func newTestCard(t testing.TB, opts Options) *testClient {
	t.Helper()
	c, err := New(opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return &testClient{t: t, card: c}
}

// raw sends one APDU as is and splits the answer.
func (tc *testClient) raw(apdu []byte) ([]byte, uint16) {
	tc.t.Helper()
	out := tc.card.Transmit(apdu)
	if len(out) < 2 {
		tc.t.Fatalf("response % x has no status word", out)
	}
	n := len(out) - 2
	return out[:n], uint16(out[n])<<8 | uint16(out[n+1])
}

// cmd sends a command with chaining and collects 61xx continuations.
func (tc *testClient) cmd(ins, p1, p2 byte, data []byte) ([]byte, uint16) {
	tc.t.Helper()
	for len(data) > 0xff {
		apdu := append([]byte{claChaining, ins, p1, p2, 0xff}, data[:0xff]...)
		if _, sw := tc.raw(apdu); sw != swOK {
			return nil, sw
		}
		data = data[0xff:]
	}
	apdu := []byte{0x00, ins, p1, p2, byte(len(data))}
	apdu = append(apdu, data...)
	resp, sw := tc.raw(apdu)
	for sw&0xff00 == swMoreData {
		var more []byte
		more, sw = tc.raw([]byte{0x00, insGetResponse, 0x00, 0x00, 0x00})
		resp = append(resp, more...)
	}
	return resp, sw
}

// must is cmd that fails the test unless the card answers 9000.
func (tc *testClient) must(ins, p1, p2 byte, data []byte) []byte {
	tc.t.Helper()
	resp, sw := tc.cmd(ins, p1, p2, data)
	if sw != swOK {
		tc.t.Fatalf("INS %02x P1 %02x P2 %02x: SW %04x", ins, p1, p2, sw)
	}
	return resp
}

func (tc *testClient) verifyPIN(pin string) uint16 {
	tc.t.Helper()
	_, sw := tc.cmd(insVerify, 0, refPIN, pad8(pin))
	return sw
}

// auth runs piv-go's mutual authentication and returns the final SW.
func (tc *testClient) auth(alg byte, key []byte) uint16 {
	tc.t.Helper()
	var block cipher.Block
	var err error
	if alg == alg3DES {
		block, err = des.NewTripleDESCipher(key)
	} else {
		block, err = aes.NewCipher(key)
	}
	if err != nil {
		tc.t.Fatalf("cipher: %v", err)
	}
	n := block.BlockSize()
	resp, sw := tc.cmd(insGeneralAuth, alg, slotMgmt, []byte{0x7c, 0x02, 0x80, 0x00})
	if sw != swOK {
		return sw
	}
	if want := []byte{0x7c, byte(n + 2), 0x80, byte(n)}; !bytes.HasPrefix(resp, want) || len(resp) != 4+n {
		tc.t.Fatalf("witness answer % x, want header % x", resp, want)
	}
	w := make([]byte, n)
	block.Decrypt(w, resp[4:])
	chal := make([]byte, n)
	rand.Read(chal)
	data := append([]byte{0x7c, byte(2*n + 4), 0x80, byte(n)}, w...)
	data = append(data, 0x81, byte(n))
	data = append(data, chal...)
	resp, sw = tc.cmd(insGeneralAuth, alg, slotMgmt, data)
	if sw != swOK {
		return sw
	}
	want := make([]byte, n)
	block.Encrypt(want, chal)
	if !bytes.Equal(resp, append([]byte{0x7c, byte(n + 2), 0x82, byte(n)}, want...)) {
		tc.t.Fatalf("card's response to our challenge is wrong: % x", resp)
	}
	return sw
}

// authDefault authenticates with the factory key.
func (tc *testClient) authDefault() {
	tc.t.Helper()
	if sw := tc.auth(tc.card.defaultMgmtAlg(), DefaultManagementKey); sw != swOK {
		tc.t.Fatalf("default management key: SW %04x", sw)
	}
}

// generate makes a key and returns the 7F49 content.
func (tc *testClient) generate(slot, alg, pp, tp byte) []tlv {
	tc.t.Helper()
	resp := tc.must(insGenerate, 0, slot, []byte{0xac, 0x09, 0x80, 0x01, alg, 0xaa, 0x01, pp, 0xab, 0x01, tp})
	outer, err := parseTLVs(resp)
	if err != nil || len(outer) != 1 || outer[0].tag != tagPublicKey {
		tc.t.Fatalf("GENERATE answer % x: %v", resp, err)
	}
	inner, err := parseTLVs(outer[0].value)
	if err != nil {
		tc.t.Fatalf("GENERATE answer: %v", err)
	}
	return inner
}

// sign runs GENERAL AUTHENTICATE {82 00, 81 in} and returns the 82 value.
func (tc *testClient) sign(alg, slot byte, in []byte) ([]byte, uint16) {
	tc.t.Helper()
	return tc.gaOp(alg, slot, tagChallenge, in)
}

func (tc *testClient) gaOp(alg, slot byte, tag uint32, in []byte) ([]byte, uint16) {
	tc.t.Helper()
	inner := append([]byte{0x82, 0x00}, tlvBytes(tag, in)...)
	resp, sw := tc.cmd(insGeneralAuth, alg, slot, tlvBytes(tagDynAuth, inner))
	if sw != swOK {
		return nil, sw
	}
	outer, err := parseTLVs(resp)
	if err != nil || len(outer) != 1 || outer[0].tag != tagDynAuth {
		tc.t.Fatalf("GENERAL AUTHENTICATE answer % x: %v", resp, err)
	}
	in2, err := parseTLVs(outer[0].value)
	if err != nil {
		tc.t.Fatalf("GENERAL AUTHENTICATE answer: %v", err)
	}
	v, ok := find(in2, tagResponse)
	if !ok {
		tc.t.Fatalf("GENERAL AUTHENTICATE answer has no 82: % x", resp)
	}
	return v, sw
}
