package router

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/tollgate-proxy/tollgate/filters"
)

// Route is one entry of the routing table as the config declares it.
type Route struct {
	// Host, when set, restricts the route to requests for that exact host
	// (ASCII case-insensitive; a port in the request's Host is ignored).
	Host string
	// Methods lists the methods the route serves; empty means every
	// method. GET implies HEAD unless another route on the same host and
	// pattern names HEAD itself.
	Methods []string
	// Pattern is the path template: literal segments, whole-segment
	// parameters such as {id}, and a final wildcard, either * or a named
	// rest such as {path...}.
	Pattern string
	// ID is the caller's route index, returned by Lookup.
	ID int
}

// Result is the outcome of a lookup.
type Result uint8

// Lookup outcomes.
const (
	// NotFound means no route matches the host and path.
	NotFound Result = iota
	// Found means a route matches the host, path and method.
	Found
	// MethodNotAllowed means some route matches the host and path, but
	// none of them serves the method.
	MethodNotAllowed
)

// String returns the result's name.
func (r Result) String() string {
	switch r {
	case Found:
		return "found"
	case MethodNotAllowed:
		return "method not allowed"
	default:
		return "not found"
	}
}

// Router is a compiled, immutable routing table. It is safe for concurrent
// use.
type Router struct {
	hosts   []hostTree // host-specific trees, tried before any
	any     *node      // the host-less tree, or nil
	methods filters.MethodTable
	// allowStd holds the Allow value of every set of standard methods,
	// indexed by mask; allowCustom holds those of the method sets of routes
	// that name custom methods.
	allowStd    [1 << filters.NumStdMethods][]byte
	allowCustom []maskAllow
}

type hostTree struct {
	name string // lower case, no port, no trailing dot
	root *node
}

type maskAllow struct {
	mask  uint64
	allow []byte
}

// node is one segment position in a tree. A path descends one node per
// segment; at each node a literal child beats the parameter child, which
// beats the wildcard.
type node struct {
	seg   string  // literal text of the segment leading here
	lits  []*node // literal children, sorted by seg
	param *node   // child for a {name} segment
	wild  *endpoint
	end   *endpoint // routes whose pattern ends at this node
}

// endpoint holds the routes that share one host and pattern shape.
type endpoint struct {
	entries []entry
	mask    uint64 // union of the entries' method masks
	all     bool   // some entry serves every method
}

type entry struct {
	id       int
	index    int      // position in the routes given to New
	desc     string   // "GET host/pattern", for errors
	explicit uint64   // methods named by the route
	mask     uint64   // explicit plus implied HEAD
	all      bool     // the route serves every method
	names    []string // parameter names in path order, then a named wildcard
}

type segKind uint8

const (
	segLit segKind = iota
	segParam
	segWild
)

type patSeg struct {
	kind segKind
	text string // literal text or parameter name ("" for a bare *)
}

// New compiles routes into a Router. It reports every invalid route and
// every conflict, each naming the route's index and pattern.
func New(routes []Route) (*Router, error) {
	r := &Router{}
	var errs []error
	var norm []byte
	for i, rt := range routes {
		fail := func(format string, args ...any) {
			errs = append(errs, fmt.Errorf("router: route %d (%q): %s", i, rt.Pattern, fmt.Sprintf(format, args...)))
		}
		host, err := canonicalHost(rt.Host)
		if err != nil {
			fail("%v", err)
			continue
		}
		e := entry{id: rt.ID, index: i, all: len(rt.Methods) == 0}
		for _, m := range rt.Methods {
			b, err := r.methods.Add(m)
			if err != nil {
				fail("%v", err)
				continue
			}
			e.explicit |= b
		}
		segs, names, err := parsePattern(rt.Pattern, &norm)
		if err != nil {
			fail("%v", err)
			continue
		}
		e.names = names
		e.desc = describe(rt, host)
		root := r.root(host)
		if err := insert(root, segs, e); err != nil {
			fail("%v", err)
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	r.finish()
	return r, nil
}

func describe(rt Route, host string) string {
	m := "*"
	if len(rt.Methods) > 0 {
		m = strings.Join(rt.Methods, ",")
	}
	return m + " " + host + rt.Pattern
}

// root returns the tree for host, creating it.
func (r *Router) root(host string) *node {
	if host == "" {
		if r.any == nil {
			r.any = &node{}
		}
		return r.any
	}
	for _, t := range r.hosts {
		if t.name == host {
			return t.root
		}
	}
	n := &node{}
	r.hosts = append(r.hosts, hostTree{name: host, root: n})
	return n
}

// canonicalHost validates a route's host and returns it lower-cased without
// a trailing dot.
func canonicalHost(h string) (string, error) {
	if h == "" {
		return "", nil
	}
	h = strings.ToLower(strings.TrimSuffix(h, "."))
	if strings.HasPrefix(h, "[") && strings.HasSuffix(h, "]") && len(h) > 2 {
		for _, c := range []byte(h[1 : len(h)-1]) {
			if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || c == ':' || c == '.') {
				return "", fmt.Errorf("invalid host %q", h)
			}
		}
		return h, nil
	}
	if h == "" {
		return "", fmt.Errorf("invalid host %q", h)
	}
	for _, c := range []byte(h) {
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '.' || c == '_') {
			return "", fmt.Errorf("invalid host %q (hosts are names or addresses without a port)", h)
		}
	}
	return h, nil
}

