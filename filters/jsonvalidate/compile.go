package jsonvalidate

import (
	"errors"
	"fmt"
	"hash/maphash"
	"regexp"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Draft202012 is the only $schema value accepted.
const Draft202012 = "https://json-schema.org/draft/2020-12/schema"

// annotations are keywords with no effect on validation (JSON Schema
// 2020-12 Validation §9 and Core §8.3); they are accepted and ignored.
var annotations = map[string]bool{
	"title": true, "description": true, "$comment": true, "default": true,
	"examples": true, "deprecated": true, "readOnly": true, "writeOnly": true,
}

// supported lists the keywords the compiler understands, for error texts.
const supported = "type, properties, required, additionalProperties, items, prefixItems, enum, const, " +
	"minimum, maximum, exclusiveMinimum, exclusiveMaximum, multipleOf, minLength, maxLength, pattern, " +
	"minItems, maxItems, uniqueItems, minProperties, maxProperties, format, $ref, $defs"

// maxSchemaDepth bounds schema nesting, which also stops YAML alias loops.
const maxSchemaDepth = 64

// compiler turns a schema document into the compiled form. Every problem is
// collected with its position; Compile returns them joined.
type compiler struct {
	file string // errors are positioned "file:line:col"
	name string // the filter name, in error texts
	errs []error
	h    hasher

	root      *yaml.Node
	rootPH    *schema
	defNodes  map[string]*yaml.Node
	defs      map[string]*schema
	resolving map[string]bool
}

// Schema is a compiled JSON Schema, ready to validate documents. It is
// immutable and safe for concurrent use.
type Schema struct {
	root *schema
	h    hasher
}

// Compile compiles a schema document (a YAML or JSON node tree). file is
// the name used in error positions; filter names the filter in them.
func Compile(doc *yaml.Node, file, filter string) (*Schema, error) {
	c := &compiler{
		file: file, name: filter,
		h:         hasher{seed: maphash.MakeSeed()},
		defNodes:  map[string]*yaml.Node{},
		defs:      map[string]*schema{},
		resolving: map[string]bool{},
	}
	n := deref(doc)
	if n != nil && n.Kind == yaml.DocumentNode && len(n.Content) > 0 {
		n = deref(n.Content[0])
	}
	if n == nil || n.Kind == 0 {
		return nil, fmt.Errorf("%s: filter %q: schema is empty", file, filter)
	}
	c.root = n
	c.rootPH = &schema{}
	if n.Kind == yaml.MappingNode {
		c.collectDefs(n)
	}
	s := c.compile(n, "", 0, true)
	if len(c.errs) > 0 {
		return nil, errors.Join(c.errs...)
	}
	*c.rootPH = *s
	return &Schema{root: c.rootPH, h: c.h}, nil
}

func deref(n *yaml.Node) *yaml.Node {
	for i := 0; n != nil && n.Kind == yaml.AliasNode && i < 16; i++ {
		n = n.Alias
	}
	return n
}

func (c *compiler) errorf(n *yaml.Node, ptr, format string, args ...any) {
	where := ptr
	if where == "" {
		where = "(root)"
	}
	c.errs = append(c.errs, fmt.Errorf("%s:%d:%d: filter %q: schema %s: %s", c.file, n.Line, n.Column, c.name, where, fmt.Sprintf(format, args...)))
}

// pairs returns a mapping's key/value nodes; keys must be scalars.
func (c *compiler) pairs(n *yaml.Node, ptr string) (keys []string, vals []*yaml.Node, keyNodes []*yaml.Node) {
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := deref(n.Content[i]), deref(n.Content[i+1])
		if k.Kind != yaml.ScalarNode || k.Tag == "!!merge" {
			c.errorf(k, ptr, "keys must be plain strings")
			continue
		}
		if seen[k.Value] {
			c.errorf(k, ptr, "duplicate key %q", k.Value)
			continue
		}
		seen[k.Value] = true
		keys, vals, keyNodes = append(keys, k.Value), append(vals, v), append(keyNodes, k)
	}
	return keys, vals, keyNodes
}

