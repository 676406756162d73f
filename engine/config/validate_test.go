package config

import (
	"net/netip"
	"strings"
	"testing"
	"time"
)

// Validate also works on a config built in code: errors name the setting,
// without a position.
func TestValidateBuiltInCode(t *testing.T) {
	cfg := &Config{
		Listeners: []Listener{
			{Name: "a", Listen: "127.0.0.1:8080", ReadTimeout: Duration(-time.Second)},
			{Name: "b", Listen: "127.0.0.1:8080", MaxConnections: -1},
		},
		Upstreams: []Upstream{{Name: "u", Targets: []string{"10.0.0.1:80"}}},
		Routes: []Route{
			{Name: "r", Path: "/", Upstream: "u", Methods: []string{"GET", "GET"}},
			{Name: "s", Path: "/s", Upstream: "u", Host: "a b"},
		},
	}
	want := strings.Join([]string{
		`listeners[0].read_timeout: must not be negative`,
		`listeners[1].listen: address "127.0.0.1:8080" is already used by listeners[0].listen`,
		`listeners[1].max_connections: must not be negative`,
		`routes[0].methods[1]: duplicate method "GET"`,
		`routes[1].host: invalid host "a b": want a Host header value such as api.example.com`,
	}, "\n")
	if err := cfg.Validate(); err == nil || err.Error() != want {
		t.Fatalf("got\n%v\nwant\n%s", err, want)
	}

	cfg = &Config{Path: "t.yaml", Listeners: []Listener{{Name: "a", Listen: ":0"}}}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	cfg.Routes = []Route{{Name: "r", Path: "/", Upstream: "u"}}
	if err := cfg.Validate(); err == nil || err.Error() != `t.yaml: routes[0].upstream: unknown upstream "u": no upstreams are defined` {
		t.Fatalf("got %v", err)
	}
}

func TestParseTrustedProxy(t *testing.T) {
	f := func(in, want string) {
		t.Helper()
		p, err := ParseTrustedProxy(in)
		got := p.String()
		if err != nil {
			got = err.Error()
		}
		if got != want {
			t.Fatalf("ParseTrustedProxy(%q) = %s, want %s", in, got, want)
		}
	}
	f("10.0.0.0/8", "10.0.0.0/8")
	f("10.0.0.7", "10.0.0.7/32")
	f("::1", "::1/128")
	f("::ffff:10.0.0.7", "10.0.0.7/32")
	f("fd00::/8", "fd00::/8")
	f("0.0.0.0/0", "0.0.0.0/0")
	f("10.0.0.1/8", `invalid trusted proxy "10.0.0.1/8": host bits are set; write "10.0.0.0/8" for the network or "10.0.0.1/32" for one host`)
	f("10.0.0.0/33", `invalid trusted proxy "10.0.0.0/33": want a CIDR such as 10.0.0.0/8 or an IP address`)
	f("localhost", `invalid trusted proxy "localhost": want a CIDR such as 10.0.0.0/8 or an IP address`)
	f("fe80::1%eth0", `invalid trusted proxy "fe80::1%eth0": want a CIDR such as 10.0.0.0/8 or an IP address`)
	f("", `invalid trusted proxy "": want a CIDR such as 10.0.0.0/8 or an IP address`)

	l := Listener{Name: "l", TrustedProxies: []string{"10.0.0.0/8", "::1"}}
	ps, err := l.TrustedPrefixes()
	if err != nil || len(ps) != 2 || ps[1] != netip.MustParsePrefix("::1/128") {
		t.Fatalf("TrustedPrefixes = %v, %v", ps, err)
	}
	l.TrustedProxies = append(l.TrustedProxies, "x")
	if _, err := l.TrustedPrefixes(); err == nil || !strings.HasPrefix(err.Error(), `cannot parse trusted proxies of listener "l": invalid trusted proxy "x"`) {
		t.Fatalf("got %v", err)
	}
}

