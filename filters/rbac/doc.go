// Package rbac is Tollgate's authorization filter: role-based access
// control over the verified principal that an authentication filter
// (jwtauth, apikey, …) put on the exchange.
//
// Why a filter of its own: authentication answers "who is this", and it
// varies per route (JWT here, API keys there, both elsewhere); the question
// "may this principal do this" is the same whatever the credential, so it
// is asked once, here, against one policy. Keeping it out of the upstreams
// also means a request refused here never reaches them.
//
// The model: a role is a named set of permissions, a permission is a set of
// methods times a set of path patterns (the router's syntax plus a final
// "**"), and roles inherit (admin ⊇ editor ⊇ viewer). A principal's
// effective roles are those its credential carries (ex.Identity.Roles)
// plus those a static subject map gives it. Role names are bits of the
// configuration's shared role table, inheritance is resolved at load time
// into each permission's role mask, methods are bits, and patterns are
// compiled, so a check is a scan of flat rules: a mask test, a method bit
// test and a segment walk, with no allocation.
//
// Scopes narrow a permission: one that lists OAuth scopes applies only
// when the credential holds all of them (ex.Identity.Scopes, bits of the
// configuration's scope table), and a top-level allow list grants
// permissions by scopes alone, to any verified principal. Conjunction,
// not "any of", because a scope is the delegating user's consent to one
// kind of action, and a permission that needs two consents must not be
// reached with one.
//
// Invariants: default deny — a request passes only if some permission
// admits it; a request with no verified identity is answered 401
// authn.required (RFC 9110 §15.5.2, a missing credential is not a 403);
// the method checked is the request's own method, and method-override
// headers (X-HTTP-Method-Override and friends) are stripped from allowed
// requests unless the config asks to authorize them too; the path is the engine's
// normalized path, so no spelling of a path reaches the upstream that was
// not the one authorized. Refusals name the closest miss: a failed
// condition (rbac.condition_failed), else a missing scope
// (rbac.scope_missing), else a role that grants the path with
// other methods (rbac.method_denied), else rbac.path_denied. The filter is
// rebuilt with each configuration generation, so roles and rules reload
// with the config.
package rbac
