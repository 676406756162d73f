package config

import (
	"go.yaml.in/yaml/v3"

	"github.com/tollgate-proxy/tollgate/internal/yamlpath"
)

// Position returns where the setting at path (such as
// "listeners[0].tls.cert" or "audit.signing_key_file") is written, as
// "file:line:col", or where its closest present ancestor is; tools such as
// `tollgate check` use it to position findings about a setting. It is the
// file name alone for a config built in code.
func (c *Config) Position(path string) string {
	p := c.origin.lookup(path)
	return formatPos(c.Path, p.line, p.col)
}

// NodePosition returns where n, a node inside the entry's config block, is
// written, as "file:line:col", with its column mapped back through ${ENV}
// substitution; tools use it to position findings about a filter's own
// settings.
func (f *FilterSpec) NodePosition(n *yaml.Node) string {
	p := f.origin.pos(n)
	file := ""
	if f.origin != nil {
		file = f.origin.file
	}
	return formatPos(file, p.line, p.col)
}

// PosOf returns where the setting rel, a path relative to the entry's
// config block such as "require_claims.tenant" or "policies[1].rate", is
// written, as "file:line:col"; when the setting is absent it is the
// position of its closest present ancestor, and the entry's own position
// when the block is empty. Filter constructors reach it through
// filters.Spec.At, so that each problem they find is reported at the key
// it names rather than at the entry.
func (f *FilterSpec) PosOf(rel string) string {
	if f.Config.Kind == 0 || isNull(&f.Config) {
		return f.Pos
	}
	n := yamlpath.Find(&f.Config, rel)
	if n == nil || n.Line == 0 {
		return f.Pos
	}
	return f.NodePosition(n)
}
