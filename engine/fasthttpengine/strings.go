package fasthttpengine

// Header names and fixed values, kept as constants so the hot path builds
// no strings.
const (
	hdrConnection      = "Connection"
	hdrKeepAlive       = "Keep-Alive"
	hdrProxyConnection = "Proxy-Connection"
	hdrProxyAuthz      = "Proxy-Authorization"
	hdrProxyAuthn      = "Proxy-Authenticate"
	hdrTE              = "TE"
	hdrTrailer         = "Trailer"
	hdrUpgrade         = "Upgrade"
	hdrExpect          = "Expect"
	hdrXFF             = "X-Forwarded-For"
	hdrXFProto         = "X-Forwarded-Proto"
	hdrXFHost          = "X-Forwarded-Host"
	hdrForwarded       = "Forwarded"
	hdrXRealIP         = "X-Real-Ip"
	hdrRequestID       = "X-Request-Id"
	hdrAllow           = "Allow"
	hdrRetryAfter      = "Retry-After"
)

// hopByHop are the connection-specific fields of RFC 9110 §7.6.1 (plus the
// legacy Keep-Alive and Proxy-Connection) that a proxy must not forward.
// Transfer-Encoding is framing, which fasthttp re-creates itself.
var hopByHop = [...]string{
	hdrConnection, hdrKeepAlive, hdrProxyConnection, hdrProxyAuthz, hdrProxyAuthn,
	hdrTE, hdrTrailer, hdrUpgrade,
}

var (
	strHTTP  = []byte("http")
	strHTTPS = []byte("https")
	strComma = []byte(", ")
	strOne   = []byte("1")
)
