package config

import (
	"cmp"
	"errors"
	"slices"
	"strconv"
	"strings"
)

// Error is one configuration problem, positioned so that an operator can fix
// the file from the message alone. Load and Validate return every problem
// they find, each an *Error, combined with errors.Join; errors.As finds the
// first and the Unwrap() []error method of the joined error lists them all.
type Error struct {
	// File is the config file's path as given to Load; empty for a config
	// built in code.
	File string
	// Line and Col are 1-based; Col is 0 when only the line is known and
	// Line is 0 when the value has no position (a config built in code).
	Line, Col int
	// Path names the setting, such as "routes[0].filters[1]"; empty for
	// problems with the file as a whole.
	Path string
	// Msg says what is wrong, in lower case.
	Msg string
}

// Error formats e as "FILE:LINE:COL: PATH: MSG", leaving out the parts that
// are unknown.
func (e *Error) Error() string {
	b := make([]byte, 0, len(e.File)+len(e.Path)+len(e.Msg)+24)
	if e.File != "" {
		b = append(b, e.File...)
		b = append(b, ':')
	}
	if e.Line > 0 {
		b = strconv.AppendInt(b, int64(e.Line), 10)
		b = append(b, ':')
		if e.Col > 0 {
			b = strconv.AppendInt(b, int64(e.Col), 10)
			b = append(b, ':')
		}
	}
	if len(b) > 0 {
		b = append(b, ' ')
	}
	if e.Path != "" {
		b = append(b, e.Path...)
		b = append(b, ": "...)
	}
	b = append(b, e.Msg...)
	return string(b)
}

// Pos returns the position as "file:line:col".
func (e *Error) Pos() string {
	return formatPos(e.File, e.Line, e.Col)
}

func formatPos(file string, line, col int) string {
	b := []byte(file)
	if line > 0 {
		if len(b) > 0 {
			b = append(b, ':')
		}
		b = strconv.AppendInt(b, int64(line), 10)
		if col > 0 {
			b = append(b, ':')
			b = strconv.AppendInt(b, int64(col), 10)
		}
	}
	return string(b)
}

// joinSorted orders errs by position (keeping the order of equal positions),
// drops repeats (a node reached through several aliases is reported once),
// and joins them, one per line.
func joinSorted(errs []error) error {
	seen := make(map[string]bool, len(errs))
	uniq := errs[:0]
	for _, err := range errs {
		if s := err.Error(); !seen[s] {
			seen[s] = true
			uniq = append(uniq, err)
		}
	}
	errs = uniq
	slices.SortStableFunc(errs, func(a, b error) int {
		var ea, eb *Error
		if !errors.As(a, &ea) || !errors.As(b, &eb) {
			return 0
		}
		if c := cmp.Compare(ea.Line, eb.Line); c != 0 {
			return c
		}
		return cmp.Compare(ea.Col, eb.Col)
	})
	return errors.Join(errs...)
}

func quote(s string) string { return strconv.Quote(s) }

// Leaves lists the leaves of a tree of errors joined with errors.Join (or
// anything else with an Unwrap() []error method), depth first, so that a
// command can print every problem on a line of its own; nil has none.
func Leaves(err error) []error {
	if err == nil {
		return nil
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range j.Unwrap() {
			out = append(out, Leaves(e)...)
		}
		return out
	}
	return []error{err}
}

// WithoutRepeats returns err, the joined problems a filter constructor
// found, without those positioned exactly where one of decoded (the
// block's decode errors, which the constructor also returns) is: a
// setting that failed to decode keeps its zero value, and the checks that
// run on what decoded would otherwise report that value too ("want a
// positive rate, got 0" under "want an integer, got \"abc\""). A check about
// a setting under one that failed falls back to the same position, so it
// goes too. The decode errors themselves are kept.
func WithoutRepeats(err, decoded error) error {
	bad := Leaves(decoded)
	if err == nil || len(bad) == 0 {
		return err
	}
	at := make(map[string]bool, len(bad))
	for _, d := range bad {
		var ce *Error
		if errors.As(d, &ce) && ce.Line > 0 {
			at[ce.Pos()+": "] = true
		}
	}
	var out []error
	for _, e := range Leaves(err) {
		if pos, _, ok := strings.Cut(e.Error(), ": "); ok && at[pos+": "] && !isAny(e, bad) {
			continue
		}
		out = append(out, e)
	}
	if len(out) == 0 {
		return err // never turn a failure into success
	}
	return errors.Join(out...)
}

// isAny reports whether err is, or wraps, one of targets.
func isAny(err error, targets []error) bool {
	for _, t := range targets {
		if errors.Is(err, t) {
			return true
		}
	}
	return false
}
