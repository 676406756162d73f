package filters

import (
	"errors"
	"fmt"
	"io"
	"strings"
)

// Filter inspects one request. Handle must not block, allocate, keep ex
// after returning, or touch ex from another goroutine.
type Filter interface {
	// Name is the filter's stable id: its config key, metric label and
	// audit field.
	Name() string
	// Handle returns Continue to pass the request on, or a refusal.
	Handle(ex *Exchange) Verdict
}

// ResponseFilter is implemented by filters that also look at the upstream's
// response (for example to add rate-limit headers). HandleResponse runs after
// the upstream answered, in reverse chain order, with the same lifetime rules
// as Handle.
type ResponseFilter interface {
	HandleResponse(ex *Exchange)
}

// Finisher is implemented by filters that hold something for the length of
// a request (a concurrency slot, a queue position). The engine calls
// Chain.Finish exactly once per request, on every path — allowed, refused
// by a later filter, upstream failure, client abort — and Finish runs for
// each such filter whose Handle passed the request on (a filter that
// refused took nothing to give back).
type Finisher interface {
	Finish(ex *Exchange)
}

// Blocker is implemented by filters whose Handle may wait (for a network
// call, or for a queue slot). Engines that run chains on an event loop run
// such a filter, and the rest of its chain part, off the loop — unless it
// is also a Waiter that decides at once; Chain.MayBlock reports it.
type Blocker interface {
	MayBlock() bool
}

// Waiter is implemented by a Blocker that can often decide without
// waiting: a rate limit spending a lease it holds, an introspection cache
// hit, a free concurrency slot. An engine that must not wait (an event
// loop) runs the chain with Chain.TryRunHead and TryRunBody, which call
// TryHandle, and leaves its loop only from the first filter that would
// have to wait: most requests then never leave the loop.
//
// TryHandle returns decided true and the verdict Handle would have
// returned when it can decide at once, with the same effects on ex and on
// the filter's state. It returns decided false, without waiting, when it
// would have to; Handle then runs for the same exchange, on a goroutine
// that may wait, and must behave as if TryHandle had never run. So an
// undecided TryHandle leaves no trace, or only one that Handle repeats
// anyway (an implementation documents which). Like Handle it must not
// allocate on its decided path.
type Waiter interface {
	TryHandle(ex *Exchange) (v Verdict, decided bool)
}

// BodyReader is implemented by filters that look at the request body
// (JSON validation, a body size check). A chain runs in two parts around
// reading the body: the filters before the first BodyReader (identity,
// policy, limits) run on the head alone, so an anonymous or refused client
// never costs a body read and a 413 names its principal; the rest run
// once the body is in. The config's order is kept: a filter listed after a
// BodyReader runs after the body is read.
type BodyReader interface {
	ReadsBody() bool
}

// CredentialReader is implemented by filters that read a credential from
// request headers (a bearer token, an API key). The pipeline refuses a
// request that carries one of these headers more than once, before any
// filter runs: which of two credentials a filter reads, and which one an
// upstream behind it would, is exactly what an attacker wants to choose.
type CredentialReader interface {
	// CredentialHeaders returns the canonical names of the headers read.
	CredentialHeaders() []string
}

// IdentityForwarder is implemented by filters that tell the upstream who
// the client is in request headers (X-Auth-Subject, X-Auth-Roles, a
// tenant, a certificate's principal). Only the proxy may set these
// headers, so the pipeline deletes every client-sent copy of the
// headers any filter of a route forwards once, before the route's chain
// runs — whatever the filters' order, and whether the request is then
// authenticated, let through anonymous or refused. Filters then only set
// them: a filter that deleted them itself would also delete what an
// earlier filter of the chain had set (an API key's subject, wiped by an
// optional token filter that found no token), and a header only a later
// filter forwards would reach the upstream whenever that filter skips
// its work.
type IdentityForwarder interface {
	// ForwardedHeaders returns the canonical names of the headers the
	// filter may set.
	ForwardedHeaders() []string
}

// Verdict is what a filter decides. It is a small value; the zero value is
// Continue.
type Verdict struct {
	reason *Reason
}

// Continue passes the request to the next filter.
var Continue Verdict

// Respond refuses the request with the reason's status and problem body.
func Respond(r *Reason) Verdict { return Verdict{reason: r} }

// IsContinue reports whether the verdict passes the request on.
func (v Verdict) IsContinue() bool { return v.reason == nil }

// Reason returns the refusal reason, or nil for Continue.
func (v Verdict) Reason() *Reason { return v.reason }

// Chain is an ordered list of filters compiled once per route. Run is a flat
// loop: the first verdict that is not Continue wins.
type Chain struct {
	filters   []Filter
	head      int        // filters[:head] run before the body is read (BodyReader)
	waits     []waitKind // per filter: whether and how Handle may wait
	waiters   []Waiter   // per filter: its Waiter when waits is waitMaybe
	response  []ResponseFilter
	finishers []indexedFinisher
	closers   []io.Closer
}

// waitKind is how a filter of a chain may wait, decided once in NewChain.
type waitKind uint8

