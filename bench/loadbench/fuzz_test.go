package main

import "testing"

// FuzzParseStat checks that parseStat never panics on arbitrary input.
func FuzzParseStat(f *testing.F) {
	f.Add([]byte("1234 (nginx) S 1 1234 1234 0 -1 4194560 100 0 0 0 250 75 0 0"))
	f.Add([]byte("77 (a b) c)) R 42 77 77 0 -1 0 0 0 0 0 3 4"))
	f.Fuzz(func(t *testing.T, b []byte) {
		_, _ = parseStat(b)
	})
}

// FuzzParseWrk checks that parseWrk and the derived figures never panic.
func FuzzParseWrk(f *testing.F) {
	f.Add([]byte(sampleWrk))
	f.Add([]byte("LOADBENCH_RESULT {}"))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := parseWrk(b)
		if err != nil {
			return
		}
		_ = r.RPS()
		_ = r.Errors()
	})
}
