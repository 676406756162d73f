package jsonvalidate

import (
	"bytes"
	"errors"
	"fmt"
	"net/textproto"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/tollgate-proxy/tollgate/filters"
)

// Config is the filter's config block.
type Config struct {
	// Schema is the JSON Schema (draft 2020-12 subset) request bodies must match, written inline in YAML or JSON syntax.
	Schema yaml.Node `yaml:"schema"`
	// SchemaFile is a JSON or YAML file holding the schema, instead of an inline schema; a relative path is read from the working directory.
	SchemaFile string `yaml:"schema_file"`
	// MaxBytes caps the body this filter validates (default 1MiB); larger bodies are refused with 413.
	MaxBytes filters.ByteSize `yaml:"max_bytes"`
	// MaxDepth caps the nesting of objects and arrays in a body (default 32).
	MaxDepth int `yaml:"max_depth"`
	// Methods lists the methods whose requests must carry a JSON body (default POST, PUT and PATCH); a body sent with any other method is validated too.
	Methods []string `yaml:"methods"`
	// MediaTypes lists the Content-Types a body may have, as type/subtype or type/*+json (default application/json and application/*+json); a charset parameter must say utf-8.
	MediaTypes []string `yaml:"media_types"`
	// Decode lists the Content-Encodings the filter decodes before validating (gzip, zstd); the decoded size counts against max_bytes, and a body with any other coding is refused with 415.
	Decode []string `yaml:"decode"`
	// Query maps query parameter names to the rules their values must follow.
	Query map[string]ParamConfig `yaml:"query"`
	// Headers maps request header names to the rules their values must follow.
	Headers map[string]ParamConfig `yaml:"headers"`
}

// ParamConfig is the rule for one query parameter or header.
type ParamConfig struct {
	// Required refuses requests without the parameter or header.
	Required bool `yaml:"required"`
	// Pattern is an RE2 regular expression the decoded value must match (unanchored: use ^ and $ to match the whole value).
	Pattern string `yaml:"pattern"`
	// MaxLength caps the decoded value's length in characters (Unicode code points); 0 means no limit.
	MaxLength int `yaml:"max_length"`
}

// Defaults.
const (
	DefaultMaxBytes = 1 << 20
	DefaultMaxDepth = 32
	// MaxDepthLimit bounds max_depth.
	MaxDepthLimit = 1000
	// maxQueryRules is the number of query rules one filter can hold (one
	// bit each when checking).
	maxQueryRules = 64
)

// New builds the filter from its config entry.
func New(spec filters.Spec) (filters.Filter, error) {
	f, err := build(spec)
	if err != nil {
		return nil, err
	}
	return f, nil
}

