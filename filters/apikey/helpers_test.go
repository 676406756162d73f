package apikey

import (
	"crypto/sha256"
	"encoding/hex"

	"github.com/tollgate-proxy/tollgate/filters"
	"github.com/tollgate-proxy/tollgate/filters/filtertest"
)

// testSpec returns a spec whose Decode strictly decodes src, sharing roles.
func testSpec(src string, roles *filters.Roles) filters.Spec {
	return filtertest.Spec("apikey", "r", src, roles)
}

// hashOf returns the hex SHA-256 of a key, as an operator would configure it.
func hashOf(k string) string {
	s := sha256.Sum256([]byte(k))
	return hex.EncodeToString(s[:])
}

// headers returns test headers holding the name, value pairs kv.
func headers(kv ...string) *filtertest.StaticHeaders { return filtertest.NewStaticHeaders(kv...) }
