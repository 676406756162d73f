package introspect

import "github.com/tollgate-proxy/tollgate/filters"

// refusal is a reason with its pre-rendered response headers.
type refusal struct {
	idx        int
	reason     *filters.Reason
	www        []byte // WWW-Authenticate value; nil: none
	retryAfter []byte // Retry-After value; nil: none
}

const (
	refMissing = iota
	refMalformed
	refInactive
	refExpired
	refNotYetValid
	refWrongIssuer
	refWrongAudience
	refUnavailable
	refClaimRequired
	refConflict
	numRefusals
)

// retryAfterSeconds is the Retry-After of a 503: introspection failures are
// usually brief (a restart, a network blip), and a client retrying after a
// second either succeeds or meets the same answer cheaply.
const retryAfterSeconds = "1"

// refusals are the filter's stable reasons, with the same codes as the
// jwtauth filter where the meaning is the same. Every 401 carries an
// RFC 6750 §3 challenge; a request with no token gets a bare "Bearer"
// challenge, as RFC 6750 §3.1 asks when no credential was presented.
var refusals = [numRefusals]refusal{
	refMissing:       bearer(refMissing, "authn.token_missing", "a bearer token is required", false),
	refMalformed:     bearer(refMalformed, "authn.token_malformed", "the token is malformed", true),
	refInactive:      bearer(refInactive, "authn.token_inactive", "the token is not active", true),
	refExpired:       bearer(refExpired, "authn.token_expired", "the token has expired", true),
	refNotYetValid:   bearer(refNotYetValid, "authn.token_not_yet_valid", "the token is not valid yet", true),
	refWrongIssuer:   bearer(refWrongIssuer, "authn.wrong_issuer", "the token issuer is not trusted", true),
	refWrongAudience: bearer(refWrongAudience, "authn.wrong_audience", "the token is not meant for this audience", true),
	refClaimRequired: bearer(refClaimRequired, "authn.claim_required", "the token lacks a claim value this route requires", true),
	refConflict:      {idx: refConflict, reason: filters.ReasonConflictingCredentials},
	refUnavailable: {
		idx:        refUnavailable,
		reason:     filters.NewReason("authn.introspection_unavailable", 503, filters.DecisionUpstreamError, "the token introspection service is unavailable"),
		retryAfter: []byte(retryAfterSeconds),
	},
}

func bearer(idx int, code, title string, invalid bool) refusal {
	www := []byte("Bearer")
	if invalid {
		www = append(www, ` error="invalid_token", error_description="`+title+`"`...)
	}
	return refusal{idx: idx, reason: filters.NewReason(code, 401, filters.DecisionDenied, title), www: www}
}

// Reasons lists the refusal reasons this filter can return, for
// documentation and `tollgate explain`.
func Reasons() []*filters.Reason {
	out := make([]*filters.Reason, len(refusals))
	for i := range refusals {
		out[i] = refusals[i].reason
	}
	return out
}

// Header names the filter writes (RFC 9110 §11.6.1, §10.2.3).
const (
	headerWWWAuthenticate = "WWW-Authenticate"
	headerRetryAfter      = "Retry-After"
)
