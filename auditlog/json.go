package auditlog

import (
	"encoding/hex"
	"strconv"
	"time"
)

// AppendJSON appends rec as one JSON object (no newline) to dst. Revealed
// personal values are printed as values; otherwise their commitments are
// printed in hex under *_commitment.
func (rec *Record) AppendJSON(dst []byte, index uint64) []byte {
	dst = append(dst, `{"index":`...)
	dst = strconv.AppendUint(dst, index, 10)
	dst = appendKV(dst, "kind", rec.Kind.String())
	dst = append(dst, `,"start":"`...)
	dst = time.Unix(0, rec.Start).UTC().AppendFormat(dst, time.RFC3339Nano)
	dst = append(dst, `","duration_ns":`...)
	dst = strconv.AppendInt(dst, rec.Duration, 10)
	dst = appendKVb(dst, "request_id", rec.RequestID)
	if rec.HasPrincipal {
		if rec.Revealed {
			dst = appendKVb(dst, "principal", rec.Principal)
		} else {
			dst = appendKV(dst, "principal_commitment", hex.EncodeToString(rec.PrincipalCommit[:]))
		}
	}
	dst = appendKVb(dst, "auth", rec.AuthMethod)
	if len(rec.Roles) > 0 {
		dst = appendKVb(dst, "roles", rec.Roles)
	}
	if rec.HasClientIP {
		if rec.Revealed {
			dst = appendKV(dst, "client_ip", rec.ClientIP.String())
		} else {
			dst = appendKV(dst, "client_ip_commitment", hex.EncodeToString(rec.ClientIPCommit[:]))
		}
	}
	dst = appendKVb(dst, "method", rec.Method)
	dst = appendKVb(dst, "route", rec.Route)
	dst = appendKVb(dst, "path", rec.Path)
	dst = append(dst, `,"status":`...)
	dst = strconv.AppendUint(dst, uint64(rec.Status), 10)
	dst = append(dst, `,"bytes_in":`...)
	dst = strconv.AppendUint(dst, rec.BytesIn, 10)
	dst = append(dst, `,"bytes_out":`...)
	dst = strconv.AppendUint(dst, rec.BytesOut, 10)
	if len(rec.Upstream) > 0 {
		dst = appendKVb(dst, "upstream", rec.Upstream)
	}
	dst = appendKV(dst, "decision", rec.Decision.String())
	if len(rec.Reason) > 0 {
		dst = appendKVb(dst, "reason", rec.Reason)
	}
	dst = append(dst, `,"config_generation":`...)
	dst = strconv.AppendUint(dst, rec.ConfigGeneration, 10)
	if rec.Unverified {
		dst = append(dst, `,"unverified":true`...)
	}
	if rec.Truncated {
		dst = append(dst, `,"truncated":true`...)
	}
	for _, kv := range [...]struct {
		k string
		v []byte
	}{{"hint_issuer", rec.HintIssuer}, {"hint_kid", rec.HintKeyID}, {"hint_sub_hash", rec.HintSubjectHash}, {"hint_key_fingerprint", rec.HintKeyFP}} {
		if len(kv.v) > 0 {
			dst = appendKVb(dst, kv.k, kv.v)
		}
	}
	unknown := false
	RangeExt(rec.Ext, func(tag uint64, value []byte) {
		switch tag {
		case ExtRawTarget:
			dst = appendKVb(dst, "raw_target", value)
		case ExtFallback:
			dst = appendKVb(dst, "fallback", value)
		default:
			unknown = true
		}
	})
	if unknown {
		dst = appendKV(dst, "ext", hex.EncodeToString(rec.Ext))
	}
	return append(dst, '}')
}

func appendKV(dst []byte, k, v string) []byte {
	dst = append(dst, ',', '"')
	dst = append(dst, k...)
	dst = append(dst, `":"`...)
	dst = appendJSONString(dst, v)
	return append(dst, '"')
}

func appendKVb(dst []byte, k string, v []byte) []byte {
	dst = append(dst, ',', '"')
	dst = append(dst, k...)
	dst = append(dst, `":"`...)
	dst = appendJSONString(dst, string(v))
	return append(dst, '"')
}

const hexDigits = "0123456789abcdef"

// appendJSONString appends the inside of a JSON string. Bytes outside
// printable ASCII are escaped as \u00XX, so the output is valid JSON for
// any input.
func appendJSONString(dst []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"' || c == '\\':
			dst = append(dst, '\\', c)
		case c < 0x20 || c >= 0x7f:
			dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
		default:
			dst = append(dst, c)
		}
	}
	return dst
}
