package jsonvalidate

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// suiteCase is one group of the JSON-Schema-Test-Suite format.
type suiteCase struct {
	Description string          `json:"description"`
	Schema      json.RawMessage `json:"schema"`
	Tests       []struct {
		Description string          `json:"description"`
		Data        json.RawMessage `json:"data"`
		Valid       bool            `json:"valid"`
	} `json:"tests"`
}

// TestSuite runs the keyword cases in testdata/suite (written in the
// official suite's format, a few per supported keyword) through the
// validator with both drivers, and through the peer, which must agree with
// the expected verdicts too.
func TestSuite(t *testing.T) {
	files, err := filepath.Glob("testdata/suite/*.json")
	if err != nil || len(files) == 0 {
		t.Fatalf("no suite files: %v", err)
	}
	n := 0
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		var cases []suiteCase
		if err := json.Unmarshal(data, &cases); err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		keyword := strings.TrimSuffix(filepath.Base(file), ".json")
		for _, c := range cases {
			t.Run(keyword+"/"+c.Description, func(t *testing.T) {
				s := mustSchema(t, string(c.Schema))
				p := newPeer(t, string(c.Schema))
				d := newSonicDriver(s, DefaultMaxDepth)
				for _, tc := range c.Tests {
					doc := string(tc.Data)
					got := s.validate(doc, DefaultMaxDepth)
					if (got == "") != tc.Valid {
						t.Errorf("%s: data %s: got %q, want valid=%v", tc.Description, doc, got, tc.Valid)
					}
					if pv := p.valid(t, doc); pv != tc.Valid {
						t.Errorf("%s: data %s: peer says valid=%v, want %v", tc.Description, doc, pv, tc.Valid)
					}
					if sg := s.validateSonic(d, doc); (sg == "") != tc.Valid {
						t.Errorf("%s: data %s: sonic driver got %q, want valid=%v", tc.Description, doc, sg, tc.Valid)
					}
					n++
				}
			})
		}
	}
	t.Logf("%d suite tests", n)
}
