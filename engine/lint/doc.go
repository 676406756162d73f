// Package lint is `tollgate check`: it loads a config file the way `run`
// does and reports, in one pass, every error that would stop the proxy
// from starting and every warning about a policy that starts but is
// probably not what its author meant.
//
// Why a package of its own: the config loader, the filter constructors and
// the runtime compiler each report their own errors, in their own words,
// and some (the router's) know a route's index but not its line. A linter
// gathers them, gives each exactly one "file:line:col" position, drops
// repeats, and then reads the compiled policy as data (the rbac filter's
// Rules) to find what no single constructor can see: grants that are too
// broad, rules that can never decide, roles and filters nothing uses,
// routes nobody authenticates.
//
// Invariants: a config with no error finding starts — every file `run`
// reads (filter key material, JWK Sets, CA bundles, schemas, the
// listeners' certificates and keys, the audit signing key) is opened and
// parsed here the same way; the tests start the proxy on every fixture
// check passes. Warnings are sound: each kind is reported only when the
// stated problem holds for every request, never on a guess (see each
// Kind's doc for exactly what it checks).
package lint
