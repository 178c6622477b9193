//go:build !unix

package uri

import "io/fs"

// fileOwner cannot tell owners apart here (Windows has ACLs, not mode
// bits), so ReadPIN checks nothing on such systems.
func fileOwner(fs.FileInfo) (int, bool) { return 0, false }
