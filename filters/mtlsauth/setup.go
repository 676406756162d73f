package mtlsauth

import (
	"errors"
	"net/textproto"
	"net/url"
	"strconv"

	"github.com/tollgate-proxy/tollgate/filters"
)

// New builds the filter from its config entry. A decode error does not
// stop the checks: they run on what decoded, so one run reports every
// problem, each at the identity or setting it is about.
func New(spec filters.Spec) (filters.Filter, error) {
	var cfg Config
	var errs []error
	if err := spec.Decode(&cfg); err != nil {
		errs = append(errs, err)
	}
	if len(cfg.Identities) == 0 {
		errs = append(errs, spec.ErrorAt("identities", "at least one certificate mapping is required"))
	}
	f := &Filter{optional: cfg.Optional, second: cfg.SecondFactor}
	if cfg.SubjectHeader != "" {
		f.subjectHeader = textproto.CanonicalMIMEHeaderKey(cfg.SubjectHeader)
	}
	for i, ic := range cfg.Identities {
		id, idErrs := buildIdentity(spec, i, ic)
		errs = append(errs, idErrs...)
		f.ids = append(f.ids, id)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return f, nil
}

// buildIdentity checks identities[i], reporting each problem at its field
// (one about the choice of field at the identity), and builds it.
func buildIdentity(spec filters.Spec, i int, ic IdentityConfig) (identity, []error) {
	at := "identities[" + strconv.Itoa(i) + "]"
	var errs []error
	set := 0
	for _, v := range []string{ic.CommonName, ic.DNS, ic.URI} {
		if v != "" {
			set++
		}
	}
	if set != 1 {
		errs = append(errs, spec.ErrorAt(at, "set exactly one of common_name, dns and uri"))
	}
	if ic.Principal == "" {
		errs = append(errs, spec.ErrorAt(at+".principal", "required"))
	}
	if ic.URI != "" {
		u, err := url.Parse(ic.URI)
		if err != nil || u.Scheme == "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
			errs = append(errs, spec.ErrorAt(at+".uri", "invalid uri %q: want scheme://host/path, such as spiffe://example.org/billing", ic.URI))
		}
	}
	id := identity{cn: ic.CommonName, dns: ic.DNS, uri: ic.URI, principal: []byte(ic.Principal), tenant: []byte(ic.Tenant)}
	for j, r := range ic.Roles {
		bit, err := spec.Roles.Intern(r)
		if err != nil {
			errs = append(errs, spec.ErrorAt(at+".roles["+strconv.Itoa(j)+"]", "%v", err))
			continue
		}
		id.roles |= 1 << uint(bit)
	}
	return id, errs
}
