package agent

import (
	"regexp"
	"sync"
)

// gunPattern is docker's reference grammar (distribution/reference) for a
// fully qualified name, which is what docker uses as a notary GUN: a host
// (DNS labels, IPv4, or [IPv6]) with an optional port, then one or more
// lower-case path components joined by ".", "_", "__" or runs of "-".
// Compiled on first use, not at every start of every binary linking agent.
var gunPattern = sync.OnceValue(func() *regexp.Regexp {
	return regexp.MustCompile(`^` +
		`(?:(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])(?:\.(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9]))*|\[[a-fA-F0-9:]+\])` +
		`(?::[0-9]+)?` +
		`(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)+$`)
})

// ValidGUN reports whether gun looks like a repository name. The agent
// checks it for key bindings and root certificates; the TUF policy
// (format/tuf) for every repository a request claims.
func ValidGUN(gun string) bool { return len(gun) <= 255 && gunPattern().MatchString(gun) }
