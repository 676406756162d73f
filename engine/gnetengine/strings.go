package gnetengine

// Fixed values, kept as variables so the hot path builds no strings.
var (
	strHTTP       = []byte("http")
	strHTTPS      = []byte("https")
	strComma      = []byte(", ")
	strOne        = []byte("1")
	strCRLFCRLF   = []byte("\r\n\r\n")
	strClose      = []byte("close")
	strKeepAlive  = []byte("keep-alive")
	strConnection = []byte("Connection")
	strHTTP11     = []byte("HTTP/1.1 ")
	strCRLF       = []byte("\r\n")
	strColonSpace = []byte(": ")

	str100Continue = []byte("HTTP/1.1 100 Continue\r\n\r\n")
	strExpect      = []byte("Expect")
	strContinue    = []byte("100-continue")
)
