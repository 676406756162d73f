package jsonvalidate

import (
	"net/netip"
	"strings"
)

func checkFormat(f format, s string) bool {
	switch f {
	case formatDateTime:
		return isDateTime(s)
	case formatUUID:
		return isUUID(s)
	case formatEmail:
		return isEmail(s)
	}
	return true
}

var formatNames = map[string]format{
	"date-time": formatDateTime,
	"uuid":      formatUUID,
	"email":     formatEmail,
}

// isUUID checks the RFC 9562 §4 string form: 8-4-4-4-12 hex digits, either
// case, any version.
func isUUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if i == 8 || i == 13 || i == 18 || i == 23 {
			if c != '-' {
				return false
			}
			continue
		}
		if !isHex(c) {
			return false
		}
	}
	return true
}

func isHex(c byte) bool {
	return isDigit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')
}

// num2 reads two ASCII digits at s[i].
func num2(s string, i int) (int, bool) {
	if i+2 > len(s) || !isDigit(s[i]) || !isDigit(s[i+1]) {
		return 0, false
	}
	return int(s[i]-'0')*10 + int(s[i+1]-'0'), true
}

// isDateTime checks RFC 3339 §5.6 date-time: full-date "T" full-time, with
// "t"/"z" accepted as the RFC allows, days checked against the month and
// leap years, and a leap second (:60) only at 23:59 UTC.
func isDateTime(s string) bool {
	if len(s) < 20 {
		return false
	}
	// full-date = date-fullyear "-" date-month "-" date-mday
	for i := 0; i < 4; i++ {
		if !isDigit(s[i]) {
			return false
		}
	}
	year := int(s[0]-'0')*1000 + int(s[1]-'0')*100 + int(s[2]-'0')*10 + int(s[3]-'0')
	if s[4] != '-' || s[7] != '-' {
		return false
	}
	month, ok1 := num2(s, 5)
	day, ok2 := num2(s, 8)
	if !ok1 || !ok2 || month < 1 || month > 12 || day < 1 || day > daysIn(month, year) {
		return false
	}
	if s[10] != 'T' && s[10] != 't' {
		return false
	}
	// partial-time = time-hour ":" time-minute ":" time-second [time-secfrac]
	h, ok1 := num2(s, 11)
	m, ok2 := num2(s, 14)
	sec, ok3 := num2(s, 17)
	if !ok1 || !ok2 || !ok3 || s[13] != ':' || s[16] != ':' || h > 23 || m > 59 || sec > 60 {
		return false
	}
	rest := s[19:]
	if len(rest) > 0 && rest[0] == '.' {
		i := 1
		for i < len(rest) && isDigit(rest[i]) {
			i++
		}
		if i == 1 {
			return false
		}
		rest = rest[i:]
	}
	// time-offset = "Z" / time-numoffset
	if rest != "Z" && rest != "z" {
		if len(rest) != 6 || (rest[0] != '+' && rest[0] != '-') || rest[3] != ':' {
			return false
		}
		oh, ok1 := num2(rest, 1)
		om, ok2 := num2(rest, 4)
		if !ok1 || !ok2 || oh > 23 || om > 59 {
			return false
		}
		// Convert to UTC for the leap-second rule.
		off := oh*60 + om
		if rest[0] == '+' {
			off = -off
		}
		hm := (h*60+m+off)%(24*60) + 24*60
		hm %= 24 * 60
		h, m = hm/60, hm%60
	}
	if sec == 60 && (h != 23 || m != 59) {
		return false
	}
	return true
}

func daysIn(month, year int) int {
	switch month {
	case 2:
		if year%4 == 0 && (year%100 != 0 || year%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}

// isEmail checks an RFC 5321 §4.1.2 mailbox: a dot-atom or quoted local
// part of at most 64 bytes, "@", and a host name or a bracketed IPv4 or
// "IPv6:" address literal; at most 254 bytes in all.
func isEmail(s string) bool {
	if len(s) > 254 {
		return false
	}
	at := strings.LastIndexByte(s, '@')
	if at < 0 {
		return false
	}
	local, domain := s[:at], s[at+1:]
	if len(local) > 64 || len(local) == 0 {
		return false
	}
	if len(local) > 1 && local[0] == '"' && local[len(local)-1] == '"' {
		q := local[1 : len(local)-1]
		if strings.IndexByte(q, '\\') >= 0 || strings.IndexByte(q, '"') >= 0 {
			return false
		}
	} else {
		if local[0] == '.' || local[len(local)-1] == '.' || strings.Contains(local, "..") {
			return false
		}
		for i := 0; i < len(local); i++ {
			c := local[i]
			if !(isAlnum(c) || strings.IndexByte(".!#$%&'*+-/=?^_`{|}~", c) >= 0) {
				return false
			}
		}
	}
	if len(domain) > 1 && domain[0] == '[' && domain[len(domain)-1] == ']' {
		lit := domain[1 : len(domain)-1]
		if rest, ok := strings.CutPrefix(lit, "IPv6:"); ok {
			a, err := netip.ParseAddr(rest)
			return err == nil && a.Is6() && a.Zone() == "" && strings.IndexByte(rest, ':') >= 0
		}
		return isIPv4(lit)
	}
	return isHostname(domain)
}

func isAlnum(c byte) bool {
	return isDigit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
}

// isIPv4 checks dotted-quad form without leading zeros.
func isIPv4(s string) bool {
	for part := 0; part < 4; part++ {
		i := strings.IndexByte(s, '.')
		seg := s
		if part < 3 {
			if i < 0 {
				return false
			}
			seg, s = s[:i], s[i+1:]
		} else if i >= 0 {
			return false
		}
		if len(seg) == 0 || len(seg) > 3 || (len(seg) > 1 && seg[0] == '0') {
			return false
		}
		n := 0
		for j := 0; j < len(seg); j++ {
			if !isDigit(seg[j]) {
				return false
			}
			n = n*10 + int(seg[j]-'0')
		}
		if n > 255 {
			return false
		}
	}
	return true
}

// isHostname checks RFC 1123 §2.1 host names: labels of 1–63 letters,
// digits and inner hyphens, at most 253 bytes without a trailing dot.
func isHostname(s string) bool {
	s = strings.TrimSuffix(s, ".")
	if len(s) > 253 {
		return false
	}
	for {
		i := strings.IndexByte(s, '.')
		label := s
		if i >= 0 {
			label = s[:i]
		}
		if len(label) < 1 || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for j := 0; j < len(label); j++ {
			if c := label[j]; !isAlnum(c) && c != '-' {
				return false
			}
		}
		if i < 0 {
			return true
		}
		s = s[i+1:]
	}
}
