// Package yamlpath finds the node a setting path such as
// "policies[1].rate" or "require_claims.tenant" names inside a YAML tree.
//
// Filter constructors validate their settings after decoding and name the
// setting each problem is about by such a path; the config loader and the
// filter test helpers both turn that path back into a node, so that every
// problem is reported at the line and column of the key it names rather
// than at the filter entry. One walker serves both, so the two cannot
// disagree about what a path means.
package yamlpath

import (
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// maxDepth bounds the walk, so an alias cycle or an absurd path cannot
// make it spin.
const maxDepth = 64

// Find returns the value node that rel names under n, or, when a part of
// rel is absent, the node of its closest present ancestor; it returns n
// for an empty rel and nil for a nil n. A path part is a mapping key
// (".key") or a sequence index ("[i]"); a key may itself hold '.' or '[',
// and the longest key of the mapping that fits is taken. Aliases are
// followed.
func Find(n *yaml.Node, rel string) *yaml.Node {
	n = deref(n, 0)
	if n == nil {
		return nil
	}
	for depth := 0; rel != "" && depth < maxDepth; depth++ {
		var next *yaml.Node
		switch {
		case rel[0] == '[':
			end := strings.IndexByte(rel, ']')
			if end < 0 {
				return n
			}
			i, err := strconv.Atoi(rel[1:end])
			rel = rel[end+1:]
			if err != nil || n.Kind != yaml.SequenceNode || i < 0 || i >= len(n.Content) {
				return n
			}
			next = n.Content[i]
		default:
			rel = strings.TrimPrefix(rel, ".")
			if n.Kind != yaml.MappingNode {
				return n
			}
			key := -1
			for j := 0; j+1 < len(n.Content); j += 2 {
				if k := n.Content[j]; k.Kind == yaml.ScalarNode && len(k.Value) > key && isKeyOf(rel, k.Value) {
					next, key = n.Content[j+1], len(k.Value)
				}
			}
			if next == nil {
				return n
			}
			rel = rel[key:]
		}
		next = deref(next, 0)
		if next == nil {
			return n
		}
		n = next
	}
	return n
}

// isKeyOf reports whether key is the first part of rel: a prefix that
// ends where rel does or at a '.' or '['. Find takes the longest key of a
// mapping that is, so a key that holds dots or brackets itself (a claim
// path such as "https://x.com/roles", a query parameter "page[size]") is
// found under its own name, the one the error message shows.
func isKeyOf(rel, key string) bool {
	return strings.HasPrefix(rel, key) && (len(rel) == len(key) || rel[len(key)] == '.' || rel[len(key)] == '[')
}

// deref unwraps document and alias nodes.
func deref(n *yaml.Node, depth int) *yaml.Node {
	for ; n != nil && depth < maxDepth; depth++ {
		switch {
		case n.Kind == yaml.DocumentNode && len(n.Content) == 1:
			n = n.Content[0]
		case n.Kind == yaml.AliasNode && n.Alias != nil:
			n = n.Alias
		default:
			return n
		}
	}
	return n
}
