package lint

import (
	"slices"
	"strings"
)

// methodsCover reports whether the grant a admits every method b does.
func methodsCover(a, b []string) bool {
	if slices.Contains(a, "*") {
		return true
	}
	if slices.Contains(b, "*") {
		return false
	}
	return subset(b, a)
}

// patternCovers reports whether every path rbac pattern q matches is
// matched by pattern p. It answers false when unsure, so a shadowing
// warning is never wrong: literal segments must be equal, {x} covers a
// non-empty literal or another {x}, a final * or {x...} covers one or
// more further segments, and a final ** covers the prefix and anything
// below it.
func patternCovers(p, q string) bool {
	ps := strings.Split(strings.TrimPrefix(p, "/"), "/")
	qs := strings.Split(strings.TrimPrefix(q, "/"), "/")
	for i, s := range ps {
		last := i == len(ps)-1
		switch {
		case last && s == "**":
			if i == 0 {
				return true // "/**": every path
			}
			return len(qs) >= i
		case last && (s == "*" || isRest(s)):
			return len(qs) > i && !(len(qs) == i+1 && qs[i] == "**")
		case i >= len(qs):
			return false
		case isParam(s):
			if qs[i] == "" || isWild(qs[i]) {
				return false
			}
		case s != qs[i] || isWild(s):
			return false
		}
	}
	return len(qs) == len(ps)
}

func isParam(s string) bool {
	return len(s) > 2 && s[0] == '{' && s[len(s)-1] == '}' && !isRest(s)
}

func isRest(s string) bool { return strings.HasPrefix(s, "{") && strings.HasSuffix(s, "...}") }

func isWild(s string) bool { return s == "*" || s == "**" || isRest(s) }
