package rbac

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/tollgate-proxy/tollgate/filters"
)

// Config is the filter's config block.
type Config struct {
	// Roles maps each role name to the permissions it grants and the roles it inherits.
	Roles map[string]RoleConfig `yaml:"roles"`
	// Allow lists permissions granted to any verified principal by OAuth scopes alone, whatever its roles; each must list scopes.
	Allow []PermissionConfig `yaml:"allow"`
	// Subjects maps a verified subject to extra role names, added to those its credential carries.
	Subjects map[string][]Word `yaml:"subjects"`
	// MethodOverride is what to do with X-HTTP-Method-Override and similar headers: strip them (default) or authorize their methods too.
	MethodOverride string `yaml:"method_override"`
	// Challenge is the WWW-Authenticate value sent with a 401 when no verified identity reached the filter (default `Bearer realm="tollgate"`).
	Challenge string `yaml:"challenge"`
}

// RoleConfig is one role.
type RoleConfig struct {
	// Inherits lists roles whose permissions this role also has (transitively).
	Inherits []Word `yaml:"inherits"`
	// Allow lists the permissions the role grants.
	Allow []PermissionConfig `yaml:"allow"`
}

// PermissionConfig grants a set of methods on a set of path patterns.
type PermissionConfig struct {
	// Methods lists the methods granted ("*" for every method); GET implies HEAD.
	Methods []Word `yaml:"methods"`
	// Paths lists the path patterns granted: literal segments, {param} segments and a final *, {name...} or **.
	Paths []Word `yaml:"paths"`
	// Scopes lists OAuth scopes the principal must all hold for this permission to apply.
	Scopes []Word `yaml:"scopes"`
	// Conditions are extra checks a request must pass for this permission to apply.
	Conditions *ConditionsConfig `yaml:"conditions"`
}

// ConditionsConfig holds the conditions of a permission.
type ConditionsConfig struct {
	// TenantParam names a path parameter whose value must equal the principal's verified tenant.
	TenantParam string `yaml:"tenant_param"`
}

// Word is a scalar config value that remembers where it was written, so
// errors about it (an unknown role, a cycle, a bad pattern) point at it.
type Word struct {
	// Value is the scalar's text.
	Value string
	// Line and Column are its 1-based position, or 0 when unknown.
	Line, Column int
}

// UnmarshalYAML implements yaml.Unmarshaler.
func (w *Word) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!str" && n.ShortTag() != "!!int" && n.ShortTag() != "!!float" && n.ShortTag() != "!!bool" {
		return fmt.Errorf("line %d: want a string", n.Line)
	}
	*w = Word{Value: n.Value, Line: n.Line, Column: n.Column}
	return nil
}

// defaultChallenge is the 401 challenge when none is configured (RFC 9110
// §11.6.1 requires one; RFC 6750 §3 for the Bearer scheme).
const defaultChallenge = `Bearer realm="tollgate"`

// New builds the filter from its config entry: role names become bits of
// the configuration's shared role table, inheritance is resolved into each
// permission's role mask (cycles are refused), methods become bits and path
// patterns are compiled, so a request check is a scan of flat rules.
func New(spec filters.Spec) (filters.Filter, error) {
	return build(spec)
}

func build(spec filters.Spec) (*Filter, error) {
	cfg := Config{Challenge: defaultChallenge, MethodOverride: "strip"}
	// A decode error does not stop the checks: they run on what decoded
	// (a setting that failed keeps its default), so one run reports every
	// problem.
	var decodeErr error
	if spec.Decode != nil {
		decodeErr = spec.Decode(&cfg)
	}
	roles := spec.Roles
	if roles == nil {
		roles = filters.NewRoles()
	}
	scopes := spec.Scopes
	if scopes == nil {
		scopes = filters.NewRoles()
	}
	c := compiler{spec: spec, roles: roles, scopes: scopes, cfg: &cfg}
	if decodeErr != nil {
		c.errs = append(c.errs, decodeErr)
	}
	f := c.compile()
	if len(c.errs) > 0 {
		return nil, errors.Join(c.errs...)
	}
	f.m = newFilterMetrics(spec.Route)
	return f, nil
}

// compiler turns a Config into a Filter, collecting every error.
type compiler struct {
	spec   filters.Spec
	roles  *filters.Roles
	scopes *filters.Roles
	cfg    *Config
	errs   []error

	names []string       // role names, sorted
	bits  map[string]int // role name -> bit in the shared table
}

