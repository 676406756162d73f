package fasthttpengine

// Fixed values, kept as variables so the hot path builds no strings.
var (
	strHTTP     = []byte("http")
	strHTTPS    = []byte("https")
	strCRLFCRLF = []byte("\r\n\r\n")
)
