package filters

import (
	"crypto/x509"
	"net/netip"
	"sync"
	"time"
)

// Headers is how filters read and edit the request headers that go
// upstream. Engines adapt their own header objects to it; the adapter lives
// inside the engine's pooled per-request state so using it does not
// allocate.
type Headers interface {
	// Peek returns the first value of the named header, or nil. The result
	// is valid until the exchange is released; copy to keep.
	Peek(name string) []byte
	// Set replaces the named header's values with value.
	Set(name string, value []byte)
	// Del removes every value of the named header.
	Del(name string)
}

// HeaderCounter is implemented by Headers adapters that can count a
// header's fields as received; Exchange.HeaderCount uses it.
type HeaderCounter interface {
	// Count returns how many fields named name the request carries.
	Count(name string) int
}

// Route is what filters know about the route a request matched.
type Route struct {
	// Name is the route's config name.
	Name string
	// Pattern is the route's path template, such as /api/v1/customers/{id}.
	Pattern string
	// Index is the route's position in the config, stable within one
	// config generation.
	Index int
	// Upstream is the name of the upstream the route forwards to.
	Upstream string
}

// MaxParams bounds the number of named path parameters per route.
const MaxParams = 8

// Params holds the named path parameters of the matched route in a fixed
// array, so matching never allocates.
type Params struct {
	n    int
	keys [MaxParams]string
	vals [MaxParams][]byte
}

// Reset empties p.
func (p *Params) Reset() { p.n = 0 }

// Len returns the number of parameters.
func (p *Params) Len() int { return p.n }

// Add appends a parameter; it reports false when p is full.
func (p *Params) Add(name string, value []byte) bool {
	if p.n == MaxParams {
		return false
	}
	p.keys[p.n], p.vals[p.n] = name, value
	p.n++
	return true
}

// At returns the i-th parameter.
func (p *Params) At(i int) (name string, value []byte) { return p.keys[i], p.vals[i] }

// Get returns the value of the named parameter, or nil. The result is valid
// until the exchange is released; copy to keep.
func (p *Params) Get(name string) []byte {
	for i := 0; i < p.n; i++ {
		if p.keys[i] == name {
			return p.vals[i]
		}
	}
	return nil
}

// AuthMethod says how a principal proved its identity.
type AuthMethod uint8

// Authentication methods, in their stable encoding order.
const (
	AuthNone AuthMethod = iota
	AuthJWT
	AuthAPIKey
	AuthIntrospection
	AuthMTLS
)

var authMethodNames = [...]string{"none", "jwt", "api_key", "introspection", "mtls"}

// String returns the method's stable name.
func (m AuthMethod) String() string {
	if int(m) < len(authMethodNames) {
		return authMethodNames[m]
	}
	return "unknown"
}

// RoleSet is a set of role indices (at most 64 roles per config), compiled
// from role names at config load so a check is a few instructions.
type RoleSet uint64

// Has reports whether the set holds role i.
func (s RoleSet) Has(i int) bool { return s&(1<<uint(i)) != 0 }

// Identity is who made the request. Filters fill it by appending into its
// buffers, so it keeps its capacity across requests.
type Identity struct {
	// Subject is the principal's id. Valid until release; copy to keep.
	Subject []byte
	// Tenant is the principal's tenant, if any.
	Tenant []byte
	// Issuer is the token issuer or credential source.
	Issuer []byte
	// KeyID is the signing key id or credential fingerprint.
	KeyID []byte
	// Roles is the principal's role set.
	Roles RoleSet
	// Scopes is the set of OAuth scopes the credential grants, as bits of
	// the configuration's scope table (Spec.Scopes).
	Scopes RoleSet
	// Method is how the identity was established.
	Method AuthMethod
	// Verified is false when the fields are hints presented by a client
	// whose credential was refused; the audit log flags them so.
	Verified bool
}

func (id *Identity) reset() {
	id.Subject = id.Subject[:0]
	id.Tenant = id.Tenant[:0]
	id.Issuer = id.Issuer[:0]
	id.KeyID = id.KeyID[:0]
	id.Roles = 0
	id.Scopes = 0
	id.Method = AuthNone
	id.Verified = false
}

type headerKV struct {
	name       string
	start, end int // value bounds in Exchange.arena
}

// Exchange is the engine-agnostic state of one request as filters see it.
// Engines acquire it from a pool, fill it, run the route's chain and release
// it when the response is written. It must not be copied or kept.
//
// Every []byte field and accessor result is valid until the exchange is
// released; copy to keep.
type Exchange struct {
	noCopy noCopy

	// Method is the request method.
	Method []byte
	// Path is the normalized path (RFC 3986 dot segments removed,
	// unreserved escapes decoded, duplicate slashes collapsed).
	Path []byte
	// RawTarget is the request target exactly as the client sent it.
	RawTarget []byte
	// Query is the raw query string, without '?'.
	Query []byte
	// Host is the request's Host header.
	Host []byte
	// Body is the buffered request body; nil when the body is streamed.
	Body []byte
	// ContentLength is the declared body length, or -1 when unknown.
	ContentLength int64
	// ClientIP is the address of the client as trusted-proxy rules resolve
	// it; PeerIP is the TCP peer.
	ClientIP, PeerIP netip.Addr
	// TLS reports whether the request arrived over TLS.
	TLS bool
	// PeerCertificate is the client certificate verified on a mutual-TLS
	// listener, or nil.
	PeerCertificate *x509.Certificate
	// Route is the matched route, or nil.
	Route *Route
	// Params are the route's named path parameters.
	Params Params
	// Identity is the principal, filled by authentication filters.
	Identity Identity
	// RequestID is the request's id (generated, or passed by a trusted
	// client).
	RequestID []byte
	// Start is when the engine began reading the request.
	Start time.Time
	// Status is the final response status, set by the engine.
	Status int
	// BytesIn and BytesOut count body bytes received and sent.
	BytesIn, BytesOut int64
	// Generation is the config generation serving the request.
	Generation uint64
	// Fallback names the filter that decided the request by its fail mode
	// because a store it normally consults (a shared rate-limit store)
	// could not be reached; empty otherwise. The audit record keeps it.
	Fallback string

	headers     Headers
	reason      *Reason
	filterIndex int8
	ran         int8 // filters of the chain whose Handle ran
	detail      []byte
	respHeaders []headerKV
	arena       []byte
}

