package jsonvalidate

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/bytedance/sonic/ast"
	"github.com/santhosh-tekuri/jsonschema/v6"
)

// peer is santhosh-tekuri/jsonschema compiled for the same schema, with
// format assertions on (2020-12 makes them annotations by default).
type peer struct{ s *jsonschema.Schema }

func newPeer(t testing.TB, schemaJSON string) *peer {
	t.Helper()
	doc, err := jsonschema.UnmarshalJSON(strings.NewReader(schemaJSON))
	if err != nil {
		t.Fatalf("peer: cannot parse schema %s: %v", schemaJSON, err)
	}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	c.AssertFormat()
	if err := c.AddResource("mem:///schema.json", doc); err != nil {
		t.Fatalf("peer: %v", err)
	}
	s, err := c.Compile("mem:///schema.json")
	if err != nil {
		t.Fatalf("peer: cannot compile %s: %v", schemaJSON, err)
	}
	return &peer{s: s}
}

// valid reports the peer's verdict on a well-formed document.
func (p *peer) valid(t testing.TB, doc string) bool {
	inst, err := jsonschema.UnmarshalJSON(strings.NewReader(doc))
	if err != nil {
		t.Fatalf("peer: cannot parse document %s: %v", doc, err)
	}
	return p.s.Validate(inst) == nil
}

// sonicDriver feeds the validator from sonic's ast.Preorder instead of the
// package's scanner. It is used to cross-check the two drivers and to
// measure sonic's visitor on the same documents. It does not add the strict
// syntax checks Preorder lacks (see README.md), so it is only run on
// documents already known to be strict JSON.
type sonicDriver struct{ v *validator }

var _ ast.Visitor = (*sonicDriver)(nil)

var errStop = errors.New("stop")

func stop(ok bool) error {
	if ok {
		return nil
	}
	return errStop
}

func (d *sonicDriver) OnNull() error           { return stop(d.v.null(d.v.enter())) }
func (d *sonicDriver) OnBool(b bool) error     { return stop(d.v.boolean(d.v.enter(), b)) }
func (d *sonicDriver) OnString(s string) error { return stop(d.v.str(d.v.enter(), s)) }
func (d *sonicDriver) OnInt64(_ int64, n json.Number) error {
	return stop(d.v.number(d.v.enter(), string(n)))
}
func (d *sonicDriver) OnFloat64(_ float64, n json.Number) error {
	return stop(d.v.number(d.v.enter(), string(n)))
}
func (d *sonicDriver) OnObjectBegin(int) error {
	if !d.v.objectBegin(d.v.enter()) {
		if d.v.depthExceeded() {
			d.v.malformed(0, msgDepth)
		}
		return errStop
	}
	return nil
}
func (d *sonicDriver) OnObjectKey(k string) error { return stop(d.v.key(k, k, false)) }
func (d *sonicDriver) OnObjectEnd() error         { return stop(d.v.objectEnd()) }
func (d *sonicDriver) OnArrayBegin(int) error {
	if !d.v.arrayBegin(d.v.enter()) {
		if d.v.depthExceeded() {
			d.v.malformed(0, msgDepth)
		}
		return errStop
	}
	return nil
}
func (d *sonicDriver) OnArrayEnd() error { return stop(d.v.arrayEnd()) }

var sonicOpts = &ast.VisitorOptions{OnlyNumber: true}

// validateSonic is validate driven by sonic.
func (s *Schema) validateSonic(d *sonicDriver, doc string) string {
	d.v.reset()
	if err := ast.Preorder(doc, d, sonicOpts); err != nil {
		if d.v.fail == failNone {
			return "malformed: sonic: " + err.Error()
		}
		return d.v.outcome()
	}
	return ""
}

func newSonicDriver(s *Schema, maxDepth int) *sonicDriver {
	return &sonicDriver{v: &validator{root: s.root, h: s.h, maxDepth: maxDepth}}
}
