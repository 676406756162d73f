package jwtauth

import "strconv"

// headerWWWAuthenticate is the challenge header of a 401 (RFC 9110 §11.6.1).
const headerWWWAuthenticate = "WWW-Authenticate"

func quote(s string) string { return strconv.Quote(s) }

func itoa(i int) string { return strconv.Itoa(i) }