func TestCheckAddr(t *testing.T) {
	f := func(in string, listen bool, want string) {
		t.Helper()
		if got := checkAddr(in, listen, listen); got != want {
			t.Fatalf("checkAddr(%q, %v) = %q, want %q", in, listen, got, want)
		}
	}
	f("127.0.0.1:8080", false, "")
	f("[::1]:443", false, "")
	f("api.internal:80", false, "")
	f("db_1:5432", false, "")
	f(":8080", true, "")
	f("127.0.0.1:0", true, "")
	f("127.0.0.1:0", false, `invalid port in "127.0.0.1:0": want a number from 1 to 65535`)
	f(":80", false, `invalid address ":80": the host is missing`)
	f("127.0.0.1:65536", true, `invalid port in "127.0.0.1:65536": want a number from 1 to 65535`)
	f("::1:80", true, `invalid address "::1:80": want host:port, such as 127.0.0.1:8080`)
	f("-bad-:80", false, `invalid host in "-bad-:80": want an IP address or a DNS name`)
	f("a..b:80", false, `invalid host in "a..b:80": want an IP address or a DNS name`)
	f(strings.Repeat("a", 64)+":80", false, `invalid host in "`+strings.Repeat("a", 64)+`:80": want an IP address or a DNS name`)
}

func TestByteSize(t *testing.T) {
	f := func(in string, want ByteSize, str string) {
		t.Helper()
		got, err := ParseByteSize(in)
		if err != nil || got != want || got.String() != str {
			t.Fatalf("ParseByteSize(%q) = %d (%s), %v; want %d (%s)", in, got, got, err, want, str)
		}
	}
	f("0", 0, "0")
	f("1000", 1000, "1000")
	f("64KiB", 64<<10, "64KiB")
	f(" 10 MiB ", 10<<20, "10MiB")
	f("1GiB", 1<<30, "1GiB")
	f("64KB", 64000, "64000")
	f("2MB", 2000000, "2000000")
	f("3GB", 3000000000, "3000000000")
	f("1536KiB", 1536<<10, "1536KiB")
	f("7B", 7, "7")
	for _, bad := range []string{"", "-1", "1.5MiB", "MiB", "1 TiB", "99999999999GiB", "0x10"} {
		if _, err := ParseByteSize(bad); err == nil {
			t.Errorf("ParseByteSize(%q): no error", bad)
		}
	}
	if s := Duration(90 * time.Second).String(); s != "1m30s" {
		t.Errorf("Duration.String = %q", s)
	}
}

func TestEditDistance(t *testing.T) {
	f := func(a, b string, want int) {
		t.Helper()
		if got := editDistance(a, b, 3); got != want {
			t.Fatalf("editDistance(%q, %q) = %d, want %d", a, b, got, want)
		}
	}
	f("burst", "burst", 0)
	f("burts", "burst", 2)
	f("levle", "level", 2)
	f("filter", "filters", 1)
	f("x", "listeners", 3)
	f("", "ab", 2)
}

// Audit shipping settings are checked with the rest, each at its position.
func TestValidateAuditShip(t *testing.T) {
	text := "listeners: [{name: l, listen: ':0'}]\naudit:\n  dir: d\n  signing_key_file: k\n  ship:\n    postgres: {url: 'mysql://db/x', max_lag: -1}\n"
	_, err := Parse("c.yaml", []byte(text), env())
	if err == nil {
		t.Fatal("accepted")
	}
	for _, want := range []string{
		`c.yaml:6:21: audit.ship.postgres.url: invalid PostgreSQL URL`,
		`c.yaml:6:46: audit.ship.postgres.max_lag: must not be negative`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("got\n%v\nwant a line with %q", err, want)
		}
	}
	ok := strings.Replace(text, "{url: 'mysql://db/x', max_lag: -1}", "{url: 'postgres://tollgate@db:5432/audit', max_lag: 1000}", 1)
	cfg, err := Parse("c.yaml", []byte(ok), env())
	if err != nil || cfg.Audit.Ship.Postgres.MaxLag != 1000 {
		t.Fatalf("%v", err)
	}
}
