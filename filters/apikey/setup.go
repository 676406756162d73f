package apikey

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/textproto"
	"strconv"
	"strings"

	"github.com/tollgate-proxy/tollgate/filters"
)

// Config is the filter's config block.
type Config struct {
	// Keys lists the accepted API keys, each by the SHA-256 of its secret.
	Keys []KeyConfig `yaml:"keys"`
	// Header is the request header carrying the key (default X-API-Key).
	Header string `yaml:"header"`
	// Authorization also accepts the key as "Authorization: ApiKey <key>", the scheme matched case-insensitively (default true).
	Authorization *bool `yaml:"authorization"`
	// Optional lets requests without a key through unauthenticated, and lets a request an earlier filter verified through without one; a key that is present must still be valid.
	Optional bool `yaml:"optional"`
	// SecondFactor makes the key a second credential on purpose: after an identity verified by an earlier filter, the key must be valid but may name another principal (an application key beside a user's token), and the first identity is kept. By default the two must name the same subject and tenant, else the request is refused with 400 authn.conflicting_credentials.
	SecondFactor bool `yaml:"second_factor"`
	// Strip is replaced by forward.credential; setting it is an error that says so.
	Strip *bool `yaml:"strip"`
	// Realm is the realm named in the WWW-Authenticate challenge of a 401 (default tollgate).
	Realm string `yaml:"realm"`
	// Forward names the headers that carry the verified identity upstream; client-sent copies are removed first.
	Forward ForwardConfig `yaml:"forward"`
}

// KeyConfig is one accepted key.
type KeyConfig struct {
	// ID names the key in logs, metrics and the audit log; it is not secret.
	ID string `yaml:"id"`
	// SHA256 is the hex SHA-256 of the key's secret, e.g. the output of `printf %s "$KEY" | sha256sum`.
	SHA256 string `yaml:"sha256"`
	// Subject is the principal the key authenticates (default: the key's id).
	Subject string `yaml:"subject"`
	// Roles lists the principal's role names.
	Roles []string `yaml:"roles"`
	// Tenant is the principal's tenant, if any.
	Tenant string `yaml:"tenant"`
}

// ForwardConfig names the identity headers sent upstream; an empty name
// disables that header.
type ForwardConfig struct {
	// SubjectHeader carries the key's subject (default X-Auth-Subject).
	SubjectHeader string `yaml:"subject_header"`
	// RolesHeader carries the key's role names, comma-separated (default X-Auth-Roles).
	RolesHeader string `yaml:"roles_header"`
	// TenantHeader carries the key's tenant (default X-Auth-Tenant).
	TenantHeader string `yaml:"tenant_header"`
	// Credential passes the key on to the upstream. By default the headers that carried it are removed, whether the request is accepted, refused or let through anonymous: a backend behind the proxy does not need the client's key, and one that logs or forwards it would leak it.
	Credential bool `yaml:"credential"`
}

// emptyKeyHash is the SHA-256 of the empty string: a key no request can
// present, so configuring it is a mistake.
const emptyKeyHash = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

// New builds the filter from its config entry. Every key's hash is decoded
// and indexed, role names become bits of the configuration's shared role
// table, and the forwarded header values are rendered, so a request costs
// one SHA-256 and one map lookup.
func New(spec filters.Spec) (filters.Filter, error) {
	return build(spec)
}

