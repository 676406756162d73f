package gnetengine

import (
	"github.com/valyala/fasthttp"
)

// The helpers below have the same semantics as the default engine's
// (engine/fasthttpengine/handler.go); both engines must agree on what a
// request means, so a change to one belongs in the other.

// reqHeaders adapts fasthttp's request headers to filters.Headers.
type reqHeaders struct{ h *fasthttp.RequestHeader }

func (a *reqHeaders) Peek(name string) []byte       { return a.h.Peek(name) }
func (a *reqHeaders) Set(name string, value []byte) { a.h.SetBytesV(name, value) }
func (a *reqHeaders) Del(name string)               { a.h.Del(name) }
