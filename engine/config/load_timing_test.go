package config

import (
	"fmt"
	"os"
	"strings"
	"testing"
)

var sink any

func BenchmarkParse(b *testing.B) {
	full, err := os.ReadFile("../../configs/full.yaml")
	if err != nil {
		b.Fatal(err)
	}
	var big strings.Builder
	big.WriteString(base + "routes:\n")
	for i := range 1000 {
		fmt.Fprintf(&big, "  - name: r%d\n    methods: [GET, POST]\n    path: /api/v1/r%d/{id}\n    upstream: u\n    filters:\n      - name: sizelimit\n        config: {max_bytes: 64KiB}\n", i, i)
	}
	for _, bc := range []struct {
		name string
		data []byte
	}{{"full", full}, {"1000-routes", []byte(big.String())}} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(bc.data)))
			for b.Loop() {
				cfg, err := Parse("c.yaml", bc.data, env())
				if err != nil {
					b.Fatal(err)
				}
				sink = cfg
			}
		})
	}
}

func BenchmarkFilterSpecDecode(b *testing.B) {
	cfg, err := Parse("c.yaml", []byte(base+"routes: [{name: r, path: /, upstream: u, filters: [{name: f, config: {max_bytes: 64KiB, burst: 10, roles: [a, b]}}]}]\n"), env())
	if err != nil {
		b.Fatal(err)
	}
	fs := &cfg.Routes[0].Filters[0]
	b.ReportAllocs()
	for b.Loop() {
		var v limitConfig
		if err := fs.Decode(&v); err != nil {
			b.Fatal(err)
		}
		sink = v
	}
}
