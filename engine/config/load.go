package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"regexp"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Load reads the config file at path, substitutes ${ENV} references from the
// process environment, decodes it strictly, applies defaults and validates
// it. Every problem found is returned, each as an *Error positioned
// "path:line:col", joined with errors.Join; the config is nil then.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("cannot read config: %w", err)
	}
	return Parse(path, data, os.LookupEnv)
}

// Parse is Load for a config already in memory: file names it in error
// positions and lookup resolves ${ENV} references (nil means no variable is
// set).
func Parse(file string, data []byte, lookup LookupFunc) (*Config, error) {
	cfg, err := parse(file, data, lookup)
	if err != nil {
		return nil, err
	}
	return cfg, nil
}

// Check is Load for `tollgate check`: it also returns the decoded config
// when the file parsed but some settings are invalid, so the caller can
// go on to report what else is wrong (such as filter settings). The
// config is nil only when the file could not be read or parsed.
func Check(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("cannot read config: %w", err)
	}
	return parse(path, data, os.LookupEnv)
}

// parse returns the decoded config with every problem found; the config is
// nil when the document could not be parsed at all.
func parse(file string, data []byte, lookup LookupFunc) (cfg *Config, err error) {
	defer func() {
		// A config is reloaded while serving: a bug in the YAML library
		// must not take the proxy down.
		if r := recover(); r != nil {
			cfg, err = nil, &Error{File: file, Msg: fmt.Sprintf("cannot parse config: internal error: %v", r)}
		}
	}()
	if lookup == nil {
		lookup = func(string) (string, bool) { return "", false }
	}
	text, cols, errs := substituteEnv(file, data, lookup)
	if len(errs) > 0 {
		return nil, joinSorted(errs)
	}
	o := &origin{file: file, cols: cols, at: map[string]position{}, failed: map[string]bool{}}

	var root yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(text))
	if err := dec.Decode(&root); err != nil && !errors.Is(err, io.EOF) {
		return nil, syntaxError(file, err)
	}
	if root.Kind != 0 {
		var extra yaml.Node
		switch err := dec.Decode(&extra); {
		case errors.Is(err, io.EOF):
		case err != nil:
			return nil, syntaxError(file, err)
		default:
			return nil, &Error{File: file, Line: extra.Line, Msg: "cannot decode config: want one YAML document, found another"}
		}
	}

	cfg = &Config{Path: file, origin: o}
	o.at[""] = position{1, 1}
	d := newDecoder(o)
	if root.Kind != 0 {
		d.decode(&root, "", reflect.ValueOf(cfg).Elem())
	}
	for i := range cfg.Routes {
		r := &cfg.Routes[i]
		rp := indexPath("routes", i)
		r.Pos = formatPos(file, o.lookup(rp).line, o.lookup(rp).col)
		for j := range r.Filters {
			f := &r.Filters[j]
			fp := indexPath(fieldPath(rp, "filters"), j)
			f.Pos = formatPos(file, o.lookup(fp).line, o.lookup(fp).col)
			f.origin = o
			f.path = fp
		}
	}
	if cfg.NotFound != nil {
		for j := range cfg.NotFound.Filters {
			f := &cfg.NotFound.Filters[j]
			fp := indexPath("not_found.filters", j)
			f.Pos = formatPos(file, o.lookup(fp).line, o.lookup(fp).col)
			f.origin = o
			f.path = fp
		}
	}
	for j := range cfg.Filters {
		f := &cfg.Filters[j]
		fp := indexPath("filters", j)
		f.Pos = formatPos(file, o.lookup(fp).line, o.lookup(fp).col)
		f.origin = o
		f.path = fp
	}
	cfg.SetDefaults()
	errs = append(d.errs, cfg.validate()...)
	if len(errs) > 0 {
		return cfg, joinSorted(errs)
	}
	return cfg, nil
}

var yamlLine = regexp.MustCompile(`^yaml: (?:line (\d+): )?(.*)$`)

// syntaxError positions a YAML syntax error. The YAML library reports only a
// line: where the construct that failed began (a flow mapping, a quoted
// string) or else where the problem is. It counts parser errors from 0 and
// scanner errors from 1, and leaves out line 0; this undoes both.
func syntaxError(file string, err error) error {
	m := yamlLine.FindStringSubmatch(err.Error())
	if m == nil {
		return &Error{File: file, Msg: "cannot parse YAML: " + err.Error()}
	}
	line, _ := strconv.Atoi(m[1])
	msg := m[2]
	if isParserProblem(msg) {
		line++
	}
	return &Error{File: file, Line: line, Msg: "cannot parse YAML: " + msg}
}

// isParserProblem reports whether msg comes from the YAML parser, as opposed
// to the scanner or the reader.
func isParserProblem(msg string) bool {
	for _, p := range []string{"did not find expected ", "found duplicate %", "found incompatible YAML document", "found undefined tag handle"} {
		if strings.HasPrefix(msg, p) {
			return true
		}
	}
	return false
}

// Decode strictly decodes the filter's config block into v, which must be a
// non-nil pointer: unknown keys, duplicate keys and values of the wrong type
// are errors positioned "file:line:col", with paths relative to the filter
// entry ("routes[0].filters[1].max_bytes"). Every problem is returned,
// joined. When the entry has no config block (or an empty one) v is left
// untouched, so a constructor can fill in defaults first; a null value
// inside the block likewise leaves a scalar setting as it was. Decode is
// safe for concurrent use: it does not modify f.
func (f *FilterSpec) Decode(v any) error {
	if f.Config.Kind == 0 || isNull(&f.Config) {
		return nil
	}
	rv := reflect.ValueOf(v)
	if rv.Kind() != reflect.Pointer || rv.IsNil() {
		return fmt.Errorf("cannot decode filter config: want a non-nil pointer, got %T", v)
	}
	o := f.origin
	if o != nil {
		o = &origin{file: o.file, cols: o.cols}
	}
	path := f.path
	if path == "" {
		path = "filter " + quote(f.Name)
	}
	d := newDecoder(o)
	d.decode(&f.Config, path, rv.Elem())
	if len(d.errs) > 0 {
		return joinSorted(d.errs)
	}
	return nil
}
