package apikey

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"

	"github.com/VictoriaMetrics/metrics"

	"github.com/tollgate-proxy/tollgate/filters"
)

// Filter authenticates requests by API key. It is immutable after New and
// safe for concurrent use by several routes' chains.
type Filter struct {
	header    string // canonical name of the key header
	auth      bool   // also accept Authorization: ApiKey <key>
	optional  bool
	strip     bool   // remove the key before the request goes upstream (not forward.credential)
	second    bool   // second_factor: the key may name another principal than an earlier identity
	challenge []byte // WWW-Authenticate value of a 401

	keys  []key
	index map[string]int // string(SHA-256 of the key) -> keys index

	forward                         []string // the forwarded headers' names, for ForwardedHeaders
	fwdSubject, fwdRoles, fwdTenant string

	m *filterMetrics
}

// key is one configured key: its hash and the principal it stands for.
type key struct {
	hash        [sha256.Size]byte
	id          []byte
	subject     []byte
	tenant      []byte
	roles       filters.RoleSet
	rolesHeader []byte // role names, comma-separated
}

// Interface guards.
var (
	_ filters.Filter            = (*Filter)(nil)
	_ filters.IdentityForwarder = (*Filter)(nil)
)

// Refusal reasons. Both are 401 with an ApiKey challenge (RFC 9110
// §11.6.1 requires one on every 401).
var (
	// ReasonMissing: the route requires a key and the request has none.
	ReasonMissing = filters.NewReason("authn.key_missing", 401, filters.DecisionDenied, "an API key is required")
	// ReasonInvalid: the request presents a key that is not configured.
	ReasonInvalid = filters.NewReason("authn.key_invalid", 401, filters.DecisionDenied, "the API key is not valid")
)

// Reasons lists the refusal reasons this filter can return, for
// documentation and `tollgate explain`.
func Reasons() []*filters.Reason {
	return []*filters.Reason{ReasonMissing, ReasonInvalid, filters.ReasonConflictingCredentials}
}

// FingerprintLen is the length in bytes of the key-hash prefix recorded,
// hex-encoded, as the KeyID of a refused key.
const FingerprintLen = 8

// Name implements filters.Filter.
func (f *Filter) Name() string { return "apikey" }

// Metrics returns the filter's metric set, to be registered by the engine
// for as long as the filter's config generation serves traffic.
func (f *Filter) Metrics() *metrics.Set { return f.m.set }

// Handle implements filters.Filter. It does not allocate once the
// exchange's buffers have grown.
//
// Why a map keyed by the hash is a constant-time comparison of secrets:
// the map is keyed by SHA-256(key), never by the key. Probing it leaks, at
// most, how the hash of the presented key compares with stored hashes —
// and choosing inputs whose hashes approach a stored hash is a preimage
// search, so the timing tells an attacker nothing about the secret. The
// found entry is then confirmed with crypto/subtle, so the accept decision
// itself never branches on secret bytes.
func (f *Filter) Handle(ex *filters.Exchange) filters.Verdict {
	// An earlier filter (jwtauth with optional: true) may already have
	// verified the request: it owns the identity and its forwarded
	// headers.
	// Client-sent copies of the forwarded headers are already gone: the
	// pipeline deletes them before the chain runs (ForwardedHeaders).
	prior := ex.Identity.Verified
	presented, fromHeader, fromAuth := f.credential(ex)
	if presented == nil {
		f.stripCredential(ex, fromHeader, fromAuth)
		if prior && f.optional {
			f.m.skipped.Inc()
			return filters.Continue
		}
		if f.optional {
			f.m.anonymous.Inc()
			return filters.Continue
		}
		ex.AddResponseHeader("WWW-Authenticate", f.challenge)
		f.m.missing.Inc()
		return filters.Respond(ReasonMissing)
	}
	// Hash before stripping: presented borrows the header's bytes.
	sum := sha256.Sum256(presented)
	f.stripCredential(ex, fromHeader, fromAuth)

	i, ok := f.index[string(sum[:])] // the compiler does not allocate for this lookup
	if !ok || subtle.ConstantTimeCompare(f.keys[i].hash[:], sum[:]) != 1 {
		// A key that is present must be valid, even beside a verified
		// token: the refusal is recorded with the key's fingerprint, not
		// with the token's principal.
		hint(ex, &sum)
		ex.AddResponseHeader("WWW-Authenticate", f.challenge)
		f.m.invalid.Inc()
		return filters.Respond(ReasonInvalid)
	}
	k := &f.keys[i]
	if prior {
		// Two valid credentials. They must name the same principal,
		// unless the route makes the key a second factor on purpose (an
		// application key beside a user's token); either way the first
		// identity stays.
		if !f.second && !samePrincipal(&ex.Identity, k) {
			filters.Unattributed(&ex.Identity)
			f.m.conflict.Inc()
			return filters.Respond(filters.ReasonConflictingCredentials)
		}
		f.m.accepted[i].Inc()
		return filters.Continue
	}
	f.m.accepted[i].Inc()
	id := &ex.Identity
	id.Subject = append(id.Subject[:0], k.subject...)
	id.Tenant = append(id.Tenant[:0], k.tenant...)
	id.Issuer = id.Issuer[:0]
	id.KeyID = append(id.KeyID[:0], k.id...)
	id.Roles = k.roles
	id.Scopes = 0
	id.Method = filters.AuthAPIKey
	id.Verified = true
	if f.fwdSubject != "" {
		ex.SetHeader(f.fwdSubject, k.subject)
	}
	if f.fwdRoles != "" && len(k.rolesHeader) > 0 {
		ex.SetHeader(f.fwdRoles, k.rolesHeader)
	}
	if f.fwdTenant != "" && len(k.tenant) > 0 {
		ex.SetHeader(f.fwdTenant, k.tenant)
	}
	return filters.Continue
}