// parsePattern splits a pattern into segments and returns the names of its
// parameters in order. norm is scratch space for checking literals.
func parsePattern(p string, norm *[]byte) ([]patSeg, []string, error) {
	if !strings.HasPrefix(p, "/") {
		return nil, nil, errors.New("pattern does not start with a slash")
	}
	parts := strings.Split(p[1:], "/")
	segs := make([]patSeg, 0, len(parts))
	var names []string
	for k, s := range parts {
		last := k == len(parts)-1
		switch {
		case s == "*":
			if !last {
				return nil, nil, errors.New("wildcard is not the last segment")
			}
			segs = append(segs, patSeg{kind: segWild})
		case strings.HasPrefix(s, "{") || strings.HasSuffix(s, "}"):
			if len(s) < 2 || s[0] != '{' || s[len(s)-1] != '}' {
				return nil, nil, fmt.Errorf("invalid parameter segment %q", s)
			}
			name, rest := strings.CutSuffix(s[1:len(s)-1], "...")
			if !isIdent(name) {
				return nil, nil, fmt.Errorf("invalid parameter name in %q", s)
			}
			if slices.Contains(names, name) {
				return nil, nil, fmt.Errorf("duplicate parameter %q", name)
			}
			names = append(names, name)
			if len(names) > filters.MaxParams {
				return nil, nil, fmt.Errorf("more than %d parameters", filters.MaxParams)
			}
			if rest {
				if !last {
					return nil, nil, fmt.Errorf("wildcard %q is not the last segment", s)
				}
				segs = append(segs, patSeg{kind: segWild, text: name})
			} else {
				segs = append(segs, patSeg{kind: segParam, text: name})
			}
		default:
			if strings.ContainsAny(s, "{}") {
				return nil, nil, fmt.Errorf("invalid parameter segment %q", s)
			}
			if s == "" && !last {
				return nil, nil, errors.New("empty segment")
			}
			// A literal must already be in normalized form, or no
			// normalized path could ever match it.
			*norm = append((*norm)[:0], '/')
			*norm = append(*norm, s...)
			out, err := Normalize(nil, *norm)
			if err != nil {
				return nil, nil, fmt.Errorf("cannot use segment %q: %w", s, err)
			}
			if string(out) != string(*norm) {
				return nil, nil, fmt.Errorf("segment %q is not in normalized form %q", s, out[1:])
			}
			segs = append(segs, patSeg{kind: segLit, text: s})
		}
	}
	return segs, names, nil
}

// isIdent reports whether s is a letter or '_' followed by letters, digits
// and '_'.
func isIdent(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || c == '_' || i > 0 && '0' <= c && c <= '9') {
			return false
		}
	}
	return true
}

// insert adds e under root along segs.
func insert(root *node, segs []patSeg, e entry) error {
	n := root
	for _, s := range segs {
		switch s.kind {
		case segLit:
			n = n.litChild(s.text)
		case segParam:
			if n.param == nil {
				n.param = &node{}
			}
			n = n.param
		case segWild:
			if n.wild == nil {
				n.wild = &endpoint{}
			}
			return n.wild.add(e)
		}
	}
	if n.end == nil {
		n.end = &endpoint{}
	}
	return n.end.add(e)
}

