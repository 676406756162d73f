// Package jsonvalidate refuses malformed input before it reaches an
// upstream: JSON request bodies are checked against a per-route JSON Schema
// (a draft 2020-12 subset compiled when the config loads), and query
// parameters and headers against per-route rules.
//
// Why a filter: an upstream that trusts its input is one malformed body away
// from a crash, an injection or a slow path. Checking at the proxy, with a
// schema written next to the route, means the upstream only ever sees
// documents of the declared shape, and a refusal names the failing JSON
// Pointer and rule (RFC 6901; "/qty: must be ≤ 1000") in a problem+json
// body (RFC 9457) without echoing the input back.
//
// How: the body is validated in one streaming pass that builds no tree. A
// hand-written scanner reads strict RFC 8259 JSON — one value, nothing after
// it, no control characters in strings, valid escapes and UTF-8 (§8.1), no
// duplicate object keys, nesting bounded — and feeds each token to the
// validator, which keeps one frame per open container. Every instance
// location is checked against exactly one compiled schema (the subset has no
// allOf/anyOf/oneOf, and $ref is resolved when compiling), which is what
// makes one pass enough. Numbers are compared exactly from their literals
// (no float rounding, any size); enum, const and uniqueItems on objects and
// arrays compare keyed 64-bit value hashes. The validator state is pooled:
// once its buffers have grown to a route's documents, validating a valid
// body allocates nothing.
//
// What is validated is what the upstream will read: the body is JSON only
// under exactly one Content-Type naming an allowed media type (media.go),
// and a Content-Encoding is decoded, within max_bytes of output, only on
// a route that opts in; any other coding is refused before the body is
// looked at (decode.go).
//
// The validator implements the same callbacks as sonic's ast.Visitor, and
// the package's tests drive it with github.com/bytedance/sonic's
// ast.Preorder too; the measurements that decided for the hand-written
// scanner on the request path are in README.md.
package jsonvalidate
