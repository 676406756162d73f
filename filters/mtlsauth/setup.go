package mtlsauth

import (
	"net/textproto"
	"net/url"

	"github.com/tollgate-proxy/tollgate/filters"
)

// New builds the filter from its config entry.
func New(spec filters.Spec) (filters.Filter, error) {
	var cfg Config
	if err := spec.Decode(&cfg); err != nil {
		return nil, err
	}
	if len(cfg.Identities) == 0 {
		return nil, spec.Errorf("identities: at least one certificate mapping is required")
	}
	f := &Filter{optional: cfg.Optional, second: cfg.SecondFactor}
	if cfg.SubjectHeader != "" {
		f.subjectHeader = textproto.CanonicalMIMEHeaderKey(cfg.SubjectHeader)
	}
	for i, ic := range cfg.Identities {
		set := 0
		for _, v := range []string{ic.CommonName, ic.DNS, ic.URI} {
			if v != "" {
				set++
			}
		}
		if set != 1 {
			return nil, spec.Errorf("identities[%d]: set exactly one of common_name, dns and uri", i)
		}
		if ic.Principal == "" {
			return nil, spec.Errorf("identities[%d]: principal is required", i)
		}
		if ic.URI != "" {
			u, err := url.Parse(ic.URI)
			if err != nil || u.Scheme == "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
				return nil, spec.Errorf("identities[%d]: invalid uri %q: want scheme://host/path, such as spiffe://example.org/billing", i, ic.URI)
			}
		}
		id := identity{cn: ic.CommonName, dns: ic.DNS, uri: ic.URI, principal: []byte(ic.Principal), tenant: []byte(ic.Tenant)}
		for _, r := range ic.Roles {
			bit, err := spec.Roles.Intern(r)
			if err != nil {
				return nil, spec.Errorf("identities[%d]: %v", i, err)
			}
			id.roles |= 1 << uint(bit)
		}
		f.ids = append(f.ids, id)
	}
	return f, nil
}