// build checks every setting, reporting each problem at the setting it
// names (a schema's own at its keyword, in the file that holds it). A
// decode error does not stop the checks: they run on what decoded, so
// one run reports every problem.
func build(spec filters.Spec) (*Filter, error) {
	cfg := Config{MaxBytes: DefaultMaxBytes, MaxDepth: DefaultMaxDepth}
	var errs []error
	if err := spec.Decode(&cfg); err != nil {
		errs = append(errs, err)
	}
	f := &Filter{route: spec.Route, maxBytes: int64(cfg.MaxBytes), maxDepth: cfg.MaxDepth}
	bad := func(rel, format string, args ...any) { errs = append(errs, spec.ErrorAt(rel, format, args...)) }
	hasInline := cfg.Schema.Kind != 0 && !(cfg.Schema.Kind == yaml.ScalarNode && cfg.Schema.ShortTag() == "!!null")
	switch {
	case hasInline && cfg.SchemaFile != "":
		bad("schema_file", "set schema or schema_file, not both")
	case hasInline:
		s, err := Compile(&cfg.Schema, fileOf(spec.Pos), spec.Name)
		if err != nil {
			errs = append(errs, err)
		}
		f.schema = s
	case cfg.SchemaFile != "":
		doc, err := loadFile(cfg.SchemaFile)
		if err != nil {
			bad("schema_file", "cannot load %q: %v", cfg.SchemaFile, err)
			break
		}
		s, err := Compile(doc, cfg.SchemaFile, spec.Name)
		if err != nil {
			errs = append(errs, err)
		}
		f.schema = s
	}
	if cfg.MaxBytes <= 0 {
		bad("max_bytes", "want a positive size, got %s", cfg.MaxBytes)
	}
	if cfg.MaxDepth < 1 || cfg.MaxDepth > MaxDepthLimit {
		bad("max_depth", "want 1 to %d, got %d", MaxDepthLimit, cfg.MaxDepth)
	}
	if cfg.Methods == nil {
		f.methods = []string{"POST", "PUT", "PATCH"}
	}
	for i, m := range cfg.Methods {
		if m == "" || strings.ContainsAny(m, " \t/()<>@,;:\\\"[]?={}") {
			bad("methods["+strconv.Itoa(i)+"]", "invalid method %q", m)
			continue
		}
		f.methods = append(f.methods, m)
	}
	media := cfg.MediaTypes
	if media == nil {
		media = DefaultMediaTypes
	}
	if len(media) == 0 {
		bad("media_types", "list at least one media type")
	}
	for i, e := range media {
		m, err := compileMediaType(e)
		if err != nil {
			bad("media_types["+strconv.Itoa(i)+"]", "%v", err)
			continue
		}
		f.media = append(f.media, m)
	}
	f.accepted = "accepted Content-Encoding: identity"
	for i, name := range cfg.Decode {
		bit := coding([]byte(name))
		if bit <= 0 || name != strings.ToLower(name) {
			bad("decode["+strconv.Itoa(i)+"]", "unknown coding %q (gzip or zstd)", name)
			continue
		}
		if f.codings&bit == 0 {
			f.accepted += ", " + name
		}
		f.codings |= bit
	}
	if len(cfg.Query) > maxQueryRules {
		bad("query", "at most %d parameters can have rules", maxQueryRules)
	}
	for _, name := range sortedKeys(cfg.Query) {
		r, ruleErrs := compileRule(spec, "query", name, name, cfg.Query[name])
		if len(ruleErrs) > 0 {
			errs = append(errs, ruleErrs...)
			continue
		}
		f.query = append(f.query, r)
	}
	for _, name := range sortedKeys(cfg.Headers) {
		canon := textproto.CanonicalMIMEHeaderKey(name)
		if canon == "" || strings.ContainsAny(name, " \t:") {
			bad("headers."+name, "invalid header name %q", name)
			continue
		}
		r, ruleErrs := compileRule(spec, "headers", name, canon, cfg.Headers[name])
		if len(ruleErrs) > 0 {
			errs = append(errs, ruleErrs...)
			continue
		}
		f.headers = append(f.headers, r)
	}
	if f.schema == nil && len(f.query) == 0 && len(f.headers) == 0 && len(errs) == 0 {
		// About the entry as a whole: no one setting is wrong.
		errs = append(errs, spec.Errorf("nothing to validate: set schema, schema_file, query or headers"))
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	f.m = newFilterMetrics(spec.Route)
	return f, nil
}

func sortedKeys(m map[string]ParamConfig) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// compileRule checks the rule for the parameter or header name of
// section, reporting each problem at its setting (section.name.pattern),
// and builds it.
func compileRule(spec filters.Spec, section, name, canon string, c ParamConfig) (paramRule, []error) {
	r := paramRule{name: canon, required: c.Required, maxLength: c.MaxLength}
	if name == "" {
		return r, []error{spec.ErrorAt(section, "a name cannot be empty")}
	}
	at := section + "." + name
	var errs []error
	if c.MaxLength < 0 {
		errs = append(errs, spec.ErrorAt(at+".max_length", "must not be negative, got %d", c.MaxLength))
	}
	if c.Pattern != "" {
		re, err := regexp.Compile(c.Pattern)
		if err != nil {
			errs = append(errs, spec.ErrorAt(at+".pattern", "invalid RE2 pattern: %v", err))
		}
		r.pattern = re
	}
	if !c.Required && c.Pattern == "" && c.MaxLength == 0 {
		errs = append(errs, spec.ErrorAt(at, "the rule checks nothing; set required, pattern or max_length"))
	}
	if len(errs) > 0 {
		return r, errs
	}
	label := name
	if section == "query" {
		label = "query parameter " + strconv.Quote(name)
	} else {
		label = "header " + canon
	}
	r.msgMissing = label + ": is required"
	r.msgPattern = label + ": must match the pattern " + clip(c.Pattern, 64)
	r.msgLength = label + ": must have at most " + strconv.Itoa(c.MaxLength) + " characters"
	r.msgEncoding = label + ": invalid encoding"
	return r, nil
}

// loadFile reads a schema file. JSON is read as YAML, of which it is a
// subset, so compile errors carry line and column.
func loadFile(path string) (*yaml.Node, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return parseDoc(data)
}

func parseDoc(data []byte) (*yaml.Node, error) {
	var doc yaml.Node
	if err := yaml.NewDecoder(bytes.NewReader(data)).Decode(&doc); err != nil {
		return nil, fmt.Errorf("cannot parse the schema: %w", err)
	}
	return &doc, nil
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