// litChild returns n's literal child for seg, creating it in sorted order.
func (n *node) litChild(seg string) *node {
	i, found := slices.BinarySearchFunc(n.lits, seg, func(c *node, s string) int { return strings.Compare(c.seg, s) })
	if found {
		return n.lits[i]
	}
	c := &node{seg: seg}
	n.lits = slices.Insert(n.lits, i, c)
	return c
}

// add appends e, refusing overlapping methods and mismatched names.
func (ep *endpoint) add(e entry) error {
	for _, o := range ep.entries {
		if o.all || e.all || o.explicit&e.explicit != 0 {
			return fmt.Errorf("methods overlap with route %d (%s)", o.index, o.desc)
		}
		if !slices.Equal(o.names, e.names) {
			return fmt.Errorf("parameter names %q differ from those of route %d (%s) %q", e.names, o.index, o.desc, o.names)
		}
	}
	ep.entries = append(ep.entries, e)
	return nil
}

// finish derives implied methods and precomputes Allow values.
func (r *Router) finish() {
	for m := range r.allowStd {
		r.allowStd[m] = r.methods.AppendNames(nil, uint64(m), ", ")
	}
	visit := func(ep *endpoint) {
		var head uint64
		for _, e := range ep.entries {
			head |= e.explicit & filters.MethodHEAD
		}
		for k := range ep.entries {
			e := &ep.entries[k]
			e.mask = e.explicit
			if e.mask&filters.MethodGET != 0 && head == 0 {
				e.mask |= filters.MethodHEAD // RFC 9110 §9.3.2: HEAD is GET without a body
			}
			ep.mask |= e.mask
			ep.all = ep.all || e.all
		}
		if ep.mask >= 1<<filters.NumStdMethods && !slices.ContainsFunc(r.allowCustom, func(a maskAllow) bool { return a.mask == ep.mask }) {
			r.allowCustom = append(r.allowCustom, maskAllow{mask: ep.mask, allow: r.methods.AppendNames(nil, ep.mask, ", ")})
		}
	}
	if r.any != nil {
		walkEndpoints(r.any, visit)
	}
	for _, t := range r.hosts {
		walkEndpoints(t.root, visit)
	}
}

func walkEndpoints(n *node, f func(*endpoint)) {
	if n.end != nil {
		f(n.end)
	}
	if n.wild != nil {
		f(n.wild)
	}
	for _, c := range n.lits {
		walkEndpoints(c, f)
	}
	if n.param != nil {
		walkEndpoints(n.param, f)
	}
}

// Lookup finds the route for a request. path must be normalized (see
// Normalize); host is the request's Host header and may carry a port. The
// route's named parameters are stored in ps, which must not be nil and is
// reset first; their values are subslices of path (still percent-encoded as
// Normalize left them). id is the matched route's ID, or -1.
//
// Host-specific routes are tried before host-less ones. Within a tree, at
// each segment a literal beats a {param}, which beats a wildcard, with
// backtracking; the first route in that order that serves the method wins.
// A wildcard needs at least the '/' after its prefix: /static/* matches
// /static/ and /static/a/b, not /static. Its value is the rest of the path
// after that '/'. A bare * records no parameter.
//
// Lookup does not allocate.
func (r *Router) Lookup(host, method, path []byte, ps *filters.Params) (id int, res Result) {
	ps.Reset()
	if len(path) == 0 || path[0] != '/' {
		return -1, NotFound
	}
	w := walker{path: path, bit: r.methods.Bit(method)}
	if t := r.hostRoot(host); t != nil {
		if e := w.walk(t, 1); e != nil {
			w.fill(e, ps)
			return e.id, Found
		}
	}
	if r.any != nil {
		w.n = 0
		if e := w.walk(r.any, 1); e != nil {
			w.fill(e, ps)
			return e.id, Found
		}
	}
	if w.matched {
		return -1, MethodNotAllowed
	}
	return -1, NotFound
}

