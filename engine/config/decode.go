package config

import (
	"encoding"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// maxNodeVisits bounds the work of one decode. Aliases can make a small file
// expand without limit ("billion laughs"); a real config visits a few
// thousand nodes.
const maxNodeVisits = 1 << 20

// origin is where a decoded config came from: the file, the column map of
// its environment substitutions, and, for the top-level config, the position
// of every setting and which settings failed to decode. Validate uses it to
// position its errors and to stay quiet about settings already reported.
type origin struct {
	file   string
	cols   colMap
	at     map[string]position
	failed map[string]bool
}

type position struct{ line, col int }

// pos returns the file position of n.
func (o *origin) pos(n *yaml.Node) position {
	if o == nil {
		return position{n.Line, n.Column}
	}
	return position{n.Line, o.cols.orig(n.Line, n.Column)}
}

// lookup returns the position of the setting at path or, when the setting is
// absent, of its closest present ancestor.
func (o *origin) lookup(path string) position {
	if o == nil || o.at == nil {
		return position{}
	}
	for {
		if p, ok := o.at[path]; ok {
			return p
		}
		if path == "" {
			return position{}
		}
		path = parentPath(path)
	}
}

// suppressed reports whether path or one of its ancestors failed to decode,
// so that a semantic error about it would only repeat the decode error.
func (o *origin) suppressed(path string) bool {
	if o == nil || len(o.failed) == 0 {
		return false
	}
	for {
		if o.failed[path] {
			return true
		}
		if path == "" {
			return false
		}
		path = parentPath(path)
	}
}

// parentPath strips the last ".key" or "[i]" from path.
func parentPath(path string) string {
	i := strings.LastIndexAny(path, ".[")
	if i < 0 {
		return ""
	}
	return path[:i]
}

func fieldPath(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func indexPath(path string, i int) string {
	return path + "[" + strconv.Itoa(i) + "]"
}

// decoder decodes a yaml.Node tree into Go values strictly: unknown keys,
// duplicate keys and values of the wrong type are errors, and it goes on
// after each one so that a single run reports them all.
type decoder struct {
	o      *origin
	errs   []error
	visits int
	active map[*yaml.Node]bool // anchors being decoded, to refuse cycles
}

func newDecoder(o *origin) *decoder {
	return &decoder{o: o, active: map[*yaml.Node]bool{}}
}

func (d *decoder) errorAt(n *yaml.Node, path, msg string) {
	p := d.o.pos(n)
	file := ""
	if d.o != nil {
		file = d.o.file
	}
	d.errs = append(d.errs, &Error{File: file, Line: p.line, Col: p.col, Path: path, Msg: msg})
}

// fail reports a value that could not be decoded and remembers its path.
func (d *decoder) fail(n *yaml.Node, path, msg string) {
	d.errorAt(n, path, msg)
	if d.o != nil && d.o.failed != nil {
		d.o.failed[path] = true
	}
}

var (
	yamlNodeType      = reflect.TypeFor[yaml.Node]()
	durationType      = reflect.TypeFor[time.Duration]()
	unmarshalerType   = reflect.TypeFor[yaml.Unmarshaler]()
	textUnmarshalType = reflect.TypeFor[encoding.TextUnmarshaler]()
	lineNumberPrefix  = regexp.MustCompile(`^(yaml: )?line \d+: `)
)

// spend counts a visit to n and reports false, with an error the first
// time, once the budget is spent.
func (d *decoder) spend(n *yaml.Node, path string) bool {
	d.visits++
	if d.visits == maxNodeVisits {
		d.fail(n, path, "cannot decode: the document expands to more than "+strconv.Itoa(maxNodeVisits)+" nodes through aliases")
	}
	return d.visits < maxNodeVisits
}

// decode stores n into v, reporting problems under path.
func (d *decoder) decode(n *yaml.Node, path string, v reflect.Value) {
	if !d.spend(n, path) {
		return
	}
	if d.o != nil && d.o.at != nil {
		if _, ok := d.o.at[path]; !ok {
			d.o.at[path] = d.o.pos(n)
		}
	}
	switch n.Kind {
	case yaml.DocumentNode:
		if len(n.Content) > 0 {
			d.decode(n.Content[0], path, v)
		}
		return
	case yaml.AliasNode:
		a := n.Alias
		if a == nil {
			d.fail(n, path, "cannot resolve alias *"+n.Value)
			return
		}
		if d.active[a] {
			d.fail(n, path, "alias *"+n.Value+" refers to a node that contains it")
			return
		}
		d.active[a] = true
		d.decode(a, path, v)
		delete(d.active, a)
		return
	}
	if v.Type() == yamlNodeType {
		v.Set(reflect.ValueOf(*n))
		return
	}
	if isNull(n) {
		// As in yaml.v3: null clears a pointer, slice, map or interface and
		// leaves any other value as it was (a filter's default survives
		// "burst: ~").
		switch v.Kind() {
		case reflect.Pointer, reflect.Slice, reflect.Map, reflect.Interface:
			v.SetZero()
		}
		return
	}
	if v.Kind() == reflect.Pointer {
		if v.IsNil() {
			v.Set(reflect.New(v.Type().Elem()))
		}
		d.decode(n, path, v.Elem())
		return
	}
	if v.CanAddr() {
		pv := v.Addr()
		if pv.Type().Implements(unmarshalerType) {
			if err := pv.Interface().(yaml.Unmarshaler).UnmarshalYAML(n); err != nil {
				d.fail(n, path, lineNumberPrefix.ReplaceAllString(err.Error(), ""))
			}
			return
		}
		if n.Kind == yaml.ScalarNode && pv.Type().Implements(textUnmarshalType) {
			if err := pv.Interface().(encoding.TextUnmarshaler).UnmarshalText([]byte(n.Value)); err != nil {
				d.fail(n, path, "invalid value "+quote(n.Value)+": "+err.Error())
			}
			return
		}
	}
	if v.Type() == durationType {
		if n.Kind != yaml.ScalarNode {
			d.fail(n, path, "want a duration such as \"30s\", got "+describe(n))
			return
		}
		t, err := time.ParseDuration(n.Value)
		if err != nil {
			d.fail(n, path, "invalid duration "+quote(n.Value)+": want a value such as \"30s\" or \"250ms\"")
			return
		}
		v.SetInt(int64(t))
		return
	}
	switch v.Kind() {
	case reflect.Struct:
		d.decodeStruct(n, path, v)
	case reflect.Map:
		d.decodeMap(n, path, v)
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			d.fail(n, path, "want a list, got "+describe(n))
			return
		}
		s := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
		for i, e := range n.Content {
			d.decode(e, indexPath(path, i), s.Index(i))
		}
		v.Set(s)
	case reflect.Array:
		if n.Kind != yaml.SequenceNode || len(n.Content) != v.Len() {
			d.fail(n, path, "want a list of "+strconv.Itoa(v.Len())+" items, got "+describe(n))
			return
		}
		for i, e := range n.Content {
			d.decode(e, indexPath(path, i), v.Index(i))
		}
	case reflect.String:
		if n.Kind != yaml.ScalarNode {
			d.fail(n, path, "want a string, got "+describe(n))
			return
		}
		v.SetString(n.Value)
	case reflect.Bool:
		var b bool
		if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!bool" || n.Decode(&b) != nil {
			d.fail(n, path, "want true or false, got "+describe(n))
			return
		}
		v.SetBool(b)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		var i int64
		if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!int" || n.Decode(&i) != nil || v.OverflowInt(i) {
			d.fail(n, path, "want an integer in range, got "+describe(n))
			return
		}
		v.SetInt(i)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		var u uint64
		if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!int" || n.Decode(&u) != nil || v.OverflowUint(u) {
			d.fail(n, path, "want a non-negative integer in range, got "+describe(n))
			return
		}
		v.SetUint(u)
	case reflect.Float32, reflect.Float64:
		var f float64
		tag := n.ShortTag()
		if n.Kind != yaml.ScalarNode || (tag != "!!int" && tag != "!!float") || n.Decode(&f) != nil || v.OverflowFloat(f) {
			d.fail(n, path, "want a number, got "+describe(n))
			return
		}
		v.SetFloat(f)
	case reflect.Interface:
		if v.NumMethod() != 0 {
			d.fail(n, path, "cannot decode into Go type "+v.Type().String())
			return
		}
		var x any
		if err := n.Decode(&x); err != nil {
			msg := strings.Join(strings.Fields(strings.ReplaceAll(err.Error(), "yaml: unmarshal errors:", "")), " ")
			d.fail(n, path, "cannot decode: "+lineNumberPrefix.ReplaceAllString(msg, ""))
			return
		}
		if x == nil {
			v.SetZero()
			return
		}
		v.Set(reflect.ValueOf(x))
	default:
		d.fail(n, path, "cannot decode into Go type "+v.Type().String())
	}
}

