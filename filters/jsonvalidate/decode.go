package jsonvalidate

import (
	"bytes"
	"errors"
	"io"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
)

// Why the filter decodes: a body with a Content-Encoding is not JSON until
// it is decoded, so validating its bytes as they are would refuse every
// compressed body or, worse, pass one the filter never read. A route that
// does not opt in (decode) refuses any coding but identity with 415
// validate.unsupported_encoding, before looking at the body. A route that
// does decodes into a buffer of the filter's own, at most max_bytes of
// output: the decoded size counts against the limit, so a small body that
// inflates to gigabytes (a "zip bomb") costs max_bytes+1 bytes of output
// and a 413, never unbounded memory or time. The upstream still gets the
// body and its Content-Encoding as the client sent them.

// Codings a route may opt in to (RFC 9110 §8.4.1).
const (
	codingGzip = 1 << iota
	codingZstd
)

var codingNames = []struct {
	name string
	bit  uint8
}{{"gzip", codingGzip}, {"x-gzip", codingGzip}, {"zstd", codingZstd}}

// maxZstdWindow bounds the memory a zstd frame may ask for: its window,
// the history a decoder keeps (RFC 8878 §3.1.1.1.2).
const maxZstdWindow = 8 << 20

// errTooLarge reports that the decoded body exceeds max_bytes.
var errTooLarge = errors.New("jsonvalidate: decoded body exceeds max_bytes")

// decoder holds one validator's decompressors and output buffer, reused
// from request to request.
type decoder struct {
	src bytes.Reader
	gz  *gzip.Reader
	zs  *zstd.Decoder
	out []byte
}

// coding returns the coding bit of a Content-Encoding value: 0 for
// identity (or no value), -1 for anything this filter cannot decode (an
// unknown coding, or a list of codings).
func coding(ce []byte) int {
	ce = trimOWS(ce)
	if len(ce) == 0 || equalFold(ce, "identity") {
		return 0
	}
	for _, c := range codingNames {
		if equalFold(ce, c.name) {
			return int(c.bit)
		}
	}
	return -1
}

// decode decodes body of the given coding into d.out, reading at most
// limit+1 bytes of output; errTooLarge past limit.
func (d *decoder) decode(body []byte, bit int, limit int64) ([]byte, error) {
	d.src.Reset(body)
	var r io.Reader
	switch bit {
	case codingGzip:
		if d.gz == nil {
			d.gz = new(gzip.Reader)
		}
		if err := d.gz.Reset(&d.src); err != nil {
			return nil, err
		}
		r = d.gz
	case codingZstd:
		if d.zs == nil {
			zs, err := zstd.NewReader(nil, zstd.WithDecoderConcurrency(1), zstd.WithDecoderLowmem(true), zstd.WithDecoderMaxWindow(maxZstdWindow))
			if err != nil {
				return nil, err
			}
			d.zs = zs
		}
		if err := d.zs.Reset(&d.src); err != nil {
			return nil, err
		}
		r = d.zs
	default:
		return nil, errors.New("jsonvalidate: unknown coding")
	}
	out := d.out[:0]
	for {
		if len(out) == cap(out) {
			if int64(len(out)) > limit {
				break
			}
			grown := make([]byte, len(out), min(max(4096, 2*cap(out)), int(limit)+1))
			copy(grown, out)
			out = grown
		}
		n, err := r.Read(out[len(out):cap(out)])
		out = out[:len(out)+n]
		if err == io.EOF {
			break
		}
		if err != nil {
			d.out = out[:0]
			return nil, err
		}
	}
	d.out = out[:0]
	if int64(len(out)) > limit {
		return nil, errTooLarge
	}
	return out, nil
}

// release drops what should not stay pooled: a large output buffer.
func (d *decoder) release() {
	if cap(d.out) > 1<<20 {
		d.out = nil
	}
}