func (c *compiler) collectDefs(root *yaml.Node) {
	// Errors in these mappings are reported when compile walks them.
	for i := 0; i+1 < len(root.Content); i += 2 {
		if k := deref(root.Content[i]); k.Kind != yaml.ScalarNode || k.Value != "$defs" {
			continue
		}
		defs := deref(root.Content[i+1])
		if defs.Kind != yaml.MappingNode {
			c.errorf(defs, "/$defs", "want a mapping of names to schemas")
			return
		}
		for j := 0; j+1 < len(defs.Content); j += 2 {
			if name := deref(defs.Content[j]); name.Kind == yaml.ScalarNode {
				if _, dup := c.defNodes[name.Value]; !dup {
					c.defNodes[name.Value] = deref(defs.Content[j+1])
				}
			}
		}
	}
}

// pointerToken escapes a name for a JSON Pointer (RFC 6901).
func pointerToken(s string) string {
	return strings.NewReplacer("~", "~0", "/", "~1").Replace(s)
}

// ref resolves a local reference: "#" or "#/$defs/<name>".
func (c *compiler) ref(n *yaml.Node, ptr string, depth int) *schema {
	if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!str" {
		c.errorf(n, ptr, "$ref: want a string")
		return &schema{}
	}
	target := n.Value
	if target == "#" {
		return c.rootPH
	}
	name, ok := strings.CutPrefix(target, "#/$defs/")
	if !ok || strings.Contains(name, "/") {
		c.errorf(n, ptr, "$ref %q: only local references to \"#\" or \"#/$defs/<name>\" are supported", target)
		return &schema{}
	}
	name = strings.NewReplacer("~1", "/", "~0", "~").Replace(name)
	if s, ok := c.defs[name]; ok {
		return s
	}
	dn, ok := c.defNodes[name]
	if !ok {
		c.errorf(n, ptr, "$ref %q: no such definition in $defs", target)
		return &schema{}
	}
	if c.resolving[name] {
		c.errorf(n, ptr, "$ref %q: references form a cycle with no schema in between", target)
		return &schema{}
	}
	if r := pureRef(dn); r != nil {
		c.resolving[name] = true
		s := c.ref(r, "/$defs/"+pointerToken(name)+"/$ref", depth+1)
		delete(c.resolving, name)
		c.defs[name] = s
		return s
	}
	ph := &schema{}
	c.defs[name] = ph
	*ph = *c.compile(dn, "/$defs/"+pointerToken(name), depth+1, false)
	return ph
}

// pureRef returns the $ref value node when n is a mapping whose only
// validation keyword is $ref.
func pureRef(n *yaml.Node) *yaml.Node {
	if n.Kind != yaml.MappingNode {
		return nil
	}
	var r *yaml.Node
	for i := 0; i+1 < len(n.Content); i += 2 {
		k := deref(n.Content[i])
		switch {
		case k.Value == "$ref":
			r = deref(n.Content[i+1])
		case annotations[k.Value], k.Value == "$defs", k.Value == "$schema", k.Value == "$id":
			// Root-only keys are checked by compile.
		default:
			return nil
		}
	}
	return r
}

var typeNames = []struct {
	name string
	bit  uint8
}{
	{"null", tNull}, {"boolean", tBoolean}, {"object", tObject}, {"array", tArray},
	{"number", tNumber}, {"integer", tInteger}, {"string", tString},
}

