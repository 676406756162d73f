package introspect

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"math"
	"strconv"
)

// response is the part of an RFC 7662 §2.2 introspection response the
// filter uses. Optional members that are absent or null are zero with
// their has flag false.
type response struct {
	active   bool
	sub      string
	clientID string
	iss      string
	scope    string

	exp, nbf, iat          int64 // unix seconds
	hasExp, hasNbf, hasIat bool

	aud    []string
	hasAud bool

	roles     []string // names found at the roles claim path
	tenant    string
	hasTenant bool

	members map[string]json.RawMessage // every top-level member, for require_claims
}

// Response errors. They are never shown to clients (a bad response is a
// 503 with a fixed detail) but name the problem in tests and logs.
var (
	errNotObject = errors.New("introspect: response is not a JSON object")
	errTrailing  = errors.New("introspect: data after the response object")
	errDuplicate = errors.New("introspect: response repeats a member")
	errActive    = errors.New("introspect: active is missing or not a boolean")
	errType      = errors.New("introspect: a registered member has the wrong type")
)

// parseResponse decodes an introspection response strictly: one JSON
// object, no repeated top-level member (a repeated "active" would be read
// differently by different parsers), a boolean active (RFC 7662 §2.2), and
// the registered members with their registered types. rolesPath and
// tenantPath are claim paths (dotted, already split); values of other
// types found there are ignored, as jwtauth does.
func parseResponse(body []byte, rolesPath, tenantPath []string) (*response, error) {
	members, err := topLevel(body)
	if err != nil {
		return nil, err
	}
	r := &response{members: members}
	switch v := string(bytes.TrimSpace(members["active"])); v {
	case "true":
		r.active = true
	case "false":
	default:
		return nil, errActive
	}
	if !r.active {
		return r, nil // RFC 7662 §2.2: nothing else is meaningful
	}
	strs := []struct {
		name string
		dst  *string
	}{{"sub", &r.sub}, {"client_id", &r.clientID}, {"iss", &r.iss}, {"scope", &r.scope}}
	for _, s := range strs {
		if _, err := optString(members[s.name], s.dst); err != nil {
			return nil, err
		}
	}
	nums := []struct {
		name string
		dst  *int64
		has  *bool
	}{{"exp", &r.exp, &r.hasExp}, {"nbf", &r.nbf, &r.hasNbf}, {"iat", &r.iat, &r.hasIat}}
	for _, n := range nums {
		if *n.has, err = optNumericDate(members[n.name], n.dst); err != nil {
			return nil, err
		}
	}
	if r.aud, r.hasAud, err = optAudience(members["aud"]); err != nil {
		return nil, err
	}
	if len(rolesPath) > 0 {
		r.roles = roleNames(lookup(members, rolesPath))
	}
	if len(tenantPath) > 0 {
		if v := lookup(members, tenantPath); len(v) > 0 && v[0] == '"' {
			r.hasTenant = json.Unmarshal(v, &r.tenant) == nil
		}
	}
	return r, nil
}

// topLevel splits one JSON object into its members, refusing repeated
// names and anything after the object.
func topLevel(body []byte) (map[string]json.RawMessage, error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return nil, errNotObject
	}
	members := make(map[string]json.RawMessage, 16)
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return nil, errNotObject
		}
		name, _ := t.(string)
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return nil, errNotObject
		}
		if _, dup := members[name]; dup {
			return nil, errDuplicate
		}
		members[name] = raw
	}
	if t, err := dec.Token(); err != nil || t != json.Delim('}') {
		return nil, errNotObject
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errTrailing
	}
	return members, nil
}

func isNull(raw json.RawMessage) bool {
	return len(raw) == 0 || string(raw) == "null"
}

// optString decodes an optional string member; null counts as absent.
func optString(raw json.RawMessage, dst *string) (bool, error) {
	if isNull(raw) {
		return false, nil
	}
	if raw[0] != '"' || json.Unmarshal(raw, dst) != nil {
		return false, errType
	}
	return true, nil
}

// optNumericDate decodes an optional NumericDate (RFC 7519 §2: seconds,
// possibly fractional), truncated to whole seconds and clamped to ±2^53.
func optNumericDate(raw json.RawMessage, dst *int64) (bool, error) {
	if isNull(raw) {
		return false, nil
	}
	if c := raw[0]; c != '-' && (c < '0' || c > '9') {
		return false, errType
	}
	v, err := strconv.ParseFloat(string(raw), 64)
	if err != nil {
		return false, errType
	}
	*dst = int64(math.Max(math.Min(math.Floor(v), 1<<53), -(1 << 53)))
	return true, nil
}

// optAudience decodes aud: a string or an array of strings (RFC 7662 §2.2,
// RFC 7519 §4.1.3).
func optAudience(raw json.RawMessage) ([]string, bool, error) {
	if isNull(raw) {
		return nil, false, nil
	}
	switch raw[0] {
	case '"':
		var s string
		if json.Unmarshal(raw, &s) != nil {
			return nil, false, errType
		}
		return []string{s}, true, nil
	case '[':
		var a []string
		if json.Unmarshal(raw, &a) != nil {
			return nil, false, errType
		}
		return a, true, nil
	}
	return nil, false, errType
}

// lookup follows a claim path through nested objects; it returns nil when
// a segment is missing or a parent is not an object.
func lookup(members map[string]json.RawMessage, path []string) json.RawMessage {
	v := members[path[0]]
	for _, seg := range path[1:] {
		if len(v) == 0 || v[0] != '{' {
			return nil
		}
		var m map[string]json.RawMessage
		if json.Unmarshal(v, &m) != nil {
			return nil
		}
		v = m[seg]
	}
	return v
}

// roleNames reads role names from a claim value: an array of strings
// (roles, groups, realm_access.roles) whose other elements are ignored, or
// a space-separated string (scope, RFC 7662 §2.2).
func roleNames(v json.RawMessage) []string {
	if len(v) == 0 {
		return nil
	}
	switch v[0] {
	case '"':
		var s string
		if json.Unmarshal(v, &s) != nil {
			return nil
		}
		var out []string
		for len(s) > 0 {
			i := 0
			for i < len(s) && s[i] != ' ' {
				i++
			}
			if i > 0 {
				out = append(out, s[:i])
			}
			if i == len(s) {
				break
			}
			s = s[i+1:]
		}
		return out
	case '[':
		var elems []json.RawMessage
		if json.Unmarshal(v, &elems) != nil {
			return nil
		}
		var out []string
		for _, e := range elems {
			var s string
			if len(e) > 0 && e[0] == '"' && json.Unmarshal(e, &s) == nil {
				out = append(out, s)
			}
		}
		return out
	}
	return nil
}
