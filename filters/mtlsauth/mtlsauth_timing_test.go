package mtlsauth

import (
	"crypto/x509"
	"crypto/x509/pkix"
	"testing"

	"github.com/tollgate-proxy/tollgate/filters"
	"github.com/tollgate-proxy/tollgate/filters/filtertest"
)

const benchConfig = `
subject_header: X-Auth-Subject
identities:
  - {common_name: other-svc, principal: other}
  - {common_name: vera-laptop, principal: vera, tenant: acme, roles: [editor]}
  - {common_name: billing-svc, principal: billing}
`

// benchCase is one request shape for the benchmarks and the allocation
// gate: the certificate presented and the identity an earlier filter left.
type benchCase struct {
	name   string
	cfg    string
	cn     string
	prior  string // the subject an earlier token filter verified, if any
	want   *filters.Reason
	tenant string
}

var benchCases = []benchCase{
	{name: "mapped", cfg: benchConfig, cn: "vera-laptop"},
	{name: "unmapped", cfg: benchConfig, cn: "intruder", want: ReasonUnmapped},
	{name: "after token, same principal", cfg: benchConfig, cn: "vera-laptop", prior: "vera", tenant: "acme"},
	{name: "after token, conflicting", cfg: benchConfig, cn: "vera-laptop", prior: "ada", tenant: "acme", want: filters.ReasonConflictingCredentials},
	{name: "after token, second factor", cfg: benchConfig + "second_factor: true\n", cn: "billing-svc", prior: "ada", tenant: "acme"},
}

func (c *benchCase) setup(tb testing.TB) (*Filter, *filters.Exchange) {
	tb.Helper()
	roles := filters.NewRoles()
	f, err := New(filtertest.Spec("mtlsauth", "r", c.cfg, roles))
	if err != nil {
		tb.Fatal(err)
	}
	ex := filters.AcquireExchange()
	ex.SetHeaders(filtertest.NewStaticHeaders("X-Auth-Subject", "forged-subject-value"))
	ex.PeerCertificate = &x509.Certificate{Subject: pkix.Name{CommonName: c.cn}}
	return f.(*Filter), ex
}

// reset puts back the identity an earlier filter would have left.
func (c *benchCase) reset(ex *filters.Exchange) {
	id := &ex.Identity
	filters.Unattributed(id)
	if c.prior != "" {
		id.Method, id.Verified = filters.AuthJWT, true
		id.Subject = append(id.Subject[:0], c.prior...)
		id.Tenant = append(id.Tenant[:0], c.tenant...)
	}
}

func BenchmarkHandle(b *testing.B) {
	for _, c := range benchCases {
		b.Run(c.name, func(b *testing.B) {
			f, ex := c.setup(b)
			defer filters.ReleaseExchange(ex)
			b.ReportAllocs()
			for b.Loop() {
				c.reset(ex)
				sink = f.Handle(ex)
			}
		})
	}
}

var sink filters.Verdict