// compile compiles the schema at n (JSON pointer ptr).
func (c *compiler) compile(n *yaml.Node, ptr string, depth int, root bool) *schema {
	if depth > maxSchemaDepth {
		c.errorf(n, ptr, "schema nesting is deeper than %d", maxSchemaDepth)
		return &schema{}
	}
	if n.Kind == yaml.ScalarNode && n.ShortTag() == "!!bool" {
		// Boolean schemas (Core §4.3.2).
		if n.Value == "true" || n.Value == "True" || n.Value == "TRUE" {
			return &schema{maxProps: -1, maxItems: -1, maxLength: -1}
		}
		return &schema{never: true, maxProps: -1, maxItems: -1, maxLength: -1}
	}
	if n.Kind != yaml.MappingNode {
		c.errorf(n, ptr, "want a schema (a mapping, true or false), got %s", describe(n))
		return &schema{}
	}
	keys, vals, keyNodes := c.pairs(n, ptr)
	if r := pureRef(n); r != nil {
		for i, k := range keys {
			if k == "$defs" || k == "$schema" || k == "$id" {
				c.rootOnly(k, vals[i], keyNodes[i], ptr, depth, root)
			}
		}
		return c.ref(r, ptr+"/$ref", depth)
	}
	s := &schema{maxProps: -1, maxItems: -1, maxLength: -1}
	var props, additional, items, prefix, required *yaml.Node
	for i, k := range keys {
		v := vals[i]
		at := ptr + "/" + pointerToken(k)
		switch k {
		case "$schema", "$id", "$defs":
			c.rootOnly(k, v, keyNodes[i], ptr, depth, root)
		case "$ref":
			c.errorf(keyNodes[i], at, "$ref must be the only keyword of its schema (besides annotations); put the other keywords in the referenced definition")
		case "type":
			s.types = c.types(v, at)
		case "properties":
			props = v
		case "required":
			required = v
		case "additionalProperties":
			additional = v
		case "items":
			items = v
		case "prefixItems":
			prefix = v
		case "enum":
			if v.Kind != yaml.SequenceNode || len(v.Content) == 0 {
				c.errorf(v, at, "want a non-empty list")
				continue
			}
			for j, e := range v.Content {
				s.enum = append(s.enum, c.value(deref(e), at+"/"+strconv.Itoa(j)))
			}
		case "const":
			s.enum = append(s.enum, c.value(v, at))
		case "minimum":
			s.minimum = c.number(v, at)
		case "maximum":
			s.maximum = c.number(v, at)
		case "exclusiveMinimum":
			s.exclMinimum = c.number(v, at)
		case "exclusiveMaximum":
			s.exclMaximum = c.number(v, at)
		case "multipleOf":
			s.multipleOf = c.multiple(v, at)
		case "minLength":
			s.minLength = c.count(v, at)
		case "maxLength":
			s.maxLength = c.count(v, at)
		case "minItems":
			s.minItems = c.count(v, at)
		case "maxItems":
			s.maxItems = c.count(v, at)
		case "minProperties":
			s.minProps = c.count(v, at)
		case "maxProperties":
			s.maxProps = c.count(v, at)
		case "uniqueItems":
			if v.Kind != yaml.ScalarNode || v.ShortTag() != "!!bool" {
				c.errorf(v, at, "want true or false")
				continue
			}
			s.unique = v.Value == "true"
		case "pattern":
			if v.Kind != yaml.ScalarNode || v.ShortTag() != "!!str" {
				c.errorf(v, at, "want a string")
				continue
			}
			re, err := regexp.Compile(v.Value)
			if err != nil {
				c.errorf(v, at, "invalid pattern (RE2 syntax): %v", err)
				continue
			}
			s.pattern = re
			s.msg.pattern = "must match the pattern " + clip(v.Value, 64)
		case "format":
			f, ok := formatNames[v.Value]
			if v.Kind != yaml.ScalarNode || !ok {
				c.errorf(v, at, "unsupported format %q: want date-time, uuid or email", v.Value)
				continue
			}
			s.format = f
			s.msg.format = "must be a valid " + v.Value
		default:
			if annotations[k] {
				continue
			}
			c.errorf(keyNodes[i], at, "unsupported keyword %q (supported: %s)", k, supported)
		}
	}
	if props != nil {
		if props.Kind != yaml.MappingNode {
			c.errorf(props, ptr+"/properties", "want a mapping of property names to schemas")
		} else {
			names, subs, _ := c.pairs(props, ptr+"/properties")
			for j, name := range names {
				s.propNames = append(s.propNames, name)
				s.propSchemas = append(s.propSchemas, c.compile(subs[j], ptr+"/properties/"+pointerToken(name), depth+1, false))
				s.propAdditional = append(s.propAdditional, false)
			}
		}
	}
	if additional != nil {
		s.additional = c.compile(additional, ptr+"/additionalProperties", depth+1, false)
	}
	if required != nil {
		c.required(s, required, ptr+"/required")
	}
	if len(s.propNames) > 8 {
		s.propIndex = make(map[string]int, len(s.propNames))
		for i, name := range s.propNames {
			s.propIndex[name] = i
		}
	}
	if prefix != nil {
		if prefix.Kind != yaml.SequenceNode || len(prefix.Content) == 0 {
			c.errorf(prefix, ptr+"/prefixItems", "want a non-empty list of schemas")
		} else {
			for j, e := range prefix.Content {
				s.prefixItems = append(s.prefixItems, c.compile(deref(e), ptr+"/prefixItems/"+strconv.Itoa(j), depth+1, false))
			}
		}
	}
	if items != nil {
		s.items = c.compile(items, ptr+"/items", depth+1, false)
	}
	c.messages(s)
	return s
}

