package virtualcard

import (
	"bytes"
	"crypto"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
)

// maxStateFile caps the JSON state read back from disk: 24 slots of
// RSA-4096 keys plus certificates and objects stay well under 1 MiB.
const maxStateFile = 1 << 20

// state is everything a card keeps across power cycles: what a real
// YubiKey stores in flash. The session (PIN verified, management key
// authenticated) is not part of it.
type state struct {
	Serial uint32 `json:"serial"`
	// Version is the firmware the card was made with; a re-plugged card
	// keeps it unless Options.Version says otherwise.
	Version string `json:"version,omitempty"`

	PIN        []byte `json:"pin"` // 8 bytes, padded with 0xFF
	PINRetries int    `json:"pin_retries"`
	PINLeft    int    `json:"pin_left"`
	PUK        []byte `json:"puk"`
	PUKRetries int    `json:"puk_retries"`
	PUKLeft    int    `json:"puk_left"`

	MgmtAlg   byte   `json:"mgmt_alg"`
	MgmtKey   []byte `json:"mgmt_key"`
	MgmtTouch bool   `json:"mgmt_touch,omitempty"`

	// Slots are keyed by two hex digits ("9a", "f9"); JSON object keys
	// must be strings.
	Slots map[string]*slotState `json:"slots"`
	// Objects holds data objects by tag in hex ("5fc10a"); the value is
	// the content of the 53 wrapper as it was written.
	Objects map[string][]byte `json:"objects"`
}

// slotState is one asymmetric key.
type slotState struct {
	Alg         byte   `json:"alg"`
	PINPolicy   byte   `json:"pin_policy"`
	TouchPolicy byte   `json:"touch_policy"`
	Origin      byte   `json:"origin"`
	PKCS8       []byte `json:"pkcs8"`

	priv crypto.PrivateKey // parsed PKCS8, filled lazily
}

func slotName(slot byte) string    { return strconv.FormatUint(uint64(slot), 16) }
func objectName(tag uint32) string { return fmt.Sprintf("%06x", tag) }

// key returns the parsed private key.
func (s *slotState) key() (crypto.PrivateKey, error) {
	if s.priv != nil {
		return s.priv, nil
	}
	k, err := x509.ParsePKCS8PrivateKey(s.PKCS8)
	if err != nil {
		return nil, fmt.Errorf("virtualcard: stored key: %w", err)
	}
	s.priv = k
	return k, nil
}

func newSlotState(alg, pp, tp, origin byte, priv crypto.PrivateKey) (*slotState, error) {
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return nil, fmt.Errorf("virtualcard: encoding key: %w", err)
	}
	return &slotState{Alg: alg, PINPolicy: pp, TouchPolicy: tp, Origin: origin, PKCS8: der, priv: priv}, nil
}

// loadState reads a state file; a missing file is (nil, nil).
func loadState(path string) (*state, error) {
	f, err := os.Open(path)
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("virtualcard: %w", err)
	}
	defer f.Close()
	var buf bytes.Buffer
	if _, err := buf.ReadFrom(io.LimitReader(f, maxStateFile+1)); err != nil {
		return nil, fmt.Errorf("virtualcard: reading state: %w", err)
	}
	if buf.Len() > maxStateFile {
		return nil, fmt.Errorf("virtualcard: state file %s is over %d bytes", path, maxStateFile)
	}
	var st state
	if err := json.Unmarshal(buf.Bytes(), &st); err != nil {
		return nil, fmt.Errorf("virtualcard: parsing state %s: %w", path, err)
	}
	if len(st.PIN) != 8 || len(st.PUK) != 8 || !validMgmtKey(st.MgmtAlg, st.MgmtKey) {
		return nil, fmt.Errorf("virtualcard: state %s: invalid PIN, PUK or management key", path)
	}
	if st.Slots == nil {
		st.Slots = map[string]*slotState{}
	}
	if st.Objects == nil {
		st.Objects = map[string][]byte{}
	}
	return &st, nil
}

// save writes the state atomically (temporary file, then rename), so a
// card killed mid-write is unplugged with its previous keys, never with a
// torn file. The file holds private keys and is created 0600.
func (st *state) save(path string) error {
	b, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return fmt.Errorf("virtualcard: encoding state: %w", err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".virtualcard-*")
	if err != nil {
		return fmt.Errorf("virtualcard: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return fmt.Errorf("virtualcard: writing state: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("virtualcard: writing state: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("virtualcard: %w", err)
	}
	return nil
}