// pair is one key/value of a mapping, after merge keys are expanded.
type pair struct{ key, val *yaml.Node }

// pairs returns the entries of mapping n: its own keys, then the keys pulled
// in with "<<: *anchor" that it does not override (YAML merge keys). A key
// written twice, or a key that is not a scalar, is an error.
func (d *decoder) pairs(n *yaml.Node, path string) []pair {
	var own, merged []pair
	seen := map[string]*yaml.Node{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		if isMerge(k) {
			merged = append(merged, d.mergeSources(val, path)...)
			continue
		}
		if k.Kind != yaml.ScalarNode {
			d.fail(k, path, "want a scalar key, got "+describe(k))
			continue
		}
		if first, ok := seen[k.Value]; ok {
			fp := d.o.pos(first)
			d.errorAt(k, path, "duplicate key "+quote(k.Value)+" (first defined at line "+strconv.Itoa(fp.line)+")")
			continue
		}
		seen[k.Value] = k
		own = append(own, pair{k, val})
	}
	for _, p := range merged {
		if _, ok := seen[p.key.Value]; !ok {
			seen[p.key.Value] = p.key
			own = append(own, p)
		}
	}
	return own
}

// mergeSources returns the pairs that the value of a merge key brings in: a
// mapping, an alias to one, or a list of those (earlier ones win).
func (d *decoder) mergeSources(n *yaml.Node, path string) []pair {
	if !d.spend(n, path) {
		return nil
	}
	switch n.Kind {
	case yaml.AliasNode:
		a := n.Alias
		if a == nil || d.active[a] {
			d.fail(n, path, "alias *"+n.Value+" refers to a node that contains it")
			return nil
		}
		d.active[a] = true
		defer delete(d.active, a)
		return d.mergeSources(a, path)
	case yaml.MappingNode:
		return d.pairs(n, path)
	case yaml.SequenceNode:
		var out []pair
		for _, e := range n.Content {
			if e.Kind == yaml.SequenceNode {
				d.fail(e, path, "want a mapping to merge, got "+describe(e))
				continue
			}
			out = append(out, d.mergeSources(e, path)...)
		}
		return out
	}
	d.fail(n, path, "want a mapping to merge, got "+describe(n))
	return nil
}

