package socket

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// CheckDir makes sure no other user can replace what is in dir, the
// directory of the agent's socket (and of its log and audit log), creating it
// with mode 0700 when it is missing.
//
// dir itself must be a directory owned by you or root that group and others
// cannot write to, sticky or not. Every directory above it, up to "/", must
// be owned by you or root and not writable by group or others, unless it is
// root's and sticky, as /tmp is (there others cannot rename or remove what
// is not theirs). Whoever can write to any of them could rename the path to
// the socket away and put their own in its place. Symbolic links on the way
// are followed and the directories they lead to, and those above them, are
// checked too. The error names the offending directory.
//
// Listen calls CheckDir; the CLI calls it before it opens files in dir.
func CheckDir(dir string) error {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return fmt.Errorf("socket: %w", err)
	}
	// Before creating anything: the directories that exist above it.
	if err := checkAncestors(dir, dir); err != nil {
		return err
	}
	fi, err := os.Stat(dir)
	if errors.Is(err, fs.ErrNotExist) {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return fmt.Errorf("socket: create socket directory: %w", err)
		}
		// The umask can only take bits away, but say exactly what we mean.
		if err := os.Chmod(dir, 0o700); err != nil {
			return fmt.Errorf("socket: %w", err)
		}
		fi, err = os.Stat(dir)
	}
	if err != nil {
		return fmt.Errorf("socket: socket directory: %w", err)
	}
	if !fi.IsDir() {
		return fmt.Errorf("socket: %s is not a directory", dir)
	}
	if perm := fi.Mode().Perm(); perm&0o022 != 0 {
		return fmt.Errorf("socket: directory %s is writable by group or others (mode %04o): another user could replace "+
			"the socket with their own and receive PINs and data to sign; use a directory only you can write to", dir, perm)
	}
	if uid, ok := fileOwner(fi); ok && uid != os.Geteuid() && uid != 0 {
		return fmt.Errorf("socket: directory %s belongs to uid %d, not to you: its owner could replace the socket", dir, uid)
	}
	// Again now that all exist, and along the path the links lead to.
	if err := checkAncestors(dir, dir); err != nil {
		return err
	}
	resolved, err := filepath.EvalSymlinks(dir)
	if err != nil {
		return fmt.Errorf("socket: socket directory: %w", err)
	}
	if resolved != dir {
		if err := checkDirItself(resolved, dir); err != nil {
			return err
		}
		if err := checkAncestors(resolved, dir); err != nil {
			return err
		}
	}
	return nil
}

// checkDirItself applies the socket directory's rule to resolved, the
// directory a symbolic link named dir leads to.
func checkDirItself(resolved, dir string) error {
	fi, err := os.Stat(resolved)
	if err != nil {
		return fmt.Errorf("socket: socket directory: %w", err)
	}
	if perm := fi.Mode().Perm(); perm&0o022 != 0 {
		return fmt.Errorf("socket: directory %s (where %s leads) is writable by group or others (mode %04o): another user "+
			"could replace the socket with their own and receive PINs and data to sign; use a directory only you can write to",
			resolved, dir, perm)
	}
	if uid, ok := fileOwner(fi); ok && uid != os.Geteuid() && uid != 0 {
		return fmt.Errorf("socket: directory %s (where %s leads) belongs to uid %d, not to you: its owner could replace the socket", resolved, dir, uid)
	}
	return nil
}

// checkAncestors checks every existing directory above dir, up to "/", by
// the ancestors' rule. A symbolic link on the way is not judged itself (only
// the owner of the directory holding it, checked here, can change it): the
// directories it leads to are, when CheckDir walks the resolved path.
// socketDir is named in errors.
func checkAncestors(dir, socketDir string) error {
	for p := filepath.Dir(dir); ; p = filepath.Dir(p) {
		fi, err := os.Lstat(p)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			// CheckDir creates it, ours and 0700.
		case err != nil:
			return fmt.Errorf("socket: checking %s, above the socket directory %s: %w", p, socketDir, err)
		case fi.Mode().Type() == fs.ModeSymlink:
		case !fi.IsDir():
			return fmt.Errorf("socket: %s is not a directory", p)
		default:
			if err := checkAncestor(p, fi, socketDir); err != nil {
				return err
			}
		}
		if p == filepath.Dir(p) {
			return nil
		}
	}
}

func checkAncestor(p string, fi fs.FileInfo, socketDir string) error {
	uid, known := fileOwner(fi)
	if known && uid != os.Geteuid() && uid != 0 {
		return fmt.Errorf("socket: directory %s, above the socket directory %s, belongs to uid %d, neither you nor root: "+
			"its owner could replace the path to the socket; use a socket directory under directories only you or root control",
			p, socketDir, uid)
	}
	perm := fi.Mode().Perm()
	if perm&0o022 == 0 {
		return nil
	}
	if known && uid == 0 && fi.Mode()&fs.ModeSticky != 0 {
		return nil // /tmp: others cannot rename or remove what is not theirs
	}
	return fmt.Errorf("socket: directory %s, above the socket directory %s, is writable by group or others (mode %04o) "+
		"and is not a sticky directory of root's such as /tmp: another user could rename the path to the socket and "+
		"put their own socket in its place; use a socket directory under directories only you or root can write to",
		p, socketDir, perm)
}
