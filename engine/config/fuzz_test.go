package config

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// FuzzLoad feeds arbitrary files to Load. It must not panic, must report
// every problem as a positioned *Error of that file, and a config it accepts
// must stay valid.
func FuzzLoad(f *testing.F) {
	f.Add([]byte(base))
	path := filepath.Join(f.TempDir(), "tollgate.yaml")
	f.Fuzz(func(t *testing.T, data []byte) {
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		cfg, err := Load(path)
		if err != nil {
			if cfg != nil {
				t.Fatalf("config returned with error %v", err)
			}
			errs := []error{err}
			if j, ok := err.(interface{ Unwrap() []error }); ok {
				errs = j.Unwrap()
			}
			for _, e := range errs {
				var ce *Error
				if !errors.As(e, &ce) || ce.File != path || ce.Msg == "" {
					t.Fatalf("unpositioned error %q", e)
				}
			}
			return
		}
		if cfg == nil {
			t.Fatal("nil config without error")
		}
		if err := cfg.Validate(); err != nil {
			t.Fatalf("accepted config fails Validate: %v", err)
		}
		for i := range cfg.Routes {
			for j := range cfg.Routes[i].Filters {
				var v map[string]any
				_ = cfg.Routes[i].Filters[j].Decode(&v)
			}
		}
	})
}
