package virtualcard

import (
	"crypto/rand"
	"crypto/x509"
	"encoding/binary"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Version is a firmware version as GET VERSION reports it.
type Version struct {
	Major, Minor, Patch byte
}

// DefaultVersion is what a card reports when Options.Version is zero: the
// firmware of a current YubiKey 5, which switched the default management
// key to AES-192 (5.7) and supports Ed25519, X25519 and RSA-3072/4096.
var DefaultVersion = Version{5, 7, 1}

func (v Version) String() string { return fmt.Sprintf("%d.%d.%d", v.Major, v.Minor, v.Patch) }

// atLeast reports v >= major.minor.patch.
func (v Version) atLeast(major, minor, patch byte) bool {
	if v.Major != major {
		return v.Major > major
	}
	if v.Minor != minor {
		return v.Minor > minor
	}
	return v.Patch >= patch
}

// ParseVersion parses "5.7.1".
func ParseVersion(s string) (Version, error) {
	parts := strings.Split(s, ".")
	if len(parts) != 3 {
		return Version{}, fmt.Errorf("virtualcard: version %q is not major.minor.patch", s)
	}
	var v [3]byte
	for i, p := range parts {
		n, err := strconv.ParseUint(p, 10, 8)
		if err != nil {
			return Version{}, fmt.Errorf("virtualcard: version %q: %w", s, err)
		}
		v[i] = byte(n)
	}
	return Version{v[0], v[1], v[2]}, nil
}

// Form factors as the management applet reports them (yubikit's
// FORM_FACTOR values); piv-go names the same numbers Formfactor*.
const (
	FormFactorUSBAKeychain = 0x01
	FormFactorUSBCKeychain = 0x03
)

// Options configure a new card. The zero value is a fresh YubiKey 5.7.1
// with a random serial, kept in memory only.
type Options struct {
	// Version is reported by GET VERSION and decides which Yubico
	// extensions the card answers; zero means the version in StatePath,
	// else DefaultVersion.
	Version Version
	// Serial is the card's serial number. Zero keeps the serial from
	// StatePath, or picks a random one for a new card.
	Serial uint32
	// FormFactor for the management applet and attestations; zero means
	// FormFactorUSBAKeychain.
	FormFactor byte
	// StatePath, when set, is a JSON file the card loads at New (if it
	// exists) and rewrites after every change, so a process can be
	// stopped and started again with the same keys. It holds private
	// keys: it is written 0600.
	StatePath string
	// Touch, when set, is called each time a touch policy (or a touch
	// management key) requires a touch, with the slot concerned. Return
	// false to simulate the user not touching: the operation then fails
	// with 6982, security status not satisfied. A nil Touch touches at
	// once. Touch runs with the card locked: it must not call the card.
	Touch func(slot byte) bool
}

// Card is a virtual PIV card. All methods are safe for concurrent use;
// APDUs are handled one at a time, as a real card does.
type Card struct {
	mu      sync.Mutex
	version Version
	form    byte
	path    string
	onTouch func(slot byte) bool

	st *state
	s  session

	touches   atomic.Int64
	lastTouch time.Time
}

// session is the volatile state that power-off, reset and SELECT clear.
type session struct {
	applet      applet
	pinVerified bool
	// pinJust is true only right after a successful VERIFY: PIN policy
	// "always" needs the VERIFY immediately before the operation.
	pinJust    bool
	mgmtAuthed bool
	// witness is the plaintext of a pending mutual-authentication
	// witness, challenge the pending external-authentication challenge.
	witness   []byte
	challenge []byte

	chaining                   bool
	chainINS, chainP1, chainP2 byte
	chain                      []byte

	// pending holds response data waiting for GET RESPONSE.
	pending []byte
}

// New makes a card, loading opts.StatePath if it exists.
func New(opts Options) (*Card, error) {
	c := &Card{
		version: opts.Version,
		form:    opts.FormFactor,
		path:    opts.StatePath,
		onTouch: opts.Touch,
	}
	if c.form == 0 {
		c.form = FormFactorUSBAKeychain
	}
	var err error
	if c.path != "" {
		if c.st, err = loadState(c.path); err != nil {
			return nil, err
		}
	}
	if c.version == (Version{}) && c.st != nil && c.st.Version != "" {
		if c.version, err = ParseVersion(c.st.Version); err != nil {
			return nil, err
		}
	}
	if c.version == (Version{}) {
		c.version = DefaultVersion
	}
	dirty := false
	if c.st == nil {
		c.st = &state{Slots: map[string]*slotState{}, Objects: map[string][]byte{}}
		c.factoryReset()
		dirty = true
	}
	if v := c.version.String(); c.st.Version != v {
		c.st.Version = v
		dirty = true
	}
	if opts.Serial != 0 && opts.Serial != c.st.Serial {
		c.st.Serial = opts.Serial
		dirty = true
	}
	if c.st.Serial == 0 {
		var b [4]byte
		if _, err := rand.Read(b[:]); err != nil {
			return nil, fmt.Errorf("virtualcard: %w", err)
		}
		// Keep it positive as a DER INTEGER and in YubiKey's 8-digit range.
		c.st.Serial = 10_000_000 + binary.BigEndian.Uint32(b[:])%80_000_000
		dirty = true
	}
	if _, ok := c.st.Slots[slotName(slotAttestation)]; !ok {
		if err := c.newAttestationKey(); err != nil {
			return nil, err
		}
		dirty = true
	}
	c.s.applet = appletPIV
	if dirty {
		if err := c.persist(); err != nil {
			return nil, err
		}
	}
	return c, nil
}

// factoryReset sets PIN, PUK, management key, keys and objects to a new
// card's values, keeping the attestation key (slot f9) and its
// certificate as a YubiKey's reset does.
func (c *Card) factoryReset() {
	st := c.st
	st.PIN = pad8(DefaultPIN)
	st.PUK = pad8(DefaultPUK)
	st.PINRetries, st.PINLeft = defaultRetries, defaultRetries
	st.PUKRetries, st.PUKLeft = defaultRetries, defaultRetries
	st.MgmtAlg = c.defaultMgmtAlg()
	st.MgmtKey = append([]byte(nil), DefaultManagementKey...)
	st.MgmtTouch = false
	for name := range st.Slots {
		if name != slotName(slotAttestation) {
			delete(st.Slots, name)
		}
	}
	for name := range st.Objects {
		if name != objectName(objAttestation) {
			delete(st.Objects, name)
		}
	}
}

// persist writes the state file, if there is one.
func (c *Card) persist() error {
	if c.path == "" {
		return nil
	}
	return c.st.save(c.path)
}

// saved persists after a change and turns a failed write into 6581, so a
// client never believes a key exists that the next plug-in would lose.
func (c *Card) saved(r response) response {
	if err := c.persist(); err != nil {
		return fail(swMemoryFailure)
	}
	return r
}

// Version returns the firmware version the card reports.
func (c *Card) Version() Version { return c.version }

// Serial returns the card's serial number.
func (c *Card) Serial() uint32 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.st.Serial
}

