package filters

// A request may carry a bearer token and an API key at once (an
// Authorization header and an X-API-Key header), or a bearer token over a
// mutual-TLS connection whose client certificate maps to a principal. When
// both are valid and name different principals, which one the request acts
// for would be the client's choice, so it is refused with
// ReasonConflictingCredentials and attributed to neither, whatever the
// order of the filters that read them.

// ReasonConflictingCredentials refuses a request whose credentials (a
// bearer token and an API key or client certificate) are both valid but
// name different principals. It is 400 like ReasonDuplicateCredentials,
// for the same reason: the request is ambiguous, not unauthenticated.
var ReasonConflictingCredentials = NewReason("authn.conflicting_credentials", 400, DecisionInvalid, "the request's credentials name different principals")

// ConflictsWithKey reports whether id holds an API key's or a client
// certificate's principal, verified by an earlier filter, other than the
// one named by subject and tenant: the same subject and the same tenant
// (both empty counts as the same) are one principal. It does not allocate.
func ConflictsWithKey(id *Identity, subject, tenant []byte) bool {
	return id.Verified && (id.Method == AuthAPIKey || id.Method == AuthMTLS) &&
		(string(id.Subject) != string(subject) || string(id.Tenant) != string(tenant))
}

// Unattributed clears id, for a request refused for conflicting
// credentials: it is recorded with no principal and no hint, like a
// request carrying one credential header twice.
func Unattributed(id *Identity) {
	id.Subject, id.Tenant, id.Issuer, id.KeyID = id.Subject[:0], id.Tenant[:0], id.Issuer[:0], id.KeyID[:0]
	id.Roles, id.Scopes = 0, 0
	id.Method = AuthNone
	id.Verified = false
}