// rootOnly checks the keywords allowed only at the root: $schema (the
// dialect), $id (ignored: references are resolved against the document)
// and $defs (every definition is compiled, so errors in unused ones are
// reported too).
func (c *compiler) rootOnly(k string, v, keyNode *yaml.Node, ptr string, depth int, root bool) {
	at := ptr + "/" + k
	if !root {
		c.errorf(keyNode, at, "%s is only allowed at the root", k)
		return
	}
	switch k {
	case "$schema":
		if v.Value != Draft202012 && v.Value != Draft202012+"#" {
			c.errorf(v, at, "unsupported dialect %q: want %q", v.Value, Draft202012)
		}
	case "$defs":
		if v.Kind != yaml.MappingNode {
			return // reported by collectDefs
		}
		names, _, _ := c.pairs(v, at)
		for _, name := range names {
			c.ref(&yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: "#/$defs/" + pointerToken(name), Line: v.Line, Column: v.Column}, at, depth+1)
		}
	}
}

func (c *compiler) required(s *schema, n *yaml.Node, ptr string) {
	if n.Kind != yaml.SequenceNode {
		c.errorf(n, ptr, "want a list of property names")
		return
	}
	seen := map[string]bool{}
	var idx []int
	for _, e := range n.Content {
		e = deref(e)
		if e.Kind != yaml.ScalarNode || e.ShortTag() != "!!str" {
			c.errorf(e, ptr, "want a property name (string), got %s", describe(e))
			continue
		}
		if seen[e.Value] {
			c.errorf(e, ptr, "duplicate name %q", e.Value)
			continue
		}
		seen[e.Value] = true
		i := -1
		for j, name := range s.propNames {
			if name == e.Value {
				i = j
			}
		}
		if i < 0 {
			// Required but not described: its value is an additional
			// property.
			s.propNames = append(s.propNames, e.Value)
			s.propSchemas = append(s.propSchemas, nil)
			s.propAdditional = append(s.propAdditional, true)
			i = len(s.propNames) - 1
		}
		idx = append(idx, i)
	}
	s.required = make([]uint64, (len(s.propNames)+63)/64)
	for _, i := range idx {
		s.required[i/64] |= 1 << (uint(i) % 64)
	}
	s.nRequired = len(idx)
}

func (c *compiler) types(n *yaml.Node, ptr string) uint8 {
	var list []*yaml.Node
	switch n.Kind {
	case yaml.ScalarNode:
		list = []*yaml.Node{n}
	case yaml.SequenceNode:
		list = n.Content
		if len(list) == 0 {
			c.errorf(n, ptr, "want a type name or a non-empty list of type names")
		}
	default:
		c.errorf(n, ptr, "want a type name or a list of type names")
		return 0
	}
	var bits uint8
	for _, e := range list {
		e = deref(e)
		found := false
		for _, t := range typeNames {
			if e.Kind == yaml.ScalarNode && e.Value == t.name && e.ShortTag() == "!!str" {
				if bits&t.bit != 0 {
					c.errorf(e, ptr, "duplicate type %q", t.name)
				}
				bits |= t.bit
				found = true
			}
		}
		if !found {
			c.errorf(e, ptr, "unknown type %q: want null, boolean, object, array, number, integer or string", e.Value)
		}
	}
	return bits
}

