// Package config reads Tollgate's one YAML config file into typed structs,
// strictly, and says exactly where every problem is.
//
// A proxy that enforces policy must never guess what its config meant. A
// misspelled key ("burts" for "burst", "filter" for "filters") decoded
// leniently is silently dropped, and the policy it carried is silently off:
// the proxy starts, the health check is green, and requests pass that should
// not. So decoding is strict: an unknown key, a key written twice, or a value
// of the wrong type is an error, never a zero value. Filters decode their own
// config blocks through FilterSpec.Decode with the same rules.
//
// Every error carries the position of the offending text and the path of
// the setting, "FILE:LINE:COL: PATH: MESSAGE", for example
//
//	configs/quickstart.yaml:12:7: routes[0].filters[1]: unknown key "burts" (did you mean "burst"?)
//
// so that an operator can fix the file from the error alone, and an editor
// can jump to it. Inside a filter's config block, paths are relative to the
// filter entry: routes[0].filters[1].max_bytes. Errors are collected, not
// returned at the first: Load reports every problem in the file at once,
// one per line (errors.Join of *Error values, sorted by position), so a
// broken deploy is fixed in one round rather than one error at a time.
// Semantic checks (Validate) stay quiet about settings whose decoding
// already failed, so one typo gives one error.
//
// The pipeline is: read the file; substitute ${NAME} and ${NAME:-default}
// from the environment (a line that is only a comment is left alone, "$${"
// is a literal "${", and an unset variable without a default is an error);
// parse to a yaml.Node tree; decode it by reflection against the yaml tags
// of the structs in types.go; apply defaults (SetDefaults; zero means
// default, see the Default constants); Validate. Substitution happens on the
// text, before parsing, and never changes line numbers (a value containing
// a line break is refused); columns after a substituted value are mapped
// back, so positions always point at what the operator wrote.
//
// YAML anchors, aliases and merge keys ("<<: *defaults") are supported, with
// cycles refused and total expansion bounded. A file holds one YAML
// document.
//
// The package does not touch the file system beyond reading the config
// (TLS files are read by the engine when it loads them), does not know the
// filter registry (the engine checks filter names) and does not parse route
// patterns (the router does). The JSON Schema in configs/tollgate.schema.json
// describes the same file for editors; a test keeps its descriptions equal
// to the field comments in types.go.
package config
