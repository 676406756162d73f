package lint

import (
	"crypto/tls"
	"errors"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/mod/sumdb/note"

	"github.com/tollgate-proxy/tollgate/engine"
	"github.com/tollgate-proxy/tollgate/engine/config"
	"github.com/tollgate-proxy/tollgate/filters"
	"github.com/tollgate-proxy/tollgate/filters/all"
)

// Severity says whether a finding stops the config from starting.
type Severity string

// Severities.
const (
	SeverityError   Severity = "error"
	SeverityWarning Severity = "warning"
)

// Finding is one problem, positioned in the config file.
type Finding struct {
	// File is the config file (or the file the problem is in).
	File string `json:"file"`
	// Line and Col are 1-based.
	Line int `json:"line"`
	Col  int `json:"col"`
	// Severity is "error" or "warning".
	Severity Severity `json:"severity"`
	// Kind names the check, such as "broad-write"; "config" for errors.
	Kind string `json:"kind"`
	// Message says what is wrong, in lower case, on one line.
	Message string `json:"message"`
}

// String formats f as one line: "file:line:col: message" for an error,
// "file:line:col: warning: message [kind]" for a warning.
func (f Finding) String() string {
	if f.Severity == SeverityWarning {
		return fmt.Sprintf("%s:%d:%d: warning: %s [%s]", f.File, f.Line, f.Col, f.Message, f.Kind)
	}
	return fmt.Sprintf("%s:%d:%d: %s", f.File, f.Line, f.Col, f.Message)
}

// Options configure a check.
type Options struct {
	// Path is the config file.
	Path string
	// Registry is the filter registry; nil means the built-in one.
	Registry filters.Registry
}

// Report is the outcome of a check.
type Report struct {
	// Findings are sorted by position, errors and warnings mixed.
	Findings []Finding
	// Config is the decoded config, or nil when the file did not parse.
	Config *config.Config
	// Routes is the number of routes compiled (0 when there are errors).
	Routes int
}

// Errors counts the error findings.
func (r *Report) Errors() int { return r.count(SeverityError) }

// Warnings counts the warning findings.
func (r *Report) Warnings() int { return r.count(SeverityWarning) }

func (r *Report) count(s Severity) int {
	n := 0
	for _, f := range r.Findings {
		if f.Severity == s {
			n++
		}
	}
	return n
}

// Run checks the config at opts.Path: it decodes and validates it, builds
// every filter and the router as `run` would, reads every file the config
// names, and when all that succeeds, looks for policy warnings.
func Run(opts Options) *Report {
	c := &checker{file: opts.Path, seen: map[string]bool{}, builtin: map[string]bool{}}
	reg := opts.Registry
	if reg == nil {
		reg = all.Registry()
		// Only then are filter names known to mean the built-in filters.
		for _, r := range reg {
			c.builtin[r.Name] = true
		}
	}
	cfg, err := config.Check(opts.Path)
	c.cfg = cfg
	rep := &Report{Config: cfg}
	if cfg == nil {
		c.errs(err)
		rep.Findings = c.sorted()
		return rep
	}
	c.files()
	if err != nil {
		// The file parsed but has invalid settings: report the filters'
		// own errors too, so one run lists everything to fix.
		c.errs(err)
		c.errs(engine.CheckFilters(cfg, reg))
		rep.Findings = c.sorted()
		return rep
	}
	rt, err := engine.Compile(cfg, reg, 1, nil, nil)
	if err != nil {
		c.errs(err)
		rep.Findings = c.sorted()
		return rep
	}
	var h engine.Holder
	h.Swap(rt)
	defer h.Close()
	rep.Routes = len(rt.Routes)
	if len(c.out) == 0 {
		c.warnings(rt)
	}
	rep.Findings = c.sorted()
	return rep
}

// checker collects findings.
type checker struct {
	file string
	cfg  *config.Config
	out  []Finding
	seen map[string]bool
	// builtin names the filters check knows the behaviour of: the
	// built-in registry's, unless Options.Registry replaced it.
	builtin map[string]bool
}

// add records a finding at pos ("file:line:col", "file:line" or "file"),
// once.
func (c *checker) add(pos string, sev Severity, kind, msg string) {
	f := Finding{Severity: sev, Kind: kind, Message: oneLine(msg)}
	f.File, f.Line, f.Col = splitPos(pos)
	if f.File == "" {
		f.File = c.file
	}
	if f.Line == 0 {
		f.Line = 1
	}
	if f.Col == 0 {
		f.Col = 1
	}
	key := f.String()
	if c.seen[key] {
		return
	}
	c.seen[key] = true
	c.out = append(c.out, f)
}

func (c *checker) warn(pos, kind, format string, args ...any) {
	c.add(pos, SeverityWarning, kind, fmt.Sprintf(format, args...))
}

// routeErr is how the router names a route: by its index.
var routeErr = regexp.MustCompile(`^router: route (\d+) \("(?:[^"\\]|\\.)*"\): `)