// Allow returns the Allow header value (RFC 9110 §10.2.1) listing the
// methods of every route that matches host and path, for a 405 response.
// It returns nil when no route matches or one serves every method. The
// result is shared and must not be modified. It does not allocate, except
// when routes naming different custom methods match the same path.
func (r *Router) Allow(host, path []byte) []byte {
	if len(path) == 0 || path[0] != '/' {
		return nil
	}
	w := walker{path: path, collect: true}
	if t := r.hostRoot(host); t != nil {
		w.walk(t, 1)
	}
	if r.any != nil {
		w.walk(r.any, 1)
	}
	if w.all || w.mask == 0 {
		return nil
	}
	if w.mask < 1<<filters.NumStdMethods {
		return r.allowStd[w.mask]
	}
	for _, a := range r.allowCustom {
		if a.mask == w.mask {
			return a.allow
		}
	}
	// Slow path: a union of custom method sets not seen at compile time.
	return r.methods.AppendNames(nil, w.mask, ", ")
}

// hostRoot returns the tree of the request's host, or nil. It strips a port
// and a trailing dot and compares ASCII case-insensitively.
func (r *Router) hostRoot(host []byte) *node {
	if len(r.hosts) == 0 || len(host) == 0 {
		return nil
	}
	if host[0] == '[' {
		for i, c := range host {
			if c == ']' {
				host = host[:i+1]
				break
			}
		}
	} else {
		for i, c := range host {
			if c == ':' {
				host = host[:i]
				break
			}
		}
	}
	if len(host) > 0 && host[len(host)-1] == '.' {
		host = host[:len(host)-1]
	}
	for _, t := range r.hosts {
		if equalFoldLower(host, t.name) {
			return t.root
		}
	}
	return nil
}

// equalFoldLower reports whether b equals the lower-case ASCII string s,
// ignoring ASCII case in b.
func equalFoldLower(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := 0; i < len(b); i++ {
		c := b[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != s[i] {
			return false
		}
	}
	return true
}

// walker is the per-lookup state; it lives on the caller's stack.
type walker struct {
	path    []byte
	bit     uint64
	n       int // captured values in vals
	vals    [filters.MaxParams + 1][]byte
	matched bool // some route matched the path but not the method
	// Allow mode: visit every matching endpoint and collect its methods.
	collect bool
	mask    uint64
	all     bool
}

// walk matches the segment starting at pos (just after a '/') against n's
// children and returns the first serving entry in precedence order. Each
// tree node is visited at most once, so a walk is linear in the tree size
// whatever the backtracking.
func (w *walker) walk(n *node, pos int) *entry {
	path := w.path
	end := pos
	for end < len(path) && path[end] != '/' {
		end++
	}
	seg := path[pos:end]
	if c := n.child(seg); c != nil {
		if e := w.step(c, end); e != nil {
			return e
		}
	}
	if n.param != nil && len(seg) > 0 && w.n < len(w.vals) {
		w.vals[w.n] = seg
		w.n++
		if e := w.step(n.param, end); e != nil {
			return e
		}
		w.n--
	}
	if n.wild != nil && w.n < len(w.vals) {
		w.vals[w.n] = path[pos:]
		w.n++
		if e := w.at(n.wild); e != nil {
			return e
		}
		w.n--
	}
	return nil
}

// step continues at child c after a segment ending at end.
func (w *walker) step(c *node, end int) *entry {
	if end == len(w.path) {
		if c.end != nil {
			return w.at(c.end)
		}
		return nil
	}
	return w.walk(c, end+1)
}

// at checks the method against an endpoint whose pattern matched.
func (w *walker) at(ep *endpoint) *entry {
	if w.collect {
		w.mask |= ep.mask
		w.all = w.all || ep.all
		return nil
	}
	for k := range ep.entries {
		if e := &ep.entries[k]; e.all || e.mask&w.bit != 0 {
			return e
		}
	}
	w.matched = true
	return nil
}

// fill stores e's parameters in ps.
func (w *walker) fill(e *entry, ps *filters.Params) {
	for k, name := range e.names {
		ps.Add(name, w.vals[k])
	}
}

// child returns n's literal child for seg, or nil.
func (n *node) child(seg []byte) *node {
	lits := n.lits
	if len(lits) <= 8 {
		for _, c := range lits {
			if c.seg == string(seg) {
				return c
			}
		}
		return nil
	}
	lo, hi := 0, len(lits)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if lits[m].seg < string(seg) {
			lo = m + 1
		} else {
			hi = m
		}
	}
	if lo < len(lits) && lits[lo].seg == string(seg) {
		return lits[lo]
	}
	return nil
}
