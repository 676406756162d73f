package config

import "go.yaml.in/yaml/v3"

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
