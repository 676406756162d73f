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

func build(spec filters.Spec) (*Filter, error) {
	cfg := Config{MaxBytes: DefaultMaxBytes, MaxDepth: DefaultMaxDepth}
	if err := spec.Decode(&cfg); err != nil {
		return nil, err
	}
	f := &Filter{route: spec.Route, maxBytes: int64(cfg.MaxBytes), maxDepth: cfg.MaxDepth}
	var errs []error
	hasInline := cfg.Schema.Kind != 0 && !(cfg.Schema.Kind == yaml.ScalarNode && cfg.Schema.ShortTag() == "!!null")
	switch {
	case hasInline && cfg.SchemaFile != "":
		errs = append(errs, spec.Errorf("set schema or schema_file, not both"))
	case hasInline:
		s, err := Compile(&cfg.Schema, fileOf(spec.Pos), spec.Name)
		if err != nil {
			errs = append(errs, err)
		}
		f.schema = s
	case cfg.SchemaFile != "":
		doc, err := loadFile(cfg.SchemaFile)
		if err != nil {
			errs = append(errs, spec.Errorf("cannot load schema_file %q: %v", cfg.SchemaFile, err))
			break
		}
		s, err := Compile(doc, cfg.SchemaFile, spec.Name)
		if err != nil {
			errs = append(errs, err)
		}
		f.schema = s
	}
	if cfg.MaxBytes <= 0 {
		errs = append(errs, spec.Errorf("max_bytes must be greater than 0"))
	}
	if cfg.MaxDepth < 1 || cfg.MaxDepth > MaxDepthLimit {
		errs = append(errs, spec.Errorf("max_depth must be between 1 and %d, got %d", MaxDepthLimit, cfg.MaxDepth))
	}
	if cfg.Methods == nil {
		f.methods = []string{"POST", "PUT", "PATCH"}
	}
	for _, m := range cfg.Methods {
		if m == "" || strings.ContainsAny(m, " \t/()<>@,;:\\\"[]?={}") {
			errs = append(errs, spec.Errorf("methods: invalid method %q", m))
			continue
		}
		f.methods = append(f.methods, m)
	}
	media := cfg.MediaTypes
	if media == nil {
		media = DefaultMediaTypes
	}
	if len(media) == 0 {
		errs = append(errs, spec.Errorf("media_types must not be empty"))
	}
	var err error
	if f.media, err = compileMediaTypes(media); err != nil {
		errs = append(errs, spec.Errorf("%v", err))
	}
	f.accepted = "accepted Content-Encoding: identity"
	for _, name := range cfg.Decode {
		bit := coding([]byte(name))
		if bit <= 0 || name != strings.ToLower(name) {
			errs = append(errs, spec.Errorf("decode: unknown coding %q (gzip or zstd)", name))
			continue
		}
		if f.codings&bit == 0 {
			f.accepted += ", " + name
		}
		f.codings |= bit
	}
	if len(cfg.Query) > maxQueryRules {
		errs = append(errs, spec.Errorf("query: at most %d parameters can have rules", maxQueryRules))
	}
	for _, name := range sortedKeys(cfg.Query) {
		r, err := compileRule(spec, "query", name, name, cfg.Query[name])
		if err != nil {
			errs = append(errs, err)
			continue
		}
		f.query = append(f.query, r)
	}
	for _, name := range sortedKeys(cfg.Headers) {
		canon := textproto.CanonicalMIMEHeaderKey(name)
		if canon == "" || strings.ContainsAny(name, " \t:") {
			errs = append(errs, spec.Errorf("headers: invalid header name %q", name))
			continue
		}
		r, err := compileRule(spec, "headers", name, canon, cfg.Headers[name])
		if err != nil {
			errs = append(errs, err)
			continue
		}
		f.headers = append(f.headers, r)
	}
	if f.schema == nil && len(f.query) == 0 && len(f.headers) == 0 && len(errs) == 0 {
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

func compileRule(spec filters.Spec, section, name, canon string, c ParamConfig) (paramRule, error) {
	r := paramRule{name: canon, required: c.Required, maxLength: c.MaxLength}
	if name == "" {
		return r, spec.Errorf("%s: empty name", section)
	}
	if c.MaxLength < 0 {
		return r, spec.Errorf("%s.%s.max_length must not be negative", section, name)
	}
	if c.Pattern != "" {
		re, err := regexp.Compile(c.Pattern)
		if err != nil {
			return r, spec.Errorf("%s.%s.pattern: invalid RE2 pattern: %v", section, name, err)
		}
		r.pattern = re
	}
	if !c.Required && c.Pattern == "" && c.MaxLength == 0 {
		return r, spec.Errorf("%s.%s: the rule checks nothing; set required, pattern or max_length", section, name)
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
