package trust

// CanonicalGUN turns a repository as a user types it ("alpine",
// "example.com/app") into the GUN docker uses for its trust data
// ("docker.io/library/alpine", "example.com/app"), with docker's own
// reference rules (parseRef). It returns "" for "". Names it cannot parse
// are returned as given, for the caller's validation to refuse with the
// user's own spelling.
func CanonicalGUN(repo string) string {
	if repo == "" {
		return ""
	}
	r, err := parseRef(repo)
	if err != nil {
		return repo
	}
	return r.gun.String()
}
