package config

import (
	"strings"
	"unicode/utf8"
)

// LookupFunc returns the value of an environment variable and whether it is
// set; os.LookupEnv is the usual one.
type LookupFunc func(name string) (string, bool)

// subst is one ${...} reference replaced on a line: the reference started at
// rune column orig and its value occupies rune columns [out, out+n) of the
// substituted line. Columns are 1-based, as in yaml.Node.
type subst struct {
	out, n, orig, origEnd int
}

// colMap maps columns of the substituted text back to the file, so that
// positions in errors point at what the operator wrote. Line numbers never
// change: a value that contains a line break is refused.
type colMap map[int][]subst

// orig returns the file column for column col of line line of the
// substituted text.
func (m colMap) orig(line, col int) int {
	ss := m[line]
	delta := 0
	for _, s := range ss {
		if col < s.out {
			break
		}
		if col < s.out+s.n {
			return s.orig
		}
		delta = s.origEnd - (s.out + s.n)
	}
	return col + delta
}

// substituteEnv replaces ${NAME} and ${NAME:-default} references in data.
// "$${" stands for a literal "${". Lines whose first non-blank character is
// '#' are comments and are left alone, so a commented-out setting never
// demands a variable. An unset variable without a default, a malformed
// reference, or a value containing a line break is an error positioned at the
// reference.
func substituteEnv(file string, data []byte, lookup LookupFunc) ([]byte, colMap, []error) {
	if !strings.Contains(string(data), "${") {
		return data, nil, nil
	}
	var (
		out  strings.Builder
		cols colMap
		errs []error
	)
	out.Grow(len(data))
	lines := strings.SplitAfter(string(data), "\n")
	for i, line := range lines {
		lineNo := i + 1
		if !strings.Contains(line, "${") || strings.HasPrefix(strings.TrimLeft(line, " \t"), "#") {
			out.WriteString(line)
			continue
		}
		var (
			ss      []subst
			outCol  = 1 // rune column of the next rune written to out
			origCol = 1 // rune column of line[j]
		)
		for j := 0; j < len(line); {
			if strings.HasPrefix(line[j:], "$${") {
				out.WriteString("${")
				ss = append(ss, subst{out: outCol, n: 2, orig: origCol, origEnd: origCol + 3})
				outCol += 2
				origCol += 3
				j += 3
				continue
			}
			if !strings.HasPrefix(line[j:], "${") {
				r, size := utf8.DecodeRuneInString(line[j:])
				if r == utf8.RuneError && size == 1 {
					// Invalid UTF-8 counts as one column, as in the YAML scanner.
					out.WriteByte(line[j])
				} else {
					out.WriteRune(r)
				}
				outCol++
				origCol++
				j += size
				continue
			}
			end := strings.IndexByte(line[j:], '}')
			if end < 0 {
				errs = append(errs, &Error{File: file, Line: lineNo, Col: origCol, Msg: `cannot substitute environment variable: missing "}"`})
				break
			}
			ref := line[j+2 : j+end]
			refRunes := utf8.RuneCountInString(line[j : j+end+1])
			name, def, hasDef := strings.Cut(ref, ":-")
			val, set := "", false
			if !validEnvName(name) || strings.Contains(def, "${") {
				errs = append(errs, &Error{File: file, Line: lineNo, Col: origCol, Msg: "cannot substitute environment variable: invalid reference " + quote("${"+ref+"}") + ": want ${NAME} or ${NAME:-default}"})
			} else {
				val, set = lookup(name)
				if hasDef && val == "" {
					val, set = def, true
				}
				switch {
				case !set:
					errs = append(errs, &Error{File: file, Line: lineNo, Col: origCol, Msg: "environment variable " + quote(name) + " is not set (use ${" + name + ":-default} to give a default)"})
				case strings.ContainsAny(val, "\r\n"):
					errs = append(errs, &Error{File: file, Line: lineNo, Col: origCol, Msg: "environment variable " + quote(name) + " contains a line break"})
					val = ""
				}
			}
			n := utf8.RuneCountInString(val)
			out.WriteString(val)
			ss = append(ss, subst{out: outCol, n: n, orig: origCol, origEnd: origCol + refRunes})
			outCol += n
			origCol += refRunes
			j += end + 1
		}
		if len(ss) > 0 {
			if cols == nil {
				cols = colMap{}
			}
			cols[lineNo] = ss
		}
	}
	return []byte(out.String()), cols, errs
}

// validEnvName reports whether s is a POSIX environment variable name.
func validEnvName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '_', 'A' <= c && c <= 'Z', 'a' <= c && c <= 'z':
		case '0' <= c && c <= '9' && i > 0:
		default:
			return false
		}
	}
	return true
}
