package mtlsauth

import (
	"crypto/x509"

	"github.com/tollgate-proxy/tollgate/filters"
)

// Config is the filter's config block.
type Config struct {
	// Identities map certificates to principals; the first match wins.
	Identities []IdentityConfig `yaml:"identities"`
	// Optional lets requests without a client certificate through
	// unauthenticated (a later filter, such as rbac, decides).
	Optional bool `yaml:"optional"`
	// SubjectHeader, if set, carries the principal to the upstream; the
	// client's own copy is always removed first.
	SubjectHeader string `yaml:"subject_header"`
	// SecondFactor makes the certificate a second credential on purpose: after an identity verified by an earlier filter (a user's token), the certificate must be valid and mapped but may name another principal (the calling workload), and the first identity is kept. By default the two must name the same principal and tenant, else the request is refused with 400 authn.conflicting_credentials.
	SecondFactor bool `yaml:"second_factor"`
}

// IdentityConfig maps one certificate to a principal. Exactly one of
// CommonName, DNS and URI is set.
type IdentityConfig struct {
	// CommonName matches the certificate subject's CN.
	CommonName string `yaml:"common_name"`
	// DNS matches one of the certificate's DNS SANs.
	DNS string `yaml:"dns"`
	// URI matches one of the certificate's URI SANs, such as a SPIFFE ID.
	URI string `yaml:"uri"`
	// Principal is the subject the request is made as.
	Principal string `yaml:"principal"`
	// Roles are the principal's roles.
	Roles []string `yaml:"roles"`
	// Tenant is the principal's tenant, if any.
	Tenant string `yaml:"tenant"`
}

type identity struct {
	cn, dns, uri string
	principal    []byte
	tenant       []byte
	roles        filters.RoleSet
}

// Filter maps verified client certificates to identities.
type Filter struct {
	ids           []identity
	optional      bool
	second        bool // second_factor: the certificate may name another principal than an earlier identity
	subjectHeader string
}

// Interface guards.
var (
	_ filters.Filter            = (*Filter)(nil)
	_ filters.IdentityForwarder = (*Filter)(nil)
)

// Refusal reasons.
var (
	ReasonMissing  = filters.NewReason("authn.client_cert_missing", 403, filters.DecisionDenied, "a verified client certificate is required")
	ReasonUnmapped = filters.NewReason("authn.client_cert_unmapped", 403, filters.DecisionDenied, "the client certificate maps to no principal")
)

// Reasons lists the refusal reasons this filter can return, for
// documentation and `tollgate explain`.
func Reasons() []*filters.Reason {
	return []*filters.Reason{ReasonMissing, ReasonUnmapped, filters.ReasonConflictingCredentials}
}

// Name implements filters.Filter.
func (f *Filter) Name() string { return "mtlsauth" }

// Handle implements filters.Filter. A client-sent copy of the subject
// header is already gone: the pipeline deletes it before the chain runs
// (ForwardedHeaders).
func (f *Filter) Handle(ex *filters.Exchange) filters.Verdict {
	cert := ex.PeerCertificate
	if cert == nil {
		if f.optional {
			return filters.Continue
		}
		return filters.Respond(ReasonMissing)
	}
	id := f.match(cert)
	if id == nil {
		// Keep who presented it, flagged unverified as a principal.
		ex.Identity.Method = filters.AuthMTLS
		ex.Identity.Verified = false
		ex.Identity.KeyID = append(ex.Identity.KeyID[:0], cert.Subject.CommonName...)
		return filters.Respond(ReasonUnmapped)
	}
	if prior := &ex.Identity; prior.Verified && prior.Method != filters.AuthNone {
		// Two valid credentials (a token, then the certificate). They
		// must name the same principal unless the certificate is a second
		// factor on purpose; either way the first identity stays, and
		// the subject header carries it.
		if !f.second && (string(prior.Subject) != string(id.principal) || string(prior.Tenant) != string(id.tenant)) {
			filters.Unattributed(prior)
			return filters.Respond(filters.ReasonConflictingCredentials)
		}
		if f.subjectHeader != "" {
			ex.SetHeader(f.subjectHeader, prior.Subject)
		}
		return filters.Continue
	}
	ex.Identity.Method = filters.AuthMTLS
	ex.Identity.Verified = true
	ex.Identity.Subject = append(ex.Identity.Subject[:0], id.principal...)
	ex.Identity.Tenant = append(ex.Identity.Tenant[:0], id.tenant...)
	ex.Identity.KeyID = append(ex.Identity.KeyID[:0], cert.Subject.CommonName...)
	ex.Identity.Roles |= id.roles
	if f.subjectHeader != "" {
		ex.SetHeader(f.subjectHeader, id.principal)
	}
	return filters.Continue
}

func (f *Filter) match(cert *x509.Certificate) *identity {
	for i := range f.ids {
		id := &f.ids[i]
		switch {
		case id.cn != "":
			if cert.Subject.CommonName == id.cn {
				return id
			}
		case id.dns != "":
			for _, d := range cert.DNSNames {
				if d == id.dns {
					return id
				}
			}
		case id.uri != "":
			for _, u := range cert.URIs {
				if uriEqual(u.Scheme, u.Host, u.Path, u.Opaque, id.uri) {
					return id
				}
			}
		}
	}
	return nil
}

// uriEqual compares a parsed SAN URI with the configured one without
// formatting the URI (which would allocate per request).
func uriEqual(scheme, host, path, opaque, want string) bool {
	n := len(scheme) + 1
	if opaque != "" {
		return len(want) == n+len(opaque) && want[:len(scheme)] == scheme && want[len(scheme)] == ':' && want[n:] == opaque
	}
	n += 2 + len(host) + len(path)
	return len(want) == n && want[:len(scheme)] == scheme && want[len(scheme):len(scheme)+3] == "://" &&
		want[len(scheme)+3:len(scheme)+3+len(host)] == host && want[len(scheme)+3+len(host):] == path
}

// ForwardedHeaders implements filters.IdentityForwarder: the subject
// header, when one is set.
func (f *Filter) ForwardedHeaders() []string {
	if f.subjectHeader == "" {
		return nil
	}
	return []string{f.subjectHeader}
}
