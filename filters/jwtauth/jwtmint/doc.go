// Package jwtmint makes what the jwtauth filter verifies: JWS signing keys
// (RS256, ES256, ES384, EdDSA) with their public JWK Set (RFC 7517, RFC
// 7518 §6, RFC 8037), and signed JWTs in the compact serialization (RFC
// 7515 §7.1, RFC 7519).
//
// Why a package of its own: `tollgate keygen` and `tollgate token` mint
// development keys and tokens, and tests across the tree need the same
// thing; one implementation, tested by round trips through the jwtauth
// verifier, keeps what the proxy accepts and what its tools produce from
// drifting apart. It is not on any request path and is written for
// clarity, not speed.
//
// Invariants: the algorithm follows the key (RSA signs RS256, EC P-256
// ES256, P-384 ES384, Ed25519 EdDSA), never a caller's string, so a key
// is never used with an algorithm of another family; the JWK Set holds
// only public members; key files are PKCS#8 PEM written with mode 0600 and
// never over an existing file.
package jwtmint