func (c *compiler) fail(w Word, format string, args ...any) {
	c.errs = append(c.errs, errorAt(c.spec, w, format, args...))
}

func (c *compiler) compile() *Filter {
	f := &Filter{challenge: []byte(c.cfg.Challenge)}
	switch c.cfg.MethodOverride {
	case "strip":
	case "authorize":
		f.override = true
	default:
		c.errs = append(c.errs, c.spec.Problem(fmt.Sprintf("method_override: want strip or authorize, got %q", c.cfg.MethodOverride)))
	}
	if len(c.cfg.Roles) == 0 && len(c.cfg.Allow) == 0 {
		c.errs = append(c.errs, c.spec.Problem(fmt.Sprintf("roles: at least one role or scope permission is required (the filter denies by default)")))
		return f
	}
	if strings.TrimSpace(c.cfg.Challenge) == "" || strings.ContainsAny(c.cfg.Challenge, "\r\n\x00") {
		c.errs = append(c.errs, c.spec.Problem(fmt.Sprintf("challenge: want a WWW-Authenticate value such as %q", defaultChallenge)))
	}

	// Role names to bits, in sorted order so bits do not depend on map
	// iteration.
	c.names = make([]string, 0, len(c.cfg.Roles))
	for name := range c.cfg.Roles {
		c.names = append(c.names, name)
	}
	slices.Sort(c.names)
	c.bits = make(map[string]int, len(c.names))
	for _, name := range c.names {
		if strings.TrimSpace(name) == "" {
			c.errs = append(c.errs, c.spec.Problem(fmt.Sprintf("roles: empty role name")))
			continue
		}
		bit, err := c.roles.Intern(name)
		if err != nil {
			c.errs = append(c.errs, c.spec.Problem(fmt.Sprintf("roles.%s: %v", name, err)))
			continue
		}
		c.bits[name] = bit
	}

	closure := c.inheritance()
	// holders[r] is the set of roles that hold r's permissions: r itself
	// and every role inheriting it, directly or not.
	holders := make(map[string]filters.RoleSet, len(c.names))
	for _, name := range c.names {
		for r := range closure[name] {
			if bit, ok := c.bits[name]; ok {
				holders[r] |= 1 << uint(bit)
			}
		}
	}

	for _, name := range c.names {
		rc := c.cfg.Roles[name]
		for i, pc := range rc.Allow {
			c.permission(f, "roles."+name+".allow["+strconv.Itoa(i)+"]", name, pc, holders[name])
		}
	}
	// Scope-only permissions come last: a role's own grant decides first.
	for i, pc := range c.cfg.Allow {
		where := "allow[" + strconv.Itoa(i) + "]"
		if len(pc.Scopes) == 0 {
			c.errs = append(c.errs, c.spec.Problem(fmt.Sprintf("%s.scopes: a permission outside roles must list the scopes it requires (it would grant every verified principal)", where)))
			continue
		}
		c.permission(f, where, "", pc, 0)
	}

	if len(c.cfg.Subjects) > 0 {
		f.subjects = make(map[string]filters.RoleSet, len(c.cfg.Subjects))
		subjects := make([]string, 0, len(c.cfg.Subjects))
		for subj := range c.cfg.Subjects {
			subjects = append(subjects, subj)
		}
		slices.Sort(subjects)
		for _, subj := range subjects {
			rs := c.cfg.Subjects[subj]
			if subj == "" {
				c.errs = append(c.errs, c.spec.Problem(fmt.Sprintf("subjects: empty subject")))
				continue
			}
			var set filters.RoleSet
			for _, w := range rs {
				bit, ok := c.bits[w.Value]
				if !ok {
					c.fail(w, "subjects.%s: unknown role %q (define it under roles)", subj, w.Value)
					continue
				}
				set |= 1 << uint(bit)
			}
			f.subjects[subj] = set
		}
	}
	return f
}