// samePrincipal reports whether key k names the principal of the identity
// an earlier filter verified: the same subject and the same tenant (both
// empty counts as the same).
func samePrincipal(id *filters.Identity, k *key) bool {
	return string(id.Subject) == string(k.subject) && string(id.Tenant) == string(k.tenant)
}

// hint records a refused key on the exchange, flagged unverified: a
// fingerprint of its hash (the first FingerprintLen bytes, hex — the same
// digits that start the sha256 of a configured key), never the key.
func hint(ex *filters.Exchange, sum *[sha256.Size]byte) {
	id := &ex.Identity
	id.Subject, id.Tenant, id.Issuer = id.Subject[:0], id.Tenant[:0], id.Issuer[:0]
	id.KeyID = hex.AppendEncode(id.KeyID[:0], sum[:FingerprintLen])
	id.Roles, id.Scopes = 0, 0
	id.Method = filters.AuthAPIKey
	id.Verified = false
}

// credential returns the presented key, or nil, and which headers carried
// one. The key header wins over Authorization when both are sent; both are
// stripped.
func (f *Filter) credential(ex *filters.Exchange) (k []byte, fromHeader, fromAuth bool) {
	if v := ex.Header(f.header); v != nil {
		fromHeader = true
		k = trimOWS(v)
	}
	if f.auth {
		if v := ex.Header("Authorization"); v != nil {
			if ak, ok := parseAuthorization(v); ok {
				fromAuth = true
				if len(k) == 0 {
					k = ak
				}
			}
		}
	}
	if len(k) == 0 {
		k = nil
	}
	return k, fromHeader, fromAuth
}

// stripCredential removes the headers that carried a key, so the upstream
// never sees it.
func (f *Filter) stripCredential(ex *filters.Exchange, fromHeader, fromAuth bool) {
	if !f.strip {
		return
	}
	if fromHeader {
		ex.DelHeader(f.header)
	}
	if fromAuth {
		ex.DelHeader("Authorization")
	}
}

// parseAuthorization returns the credential of an "ApiKey <key>"
// Authorization value. ok reports whether the scheme is ApiKey, matched
// case-insensitively (RFC 9110 §11.1); the key may still be empty.
func parseAuthorization(v []byte) (k []byte, ok bool) {
	const scheme = "apikey"
	if len(v) < len(scheme) {
		return nil, false
	}
	for i := 0; i < len(scheme); i++ {
		if v[i]|0x20 != scheme[i] {
			return nil, false
		}
	}
	rest := v[len(scheme):]
	if len(rest) > 0 && rest[0] != ' ' && rest[0] != '\t' {
		return nil, false // "ApiKeys …" is another scheme
	}
	return trimOWS(rest), true
}

// trimOWS trims spaces and tabs (RFC 9110 §5.6.3 OWS) from both ends.
func trimOWS(v []byte) []byte {
	for len(v) > 0 && (v[0] == ' ' || v[0] == '\t') {
		v = v[1:]
	}
	for len(v) > 0 && (v[len(v)-1] == ' ' || v[len(v)-1] == '\t') {
		v = v[:len(v)-1]
	}
	return v
}

// ForwardedHeaders implements filters.IdentityForwarder.
func (f *Filter) ForwardedHeaders() []string { return f.forward }

// CredentialHeaders implements filters.CredentialReader: the key header,
// and Authorization when the ApiKey scheme is accepted there.
func (f *Filter) CredentialHeaders() []string {
	if f.auth && f.header != "Authorization" {
		return []string{f.header, "Authorization"}
	}
	return []string{f.header}
}
