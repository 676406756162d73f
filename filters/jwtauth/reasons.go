package jwtauth

import "github.com/tollgate-proxy/tollgate/filters"

// refusal is a reason with its pre-rendered WWW-Authenticate value.
type refusal struct {
	idx    int
	reason *filters.Reason
	www    []byte // nil: no WWW-Authenticate header
}

const (
	refMissing = iota
	refMalformed
	refExpired
	refNotYetValid
	refBadSignature
	refWrongAudience
	refWrongIssuer
	refUnknownKey
	refAlgNotAllowed
	refHeaderNotAllowed
	refKeysUnavailable
	refClaimRequired
	refConflict
	numRefusals
)

// refusals are the filter's stable reasons. Every 401 carries an RFC 6750
// §3 challenge; a request with no token gets a bare "Bearer" challenge, as
// RFC 6750 §3.1 asks when no credential was presented.
var refusals = [numRefusals]refusal{
	refMissing:          bearer(refMissing, "authn.token_missing", 401, "a bearer token is required", false),
	refMalformed:        bearer(refMalformed, "authn.token_malformed", 401, "the token is malformed", true),
	refExpired:          bearer(refExpired, "authn.token_expired", 401, "the token has expired", true),
	refNotYetValid:      bearer(refNotYetValid, "authn.token_not_yet_valid", 401, "the token is not valid yet", true),
	refBadSignature:     bearer(refBadSignature, "authn.bad_signature", 401, "the token signature is invalid", true),
	refWrongAudience:    bearer(refWrongAudience, "authn.wrong_audience", 401, "the token is not meant for this audience", true),
	refWrongIssuer:      bearer(refWrongIssuer, "authn.wrong_issuer", 401, "the token issuer is not trusted", true),
	refUnknownKey:       bearer(refUnknownKey, "authn.unknown_key", 401, "the token signing key is unknown", true),
	refAlgNotAllowed:    bearer(refAlgNotAllowed, "authn.alg_not_allowed", 401, "the token signing algorithm is not allowed", true),
	refHeaderNotAllowed: bearer(refHeaderNotAllowed, "authn.header_not_allowed", 401, "the token header carries a refused parameter", true),
	refClaimRequired:    bearer(refClaimRequired, "authn.claim_required", 401, "the token lacks a claim value this route requires", true),
	refConflict:         {idx: refConflict, reason: filters.ReasonConflictingCredentials},
	refKeysUnavailable: {
		idx:    refKeysUnavailable,
		reason: filters.NewReason("authn.keys_unavailable", 503, filters.DecisionUpstreamError, "the token issuer's signing keys are unavailable"),
	},
}

func bearer(idx int, code string, status int, title string, invalid bool) refusal {
	www := []byte("Bearer")
	if invalid {
		www = append(www, ` error="invalid_token", error_description="`+title+`"`...)
	}
	return refusal{idx: idx, reason: filters.NewReason(code, status, filters.DecisionDenied, title), www: www}
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