// errs records every leaf of a tree of joined errors as an error finding,
// positioned by the error's own "file:line:col: " prefix or, for errors
// that name a route by index (the router's), by the route.
func (c *checker) errs(err error) {
	for _, e := range config.Leaves(err) {
		msg := e.Error()
		pos := ""
		var ce *config.Error
		switch {
		case errors.As(e, &ce) && ce.Line > 0:
			pos = ce.Pos()
			msg = ce.Msg
			if ce.Path != "" {
				msg = ce.Path + ": " + msg
			}
		default:
			pos, msg = c.cutPos(msg)
		}
		if m := routeErr.FindStringSubmatch(msg); m != nil && c.cfg != nil {
			if i, _ := strconv.Atoi(m[1]); i < len(c.cfg.Routes) {
				pos = c.cfg.Routes[i].Pos
				msg = "routes[" + m[1] + "] (" + c.cfg.Routes[i].Name + "): " + msg[len(m[0]):]
			}
		}
		if _, line, _ := splitPos(pos); line == 0 && c.cfg != nil {
			pos = c.settingPos(msg, pos)
		}
		c.add(pos, SeverityError, "config", msg)
	}
}

var (
	upstreamErr = regexp.MustCompile(`^upstream "([^"]*)": `)
	settingErr  = regexp.MustCompile(`^([a-z_]+(?:\.[a-z_]+|\[\d+\])*): `)
)

// settingPos positions an error that names its setting but carries no
// line (the runtime compiler's): an upstream by name, or a setting path
// such as "not_found.filters"; else it keeps pos.
func (c *checker) settingPos(msg, pos string) string {
	if m := upstreamErr.FindStringSubmatch(msg); m != nil {
		for i, u := range c.cfg.Upstreams {
			if u.Name == m[1] {
				return c.cfg.Position("upstreams[" + strconv.Itoa(i) + "]")
			}
		}
	}
	if m := settingErr.FindStringSubmatch(msg); m != nil {
		if p := c.cfg.Position(m[1]); p != c.cfg.Path {
			return p
		}
	}
	return pos
}

// sorted returns the findings ordered by position, errors first on a tie.
func (c *checker) sorted() []Finding {
	out := slices.Clone(c.out)
	slices.SortStableFunc(out, func(a, b Finding) int {
		switch {
		case a.File != b.File:
			return strings.Compare(a.File, b.File)
		case a.Line != b.Line:
			return a.Line - b.Line
		case a.Col != b.Col:
			return a.Col - b.Col
		}
		return strings.Compare(string(a.Severity), string(b.Severity))
	})
	return out
}

// files opens and parses the files `run` reads outside the filters (which
// read their own when they are built): the listeners' certificates, keys
// and client CA bundles, and the audit signing key.
func (c *checker) files() {
	cfg := c.cfg
	for i, l := range cfg.Listeners {
		if l.TLS == nil || l.TLS.Cert == "" || l.TLS.Key == "" {
			continue // Validate reports the missing setting
		}
		at := "listeners[" + strconv.Itoa(i) + "].tls"
		if _, err := tls.LoadX509KeyPair(l.TLS.Cert, l.TLS.Key); err != nil {
			c.add(cfg.Position(at+".cert"), SeverityError, "config", fmt.Sprintf("%s: cannot load TLS certificate %q and key %q: %v", at, l.TLS.Cert, l.TLS.Key, err))
		}
		if l.TLS.ClientCA != "" {
			if _, err := filters.CertPool(l.TLS.ClientCA); err != nil {
				c.add(cfg.Position(at+".client_ca"), SeverityError, "config", fmt.Sprintf("%s.client_ca: cannot load client CA file %q: %v", at, l.TLS.ClientCA, err))
			}
		}
	}
	if a := cfg.Audit; a != nil && a.SigningKeyFile != "" {
		key, err := os.ReadFile(a.SigningKeyFile)
		if err == nil {
			_, err = note.NewSigner(strings.TrimSpace(string(key)))
		}
		if err != nil {
			c.add(cfg.Position("audit.signing_key_file"), SeverityError, "config", fmt.Sprintf("audit.signing_key_file: cannot use audit signing key %q: %v", a.SigningKeyFile, err))
		}
	}
}

// posPrefix matches a leading "file:line:col: " or "file:line: " or
// "file: " position.
var posPrefix = regexp.MustCompile(`^([^\s:]+(?::\d+(?::\d+)?)?): (.*)$`)

// cutPos splits a message that starts with a position into both; a
// position is a file name with a line, or the config file's own name.
func (c *checker) cutPos(msg string) (pos, rest string) {
	if m := posPrefix.FindStringSubmatch(msg); m != nil {
		if f, line, _ := splitPos(m[1]); line > 0 || f == c.file {
			return m[1], m[2]
		}
	}
	return "", msg
}

// splitPos splits "file:line:col" (either number may be missing).
func splitPos(pos string) (file string, line, col int) {
	file = pos
	var nums []int
	for range 2 {
		i := strings.LastIndexByte(file, ':')
		if i < 0 {
			break
		}
		n, err := strconv.Atoi(file[i+1:])
		if err != nil {
			break
		}
		nums = append([]int{n}, nums...)
		file = file[:i]
	}
	switch len(nums) {
	case 1:
		line = nums[0]
	case 2:
		line, col = nums[0], nums[1]
	}
	return file, line, col
}

// oneLine keeps a message on one line.
func oneLine(s string) string {
	return strings.Join(strings.Fields(strings.ReplaceAll(s, "\n", "; ")), " ")
}