const (
	waitNever  waitKind = iota // not a Blocker, or MayBlock is false
	waitMaybe                  // a Waiter: TryHandle says whether it would wait
	waitAlways                 // a Blocker that cannot tell in advance
)

type indexedFinisher struct {
	index int
	f     Finisher
}

// NewChain compiles fs into a chain, detecting the optional interfaces once.
func NewChain(fs ...Filter) *Chain {
	c := &Chain{filters: fs, head: len(fs), waits: make([]waitKind, len(fs)), waiters: make([]Waiter, len(fs))}
	for i, f := range fs {
		if b, ok := f.(Blocker); ok && b.MayBlock() {
			c.waits[i] = waitAlways
			if w, ok := f.(Waiter); ok {
				c.waits[i], c.waiters[i] = waitMaybe, w
			}
		}
		if br, ok := f.(BodyReader); ok && br.ReadsBody() && i < c.head {
			c.head = i
		}
		if fin, ok := f.(Finisher); ok {
			c.finishers = append(c.finishers, indexedFinisher{index: i, f: fin})
		}
		if rf, ok := f.(ResponseFilter); ok {
			c.response = append(c.response, rf)
		}
		if cl, ok := f.(io.Closer); ok {
			c.closers = append(c.closers, cl)
		}
	}
	return c
}

// SetOwned limits what Close releases to owned, for chains that also hold
// filters shared with other chains (closed once, by their owner).
func (c *Chain) SetOwned(owned []Filter) {
	c.closers = c.closers[:0]
	for _, f := range owned {
		if cl, ok := f.(io.Closer); ok {
			c.closers = append(c.closers, cl)
		}
	}
}

// MayBlock reports whether any filter of the chain may wait in Handle.
func (c *Chain) MayBlock() bool { return mayBlock(c.filters) }

// HeadMayBlock and BodyMayBlock are MayBlock for the chain's two parts.
func (c *Chain) HeadMayBlock() bool { return mayBlock(c.filters[:c.head]) }

// BodyMayBlock: see HeadMayBlock.
func (c *Chain) BodyMayBlock() bool { return mayBlock(c.filters[c.head:]) }

// NeedsBody reports whether a filter of the chain reads the body.
func (c *Chain) NeedsBody() bool { return c.head < len(c.filters) }

func mayBlock(fs []Filter) bool {
	for _, f := range fs {
		if b, ok := f.(Blocker); ok && b.MayBlock() {
			return true
		}
	}
	return false
}

// Len returns the number of filters in the chain.
func (c *Chain) Len() int { return len(c.filters) }

// Filters returns the chain's filters in order. The slice must not be
// modified.
func (c *Chain) Filters() []Filter { return c.filters }

// Run runs the request filters in order and records the deciding filter and
// reason on ex.
func (c *Chain) Run(ex *Exchange) Verdict {
	if v := c.RunHead(ex); !v.IsContinue() {
		return v
	}
	return c.RunBody(ex)
}

// RunHead runs the filters before the first BodyReader: what can decide
// on the head alone. The engine reads the body after it allows the
// request, then calls RunBody.
func (c *Chain) RunHead(ex *Exchange) Verdict { return c.run(ex, 0, c.head) }

// RunBody runs the rest of the chain, once the body is read.
func (c *Chain) RunBody(ex *Exchange) Verdict { return c.run(ex, c.head, len(c.filters)) }

func (c *Chain) run(ex *Exchange, from, to int) Verdict {
	for i := from; i < to; i++ {
		v := c.filters[i].Handle(ex)
		if v.reason != nil {
			ex.refuse(v.reason, int8(i))
			return v
		}
		ex.ran = int8(i + 1)
	}
	return Continue
}

// TryRunHead is RunHead for a caller that must not wait (an event loop).
// It runs the head part's filters in order, asking each filter that may
// wait to decide through Waiter.TryHandle, and stops before the first one
// that would have to wait (or may wait and is no Waiter). When the part
// decided, done is true and v is its verdict, as RunHead would have
// returned it. Otherwise done is false, the filters before resume have
// passed the request on, and Resume(ex, resume) runs the rest of the part
// where waiting is allowed.
func (c *Chain) TryRunHead(ex *Exchange) (v Verdict, resume int, done bool) {
	return c.tryRun(ex, 0, c.head)
}

// TryRunBody is TryRunHead for the part run once the body is read.
func (c *Chain) TryRunBody(ex *Exchange) (v Verdict, resume int, done bool) {
	return c.tryRun(ex, c.head, len(c.filters))
}

// Resume runs, with Handle, the rest of the part in which TryRunHead or
// TryRunBody stopped at resume. It may wait.
func (c *Chain) Resume(ex *Exchange, resume int) Verdict {
	if resume < c.head {
		return c.run(ex, resume, c.head)
	}
	return c.run(ex, resume, len(c.filters))
}

// InHead reports whether the filter at index i runs in the head part:
// before the body is read.
func (c *Chain) InHead(i int) bool { return i < c.head }