// field is a settable struct field: its index path and key.
type field struct {
	key   string
	index []int
}

// structFields lists the keys of struct type t the way yaml.v3 names them:
// the yaml tag's name, or the lower-cased field name; "-" skips a field and
// ",inline" flattens an embedded struct.
func structFields(t reflect.Type, prefix []int, out []field) []field {
	for i := 0; i < t.NumField(); i++ {
		sf := t.Field(i)
		if !sf.IsExported() {
			continue
		}
		tag := sf.Tag.Get("yaml")
		if tag == "-" {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		idx := append(append([]int(nil), prefix...), i)
		if strings.Contains(","+opts+",", ",inline,") && sf.Type.Kind() == reflect.Struct {
			out = structFields(sf.Type, idx, out)
			continue
		}
		if name == "" {
			name = strings.ToLower(sf.Name)
		}
		out = append(out, field{key: name, index: idx})
	}
	return out
}

func (d *decoder) decodeStruct(n *yaml.Node, path string, v reflect.Value) {
	if n.Kind != yaml.MappingNode {
		d.fail(n, path, "want a mapping, got "+describe(n))
		return
	}
	fields := structFields(v.Type(), nil, nil)
	for _, p := range d.pairs(n, path) {
		f, ok := findField(fields, p.key.Value)
		if !ok {
			d.errorAt(p.key, path, "unknown key "+quote(p.key.Value)+suggest(p.key.Value, fields))
			continue
		}
		d.decode(p.val, fieldPath(path, f.key), v.FieldByIndex(f.index))
	}
}

func findField(fields []field, key string) (field, bool) {
	for _, f := range fields {
		if f.key == key {
			return f, true
		}
	}
	return field{}, false
}

func (d *decoder) decodeMap(n *yaml.Node, path string, v reflect.Value) {
	if n.Kind != yaml.MappingNode {
		d.fail(n, path, "want a mapping, got "+describe(n))
		return
	}
	t := v.Type()
	if v.IsNil() {
		v.Set(reflect.MakeMap(t))
	}
	for _, p := range d.pairs(n, path) {
		sub := fieldPath(path, p.key.Value)
		k := reflect.New(t.Key()).Elem()
		d.decode(p.key, sub, k)
		e := reflect.New(t.Elem()).Elem()
		d.decode(p.val, sub, e)
		v.SetMapIndex(k, e)
	}
}

func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
}

func isMerge(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.Value == "<<" && n.ShortTag() == "!!merge"
}

// describe names what n is, for "want X, got Y" messages.
func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.AliasNode:
		return "an alias"
	case yaml.ScalarNode:
		s := n.Value
		if len(s) > 40 {
			s = s[:40] + "..."
		}
		return quote(s)
	}
	return "nothing"
}

// suggest returns ` (did you mean "x"?)` when a known key is a likely
// intended spelling of key.
func suggest(key string, fields []field) string {
	best, bestDist := "", 3
	if len(key) < 4 {
		bestDist = 2
	}
	for _, f := range fields {
		if d := editDistance(key, f.key, bestDist); d < bestDist {
			best, bestDist = f.key, d
		}
	}
	if best == "" {
		return ""
	}
	return " (did you mean " + quote(best) + "?)"
}

// editDistance returns the Levenshtein distance between a and b, or limit
// when it is at least limit.
func editDistance(a, b string, limit int) int {
	if len(a) > 64 || len(b) > 64 {
		return limit
	}
	if d := len(a) - len(b); d >= limit || -d >= limit {
		return limit
	}
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return min(prev[len(b)], limit)
}