// Touches counts the touches the card has asked for (and, unless
// Options.Touch said otherwise, received). A cached touch within its
// 15 seconds is not counted again.
func (c *Card) Touches() int { return int(c.touches.Load()) }

// AttestationCertificate returns the card's own attestation certificate
// (object 5FFF01), which the fixture CA signed.
func (c *Card) AttestationCertificate() (*x509.Certificate, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.attestationCert()
}

// ATR is the answer to reset: a YubiKey 5 NFC's, which offers T=1 (piv-go
// connects with T=1 only) and ends in "YubiKey@".
func (c *Card) ATR() []byte {
	return []byte{0x3b, 0xfd, 0x13, 0x00, 0x00, 0x81, 0x31, 0xfe, 0x15, 0x80, 0x73, 0xc0,
		0x21, 0xc0, 0x57, 0x59, 0x75, 0x62, 0x69, 0x4b, 0x65, 0x79, 0x40}
}

// PowerCycle clears the session as removing power does: PIN and
// management-key authentication are forgotten and the PIV applet is
// selected. Keys and objects stay.
func (c *Card) PowerCycle() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.s = session{applet: appletPIV}
}

// Transmit handles one command APDU and returns the response APDU with its
// status word. It implements command chaining (CLA 10) and answers
// responses over 256 bytes in pieces behind 61xx / GET RESPONSE.
func (c *Card) Transmit(apdu []byte) []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	cmd, err := parseCommand(apdu)
	if err != nil {
		c.s.chaining, c.s.chain = false, nil
		return c.reply(fail(swWrongLength), 0)
	}
	return c.reply(c.transmit(cmd), cmd.le)
}