// inheritance resolves every role's transitive inherits into a set of role
// names (the role itself included), refusing unknown roles and cycles.
func (c *compiler) inheritance() map[string]map[string]bool {
	const (
		unvisited = iota
		visiting
		done
	)
	state := make(map[string]int, len(c.names))
	closure := make(map[string]map[string]bool, len(c.names))
	var stack []string
	var visit func(name string)
	visit = func(name string) {
		state[name] = visiting
		stack = append(stack, name)
		set := map[string]bool{name: true}
		for _, w := range c.cfg.Roles[name].Inherits {
			parent := w.Value
			if _, ok := c.cfg.Roles[parent]; !ok {
				c.fail(w, "roles.%s.inherits: unknown role %q", name, parent)
				continue
			}
			switch state[parent] {
			case visiting:
				i := slices.Index(stack, parent)
				cycle := append(slices.Clone(stack[i:]), parent)
				c.fail(w, "roles.%s.inherits: inheritance cycle %s", name, strings.Join(cycle, " -> "))
				continue
			case unvisited:
				visit(parent)
			}
			for r := range closure[parent] {
				set[r] = true
			}
		}
		stack = stack[:len(stack)-1]
		state[name] = done
		closure[name] = set
	}
	for _, name := range c.names {
		if state[name] == unvisited {
			visit(name)
		}
	}
	return closure
}

// permission compiles one allow entry into rules, one per path. role is
// the declaring role, or "" for a scope-only permission, which any
// verified principal holding its scopes is granted.
func (c *compiler) permission(f *Filter, where, role string, pc PermissionConfig, holders filters.RoleSet) {
	if len(pc.Methods) == 0 {
		c.errs = append(c.errs, c.spec.Problem(fmt.Sprintf("%s.methods: list at least one method (\"*\" for every method)", where)))
	}
	if len(pc.Paths) == 0 {
		c.errs = append(c.errs, c.spec.Problem(fmt.Sprintf("%s.paths: list at least one path pattern (\"/**\" for every path)", where)))
	}
	var methods uint64
	for _, w := range pc.Methods {
		b := allMethods
		var err error
		if w.Value != "*" {
			b, err = f.methods.Add(w.Value)
		}
		if err != nil {
			c.fail(w, "%s.methods: %v", where, err)
			continue
		}
		methods |= b
	}
	if methods&filters.MethodGET != 0 {
		methods |= filters.MethodHEAD // RFC 9110 §9.3.2: HEAD is GET without the content
	}
	var scopes filters.RoleSet
	for _, w := range pc.Scopes {
		if !validScope(w.Value) {
			c.fail(w, "%s.scopes: want a scope token (RFC 6749 §3.3), got %q", where, w.Value)
			continue
		}
		bit, err := c.scopes.Intern(w.Value)
		if err != nil {
			c.fail(w, "%s.scopes: %v", where, err)
			continue
		}
		scopes |= 1 << uint(bit)
	}
	var tenant string
	if pc.Conditions != nil {
		tenant = pc.Conditions.TenantParam
		if !isIdent(tenant) {
			c.errs = append(c.errs, c.spec.Problem(fmt.Sprintf("%s.conditions.tenant_param: want a path parameter name, got %q", where, tenant)))
		}
	}
	for _, w := range pc.Paths {
		p, err := compilePattern(w.Value)
		if err != nil {
			c.fail(w, "%s.paths: cannot use pattern %q: %v", where, w.Value, err)
			continue
		}
		r := rule{roles: holders, anyRole: role == "", scopes: scopes, methods: methods, pat: p, capture: -1, role: role, line: w.Line, col: w.Column}
		if tenant != "" {
			r.tenantParam = tenant
			r.capture = p.param(tenant)
		}
		f.rules = append(f.rules, r)
		f.scopeOnly = f.scopeOnly || r.anyRole
	}
}

// validScope reports whether s is a scope token: RFC 6749 §3.3 allows
// %x21 / %x23-5B / %x5D-7E, that is printable ASCII without space, '"' or
// '\\'.
func validScope(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		b := s[i]
		if b < 0x21 || b > 0x7e || b == '"' || b == '\\' {
			return false
		}
	}
	return true
}

// errorAt returns a config error positioned at w when its position is
// known, else at the filter entry.
func errorAt(spec filters.Spec, w Word, format string, args ...any) error {
	if w.Line == 0 {
		return spec.Problem(fmt.Sprintf(format, args...))
	}
	return fmt.Errorf("%s:%d:%d: filter %q: %s", fileOf(spec.Pos), w.Line, w.Column, spec.Name, fmt.Sprintf(format, args...))
}

// fileOf strips ":line:col" from a "file:line:col" position.
func fileOf(pos string) string {
	for range 2 {
		i := strings.LastIndexByte(pos, ':')
		if i < 0 {
			return pos
		}
		if _, err := strconv.Atoi(pos[i+1:]); err != nil {
			return pos
		}
		pos = pos[:i]
	}
	return pos
}
