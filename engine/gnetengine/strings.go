package gnetengine

// Header names and fixed values, kept as constants so the hot path builds
// no strings. They match the default engine's.
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
// Transfer-Encoding is framing and is handled by the relay itself.
var hopByHop = [...]string{
	hdrConnection, hdrKeepAlive, hdrProxyConnection, hdrProxyAuthz, hdrProxyAuthn,
	hdrTE, hdrTrailer, hdrUpgrade,
}

var (
	strHTTP       = []byte("http")
	strHTTPS      = []byte("https")
	strComma      = []byte(", ")
	strOne        = []byte("1")
	strCRLFCRLF   = []byte("\r\n\r\n")
	strClose      = []byte("close")
	strKeepAlive  = []byte("keep-alive")
	strHTTP11     = []byte("HTTP/1.1 ")
	strCRLF       = []byte("\r\n")
	strColonSpace = []byte(": ")
)