func (c *Card) transmit(cmd command) response {
	if cmd.cla&^claChaining != 0 {
		// No secure messaging, no logical channels: a YubiKey's PIV
		// applet has neither.
		c.s.chaining, c.s.chain = false, nil
		return fail(swClaNotSupported)
	}
	if cmd.ins == insGetResponse && !c.s.chaining {
		return c.getResponse()
	}
	c.s.pending = nil

	if c.s.chaining && (cmd.ins != c.s.chainINS || cmd.p1 != c.s.chainP1 || cmd.p2 != c.s.chainP2) {
		c.s.chaining, c.s.chain = false, nil
		return fail(swLastCommandExpected)
	}
	if cmd.cla&claChaining != 0 {
		if len(c.s.chain)+len(cmd.data) > maxCommandData {
			c.s.chaining, c.s.chain = false, nil
			return fail(swWrongLength)
		}
		c.s.chaining = true
		c.s.chainINS, c.s.chainP1, c.s.chainP2 = cmd.ins, cmd.p1, cmd.p2
		c.s.chain = append(c.s.chain, cmd.data...)
		return success(nil)
	}
	if c.s.chaining {
		if len(c.s.chain)+len(cmd.data) > maxCommandData {
			c.s.chaining, c.s.chain = false, nil
			return fail(swWrongLength)
		}
		cmd.data = append(c.s.chain, cmd.data...)
		c.s.chaining, c.s.chain = false, nil
	}

	r := c.dispatch(cmd)
	if cmd.ins != insVerify {
		c.s.pinJust = false
	}
	return r
}

// reply encodes r, keeping what does not fit one short response (or the
// client's smaller Le) for GET RESPONSE.
func (c *Card) reply(r response, le int) []byte {
	data, sw := r.data, r.sw
	chunk := maxShortResponse
	if le > 0 && le < chunk {
		chunk = le
	}
	if len(data) > chunk {
		c.s.pending = data[chunk:]
		data = data[:chunk]
		sw = swMoreData | uint16(min(len(c.s.pending), 0xff+1)&0xff)
	}
	out := make([]byte, 0, len(data)+2)
	out = append(out, data...)
	return append(out, byte(sw>>8), byte(sw))
}

func (c *Card) getResponse() response {
	if c.s.pending == nil {
		return fail(swConditionsNotMet)
	}
	data := c.s.pending
	c.s.pending = nil
	return success(data)
}

// touch asks for a touch under the given policy; false means none came.
func (c *Card) touch(slot, policy byte) bool {
	switch policy {
	case touchNever, touchDefault:
		return true
	case touchCached:
		if !c.lastTouch.IsZero() && time.Since(c.lastTouch) < touchCacheTime {
			return true
		}
	}
	c.touches.Add(1)
	if c.onTouch != nil && !c.onTouch(slot) {
		return false
	}
	c.lastTouch = time.Now()
	return true
}

// touchCacheTime is how long a cached touch lasts on a YubiKey.
const touchCacheTime = 15 * time.Second
