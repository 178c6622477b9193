package virtualcard

import "errors"

var (
	errUnsupportedAlg = errors.New("virtualcard: unsupported algorithm")
	errBadImport      = errors.New("virtualcard: malformed key import")
)

var errBadInput = errors.New("virtualcard: input does not fit the key")