// numberLiteral returns n's value when it is a JSON number.
func (c *compiler) numberLiteral(n *yaml.Node, ptr string) (string, bool) {
	tag := n.ShortTag()
	if n.Kind != yaml.ScalarNode || (tag != "!!int" && tag != "!!float") {
		c.errorf(n, ptr, "want a number, got %s", describe(n))
		return "", false
	}
	lit := strings.TrimPrefix(n.Value, "+")
	if lit == "" || scanNumber(lit, 0) != len(lit) {
		c.errorf(n, ptr, "number %q is not in JSON syntax", n.Value)
		return "", false
	}
	return lit, true
}

func (c *compiler) number(n *yaml.Node, ptr string) *decimal {
	lit, ok := c.numberLiteral(n, ptr)
	if !ok {
		return nil
	}
	d := parseDecimal(lit)
	return &d
}

func (c *compiler) multiple(n *yaml.Node, ptr string) *multiple {
	d := c.number(n, ptr)
	if d == nil {
		return nil
	}
	if d.neg || d.isZero() {
		c.errorf(n, ptr, "want a number greater than 0")
		return nil
	}
	if d.nd() > 18 {
		c.errorf(n, ptr, "multipleOf %q has more than 18 significant digits", n.Value)
		return nil
	}
	var m uint64
	for i := int64(0); i < d.nd(); i++ {
		m = m*10 + uint64(d.digit(i)-'0')
	}
	return &multiple{mant: m, exp: d.exp}
}

// count reads a non-negative integer keyword value.
func (c *compiler) count(n *yaml.Node, ptr string) int64 {
	d := c.number(n, ptr)
	if d == nil {
		return 0
	}
	if d.neg || !d.isInteger() || d.nd()+d.exp > 15 {
		c.errorf(n, ptr, "want a non-negative integer, got %s", n.Value)
		return 0
	}
	v, _ := strconv.ParseFloat(strings.TrimPrefix(n.Value, "+"), 64)
	return int64(v)
}

// value compiles an enum member or const.
func (c *compiler) value(n *yaml.Node, ptr string) value {
	switch n.Kind {
	case yaml.MappingNode:
		return value{types: tObject, hash: c.hash(n, ptr, 0)}
	case yaml.SequenceNode:
		return value{types: tArray, hash: c.hash(n, ptr, 0)}
	case yaml.ScalarNode:
		switch n.ShortTag() {
		case "!!null":
			return value{types: tNull}
		case "!!bool":
			return value{types: tBoolean, b: n.Value == "true" || n.Value == "True" || n.Value == "TRUE"}
		case "!!int", "!!float":
			lit, ok := c.numberLiteral(n, ptr)
			if !ok {
				return value{}
			}
			return value{types: tNumber, num: parseDecimal(lit)}
		case "!!str":
			return value{types: tString, s: n.Value}
		}
	}
	c.errorf(n, ptr, "want a JSON value, got %s", describe(n))
	return value{}
}