func build(spec filters.Spec) (*Filter, error) {
	cfg := Config{
		Header: "X-API-Key",
		Realm:  "tollgate",
		Forward: ForwardConfig{
			SubjectHeader: "X-Auth-Subject",
			RolesHeader:   "X-Auth-Roles",
			TenantHeader:  "X-Auth-Tenant",
		},
	}
	// A decode error does not stop the checks: they run on what decoded
	// (a setting that failed keeps its default), so one run reports every
	// problem.
	var errs []error
	if spec.Decode != nil {
		if err := spec.Decode(&cfg); err != nil {
			errs = append(errs, err)
		}
	}
	roles := spec.Roles
	if roles == nil {
		roles = filters.NewRoles()
	}
	// bad takes "setting: message", positioned at the setting.
	bad := func(format string, args ...any) { errs = append(errs, spec.Problem(fmt.Sprintf(format, args...))) }

	f := &Filter{
		optional: cfg.Optional,
		auth:     cfg.Authorization == nil || *cfg.Authorization,
		strip:    !cfg.Forward.Credential,
		second:   cfg.SecondFactor,
		index:    make(map[string]int, len(cfg.Keys)),
	}
	if cfg.Strip != nil {
		bad("strip: replaced by forward.credential (the key is removed unless forward.credential is true)")
	}
	if !filters.IsToken(cfg.Header) {
		bad("header: %q is not a valid header name", cfg.Header)
	}
	f.header = textproto.CanonicalMIMEHeaderKey(cfg.Header)
	if f.header == "Authorization" {
		bad("header: use authorization: true to take the key from Authorization")
	}
	if !validRealm(cfg.Realm) {
		bad("realm: want printable text without quotes or backslashes, got %q", cfg.Realm)
	}
	f.challenge = []byte(`ApiKey realm="` + cfg.Realm + `"`)

	for _, h := range []struct{ key, name string }{
		{"forward.subject_header", cfg.Forward.SubjectHeader},
		{"forward.roles_header", cfg.Forward.RolesHeader},
		{"forward.tenant_header", cfg.Forward.TenantHeader},
	} {
		if h.name == "" {
			continue
		}
		if !filters.IsToken(h.name) {
			bad("%s: %q is not a valid header name", h.key, h.name)
			continue
		}
		c := textproto.CanonicalMIMEHeaderKey(h.name)
		if c == f.header || c == "Authorization" {
			bad("%s: %q would overwrite the credential", h.key, h.name)
		}
		f.forward = append(f.forward, c)
	}
	canon := func(s string) string {
		if s == "" {
			return ""
		}
		return textproto.CanonicalMIMEHeaderKey(s)
	}
	f.fwdSubject, f.fwdRoles, f.fwdTenant = canon(cfg.Forward.SubjectHeader), canon(cfg.Forward.RolesHeader), canon(cfg.Forward.TenantHeader)

	if len(cfg.Keys) == 0 {
		bad("keys: list at least one key")
	}
	ids := make(map[string]int, len(cfg.Keys))
	for i, kc := range cfg.Keys {
		where := "keys[" + strconv.Itoa(i) + "]"
		if kc.ID == "" || !printable(kc.ID) {
			bad("%s.id: want a printable, non-empty name", where)
		} else if j, dup := ids[kc.ID]; dup {
			bad("%s.id: %q is already the id of keys[%d]", where, kc.ID, j)
		} else {
			ids[kc.ID] = i
		}
		sum, err := decodeHash(kc.SHA256)
		if err != nil {
			bad("%s.sha256: %v", where, err)
			continue
		}
		if j, dup := f.index[string(sum[:])]; dup {
			bad("%s.sha256: same key as keys[%d] (%q)", where, j, cfg.Keys[j].ID)
			continue
		}
		k := key{hash: sum, id: []byte(kc.ID), subject: []byte(kc.Subject), tenant: []byte(kc.Tenant)}
		if len(k.subject) == 0 {
			k.subject = k.id
		}
		if !printable(string(k.subject)) || !printable(kc.Tenant) {
			bad("%s: subject and tenant must be printable text", where)
		}
		var names []string
		for _, r := range kc.Roles {
			if strings.TrimSpace(r) == "" || strings.ContainsAny(r, ",\r\n") {
				bad("%s.roles: invalid role name %q", where, r)
				continue
			}
			bit, err := roles.Intern(r)
			if err != nil {
				bad("%s.roles: %v", where, err)
				continue
			}
			if !k.roles.Has(bit) {
				k.roles |= 1 << uint(bit)
				names = append(names, r)
			}
		}
		k.rolesHeader = []byte(strings.Join(names, ","))
		f.index[string(sum[:])] = len(f.keys)
		f.keys = append(f.keys, k)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	ids2 := make([]string, len(f.keys))
	for i := range f.keys {
		ids2[i] = string(f.keys[i].id)
	}
	f.m = newFilterMetrics(spec.Route, ids2)
	return f, nil
}

// decodeHash parses a hex SHA-256 (either case).
func decodeHash(s string) ([sha256.Size]byte, error) {
	var sum [sha256.Size]byte
	if len(s) != 2*sha256.Size {
		return sum, errors.New("want the 64 hex digits of the key's SHA-256, never the key itself")
	}
	if _, err := hex.Decode(sum[:], []byte(s)); err != nil {
		return sum, errors.New("want the 64 hex digits of the key's SHA-256, never the key itself")
	}
	if strings.EqualFold(s, emptyKeyHash) {
		return sum, errors.New("this is the hash of an empty key")
	}
	return sum, nil
}

// validRealm reports whether s fits in a quoted-string without escapes.
func validRealm(s string) bool {
	return s != "" && printable(s) && !strings.ContainsAny(s, `"\`)
}

// printable reports whether s is visible ASCII or spaces (safe in a header
// value and in logs).
func printable(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < ' ' || s[i] >= 0x7f {
			return false
		}
	}
	return true
}