var exchangePool = sync.Pool{New: func() any {
	ex := new(Exchange)
	ex.Reset()
	return ex
}}

// AcquireExchange returns an empty exchange from the pool.
func AcquireExchange() *Exchange { return exchangePool.Get().(*Exchange) }

// ReleaseExchange resets ex and returns it to the pool. ex must not be used
// afterwards.
func ReleaseExchange(ex *Exchange) {
	ex.Reset()
	exchangePool.Put(ex)
}

// Reset empties ex, keeping the capacity of its buffers.
func (ex *Exchange) Reset() {
	ex.Method, ex.Path, ex.RawTarget, ex.Query, ex.Host, ex.Body = nil, nil, nil, nil, nil, nil
	ex.ContentLength = -1
	ex.ClientIP, ex.PeerIP = netip.Addr{}, netip.Addr{}
	ex.TLS = false
	ex.PeerCertificate = nil
	ex.Route = nil
	ex.Params.Reset()
	ex.Identity.reset()
	ex.RequestID = ex.RequestID[:0]
	ex.Start = time.Time{}
	ex.Status = 0
	ex.BytesIn, ex.BytesOut = 0, 0
	ex.Generation = 0
	ex.Fallback = ""
	ex.headers = nil
	ex.reason = nil
	ex.filterIndex = -1
	ex.ran = 0
	ex.detail = ex.detail[:0]
	ex.respHeaders = ex.respHeaders[:0]
	ex.arena = ex.arena[:0]
}

// SetHeaders attaches the engine's header adapter.
func (ex *Exchange) SetHeaders(h Headers) { ex.headers = h }

// Header returns the first value of the named request header, or nil.
func (ex *Exchange) Header(name string) []byte {
	if ex.headers == nil {
		return nil
	}
	return ex.headers.Peek(name)
}

// HeaderCount returns how many fields of the named header the request
// carries, so a filter can refuse a header sent twice that an upstream
// might read differently. An adapter that cannot count answers 0 or 1,
// by Peek.
func (ex *Exchange) HeaderCount(name string) int {
	if ex.headers == nil {
		return 0
	}
	if c, ok := ex.headers.(HeaderCounter); ok {
		return c.Count(name)
	}
	if ex.headers.Peek(name) != nil {
		return 1
	}
	return 0
}

// SetHeader replaces a request header sent upstream.
func (ex *Exchange) SetHeader(name string, value []byte) {
	if ex.headers != nil {
		ex.headers.Set(name, value)
	}
}

// DelHeader removes a request header before it goes upstream.
func (ex *Exchange) DelHeader(name string) {
	if ex.headers != nil {
		ex.headers.Del(name)
	}
}

// AddResponseHeader adds a header to the response the client gets, whether
// it is a refusal or the upstream's answer. value is copied.
func (ex *Exchange) AddResponseHeader(name string, value []byte) {
	start := len(ex.arena)
	ex.arena = append(ex.arena, value...)
	ex.respHeaders = append(ex.respHeaders, headerKV{name: name, start: start, end: len(ex.arena)})
}

// ResponseHeaderCount returns the number of headers added by filters.
func (ex *Exchange) ResponseHeaderCount() int { return len(ex.respHeaders) }

// ResponseHeader returns the i-th header added by filters.
func (ex *Exchange) ResponseHeader(i int) (name string, value []byte) {
	kv := ex.respHeaders[i]
	return kv.name, ex.arena[kv.start:kv.end]
}

// AppendDetail appends dynamic detail text (such as a failing JSON pointer)
// for the problem body of a refusal.
func (ex *Exchange) AppendDetail(b ...byte) { ex.detail = append(ex.detail, b...) }

// AppendDetailString is AppendDetail for a string.
func (ex *Exchange) AppendDetailString(s string) { ex.detail = append(ex.detail, s...) }

// Detail returns the detail text appended by filters.
func (ex *Exchange) Detail() []byte { return ex.detail }

// Refuse records a refusal decided outside a chain (by the engine).
func (ex *Exchange) Refuse(r *Reason) { ex.refuse(r, -1) }

func (ex *Exchange) refuse(r *Reason, filter int8) {
	ex.reason = r
	ex.filterIndex = filter
}

// Reason returns the refusal reason, or nil when the request was allowed.
func (ex *Exchange) Reason() *Reason { return ex.reason }

// FilterIndex returns the index in the route's chain of the filter that
// refused the request, or -1.
func (ex *Exchange) FilterIndex() int { return int(ex.filterIndex) }

// Decision returns the request's outcome class.
func (ex *Exchange) Decision() Decision {
	if ex.reason != nil {
		return ex.reason.Decision
	}
	return DecisionAllowed
}

// AppendProblem appends the problem+json body for the exchange's refusal.
func (ex *Exchange) AppendProblem(dst []byte) []byte {
	r := ex.reason
	if r == nil {
		r = ReasonInternal
	}
	return r.AppendProblem(dst, ex.detail, ex.RequestID)
}

// noCopy makes `go vet` flag copies of the struct that embeds it.
type noCopy struct{}

func (*noCopy) Lock()   {}
func (*noCopy) Unlock() {}