func (c *Chain) tryRun(ex *Exchange, from, to int) (Verdict, int, bool) {
	for i := from; i < to; i++ {
		var v Verdict
		switch c.waits[i] {
		case waitNever:
			v = c.filters[i].Handle(ex)
		case waitMaybe:
			var decided bool
			if v, decided = c.waiters[i].TryHandle(ex); !decided {
				return Continue, i, false
			}
		default:
			return Continue, i, false
		}
		if v.reason != nil {
			ex.refuse(v.reason, int8(i))
			return v, i, true
		}
		ex.ran = int8(i + 1)
	}
	return Continue, to, true
}

// Finish calls Finish on every Finisher whose Handle passed ex on, in
// reverse order. Engines call it once per request, whatever the outcome.
func (c *Chain) Finish(ex *Exchange) {
	for i := len(c.finishers) - 1; i >= 0; i-- {
		if f := c.finishers[i]; f.index < int(ex.ran) {
			f.f.Finish(ex)
		}
	}
	ex.ran = 0
}

// RunResponse runs the response filters in reverse order.
func (c *Chain) RunResponse(ex *Exchange) {
	for i := len(c.response) - 1; i >= 0; i-- {
		c.response[i].HandleResponse(ex)
	}
}

// Close releases what the chain's filters own (background refreshers,
// caches). It is called when the config generation that built the chain is
// retired.
func (c *Chain) Close() error {
	var errs []error
	for _, cl := range c.closers {
		if err := cl.Close(); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Spec is one entry of a route's filter list, as written in the config.
type Spec struct {
	// Name selects the filter from the registry.
	Name string
	// Route is the name of the route the filter is compiled for.
	Route string
	// Pos is the entry's position in the config file ("file:line:col"),
	// used as the prefix of every error the constructor returns.
	Pos string
	// Roles is the configuration's shared role table.
	Roles *Roles
	// Scopes is the configuration's shared table of OAuth scope names
	// (the `scope`/`scp` claim, an introspection response's `scope`):
	// authentication filters set Identity.Scopes bits with Lookup,
	// authorization rules intern the scopes they require. It is a name
	// table of the same kind as Roles, kept apart so that a scope and a
	// role of the same name never stand for each other.
	Scopes *Roles
	// Decode strictly decodes the entry's config block into v. Unknown keys
	// and wrong types are errors carrying their own file:line positions. It
	// leaves v untouched when the entry has no config block.
	Decode func(v any) error
	// At returns where the setting rel, a path inside the entry's config
	// block such as "policies[1].rate", is written ("file:line:col"), or
	// its closest present ancestor; nil means Pos for every setting. It is
	// a func so that this package needs no config loader.
	At func(rel string) string
}

// Errorf returns a config error positioned at the spec's entry.
func (s Spec) Errorf(format string, args ...any) error {
	return fmt.Errorf("%s: filter %q: %s", s.Pos, s.Name, fmt.Sprintf(format, args...))
}

// ErrorAt returns a config error positioned at the setting rel inside the
// entry's config block (see At), naming the setting: a constructor returns
// one per problem, joined with errors.Join, so that an operator sees each
// on its own line at the key to fix.
//
// A part of rel in parentheses only labels the entry before it, as in
// "policies[1] (burst).rate", and is not looked up.
func (s Spec) ErrorAt(rel, format string, args ...any) error {
	pos := s.Pos
	if s.At != nil {
		pos = s.At(unlabeled(rel))
	}
	return fmt.Errorf("%s: filter %q: %s: %s", pos, s.Name, rel, fmt.Sprintf(format, args...))
}

// Problem returns ErrorAt for a message of the form "path: message", as
// shared checks such as ParseClaimRequirements write them, positioned at
// that path; a message without a leading path is positioned at the entry.
func (s Spec) Problem(m string) error {
	if rel, msg, ok := strings.Cut(m, ": "); ok && rel != "" && !strings.ContainsAny(unlabeled(rel), " \"") {
		return s.ErrorAt(rel, "%s", msg)
	}
	return fmt.Errorf("%s: filter %q: %s", s.Pos, s.Name, m)
}

// unlabeled drops the " (label)" parts of a setting path.
func unlabeled(rel string) string {
	for {
		i := strings.Index(rel, " (")
		if i < 0 {
			return rel
		}
		j := strings.IndexByte(rel[i:], ')')
		if j < 0 {
			return rel[:i]
		}
		rel = rel[:i] + rel[i+j+1:]
	}
}

// Factory builds a filter from its config entry. It decodes strictly,
// validates, and precomputes everything the hot path needs.
type Factory func(spec Spec) (Filter, error)

// Registration names a filter kind.
type Registration struct {
	// Name is the filter's config key.
	Name string
	// New constructs the filter.
	New Factory
	// Doc is a one-line description, shown by `tollgate filters`.
	Doc string
}

// Registry is an ordered, explicit list of filter kinds (no init() side
// effects).
type Registry []Registration

// Lookup returns the registration named name.
func (r Registry) Lookup(name string) (Registration, bool) {
	for _, reg := range r {
		if reg.Name == name {
			return reg, true
		}
	}
	return Registration{}, false
}

// Names lists the registered filter names in order.
func (r Registry) Names() []string {
	names := make([]string, len(r))
	for i, reg := range r {
		names[i] = reg.Name
	}
	return names
}
