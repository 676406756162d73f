// Package router normalizes request paths and matches them against a
// compiled route tree.
//
// Why the proxy normalizes paths itself: one request path feeds routing,
// RBAC rules, rate-limit keys and the audit log, and all of them must see
// the same canonical string. If the proxy matched the raw target while the
// backend decoded it differently, a client could reach /admin through a
// route meant for /public/..%2fadmin, or key its rate limit on one spelling
// while the backend serves another. So Normalize produces exactly one
// spelling per resource (RFC 3986 §6.2.2 syntax-based normalization:
// upper-case hex in escapes, decoded unreserved characters, and §5.2.4
// dot-segment removal, plus collapsed duplicate slashes), and it refuses the
// path tricks on which proxies and backends are known to disagree: encoded
// slashes and backslashes, raw backslashes, percent-encoded dot segments,
// Tomcat-style "..;" segments, NUL bytes, malformed escapes and raw bytes
// that must be escaped. The engine answers each refusal with 400 and
// forwards the normalized path, never the raw one.
//
// The router is a segment tree compiled once per config generation. At each
// segment a literal beats a {param}, which beats a final wildcard (* or a
// named rest {name...}), with backtracking; host-specific routes are tried
// before host-less ones. Methods compile to bits, so a lookup compares
// integers, and Allow values for 405 responses are rendered at compile time.
//
// Invariants: Normalize is idempotent and its output never holds "//",
// "/./" or "/../" nor ends with "/." or "/.."; Lookup and Allow do not
// allocate (alloc_test.go gates this), and a lookup visits each tree node at
// most once; parameter values are subslices of the looked-up path. A Router
// is immutable and safe for concurrent use.
package router