// hash computes the value hash of a composite enum member, as the
// validator computes it for instances.
func (c *compiler) hash(n *yaml.Node, ptr string, depth int) uint64 {
	n = deref(n)
	if depth > maxSchemaDepth {
		c.errorf(n, ptr, "value nesting is deeper than %d", maxSchemaDepth)
		return 0
	}
	switch n.Kind {
	case yaml.MappingNode:
		keys, vals, _ := c.pairs(n, ptr)
		var sum uint64
		for i, k := range keys {
			sum += member(c.h.str(k), c.hash(vals[i], ptr+"/"+pointerToken(k), depth+1))
		}
		return objectHash(sum, int64(len(keys)))
	case yaml.SequenceNode:
		var acc uint64
		for i, e := range n.Content {
			acc = element(acc, c.hash(e, ptr+"/"+strconv.Itoa(i), depth+1))
		}
		return arrayHash(acc, int64(len(n.Content)))
	}
	v := c.value(n, ptr)
	switch v.types {
	case tNull:
		return hashNull
	case tBoolean:
		if v.b {
			return hashTrue
		}
		return hashFalse
	case tNumber:
		return c.h.num(v.num)
	case tString:
		return c.h.str(v.s)
	}
	return 0
}

func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		if n.ShortTag() == "!!null" {
			return "null"
		}
		return strconv.Quote(clip(n.Value, 40))
	}
	return "an unsupported node"
}

func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// messages renders the refusal texts of s.
func (c *compiler) messages(s *schema) {
	if s.types != 0 {
		var names []string
		for _, t := range typeNames {
			if s.types&t.bit != 0 {
				names = append(names, t.name)
			}
		}
		s.msg.typ = "must be of type " + strings.Join(names, " or ")
	}
	if s.minimum != nil {
		s.msg.minimum = "must be ≥ " + s.minimum.String()
	}
	if s.maximum != nil {
		s.msg.maximum = "must be ≤ " + s.maximum.String()
	}
	if s.exclMinimum != nil {
		s.msg.exclMinimum = "must be > " + s.exclMinimum.String()
	}
	if s.exclMaximum != nil {
		s.msg.exclMaximum = "must be < " + s.exclMaximum.String()
	}
	if m := s.multipleOf; m != nil {
		d := decimal{a: strconv.FormatUint(m.mant, 10), exp: m.exp}
		s.msg.multipleOf = "must be a multiple of " + d.String()
	}
	s.msg.minLength = "must have at least " + plural(s.minLength, "character")
	s.msg.maxLength = "must have at most " + plural(s.maxLength, "character")
	s.msg.minItems = "must have at least " + plural(s.minItems, "item")
	s.msg.maxItems = "must have at most " + plural(s.maxItems, "item")
	s.msg.minProps = "must have at least " + plural(s.minProps, "property")
	s.msg.maxProps = "must have at most " + plural(s.maxProps, "property")
	if len(s.enum) == 1 {
		s.msg.enum = "must equal the const value"
	} else {
		s.msg.enum = "must be one of the " + strconv.Itoa(len(s.enum)) + " allowed values"
	}
	for _, e := range s.enum {
		if e.types == tObject || e.types == tArray {
			s.hashValues = true
		}
	}
}

// String formats d as a plain decimal or in exponent form, for messages.
func (d decimal) String() string {
	var b strings.Builder
	if d.neg {
		b.WriteByte('-')
	}
	digits := d.a + d.b
	if digits == "" {
		return "0"
	}
	switch {
	case d.exp >= 0 && d.exp <= 6:
		b.WriteString(digits)
		b.WriteString(strings.Repeat("0", int(d.exp)))
	case d.exp < 0 && -d.exp < int64(len(digits)):
		p := int64(len(digits)) + d.exp
		b.WriteString(digits[:p])
		b.WriteByte('.')
		b.WriteString(digits[p:])
	case d.exp < 0 && -d.exp-int64(len(digits)) <= 6:
		b.WriteString("0.")
		b.WriteString(strings.Repeat("0", int(-d.exp)-len(digits)))
		b.WriteString(digits)
	default:
		b.WriteString(digits)
		b.WriteByte('e')
		b.WriteString(strconv.FormatInt(d.exp, 10))
	}
	return b.String()
}

// plural renders "1 item", "2 items", "0 properties".
func plural(n int64, noun string) string {
	s := strconv.FormatInt(n, 10) + " "
	if n == 1 {
		return s + noun
	}
	if strings.HasSuffix(noun, "y") {
		return s + noun[:len(noun)-1] + "ies"
	}
	return s + noun + "s"
}
