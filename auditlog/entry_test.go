package auditlog

import (
	"bytes"
	"encoding/binary"
	"errors"
	"net/netip"
	"strings"
	"testing"
)

// appendRecord re-encodes a decoded record: the canonical-form check.
func appendRecord(dst []byte, r *Record) []byte {
	var flags byte
	if r.Unverified {
		flags |= flagUnverified
	}
	if r.Truncated {
		flags |= flagTruncated
	}
	if r.HasPrincipal {
		flags |= flagPrincipal
	}
	if r.HasClientIP {
		flags |= flagClientIP
	}
	dst = append(dst, recordVersion, byte(r.Kind), flags)
	dst = binary.AppendUvarint(dst, r.SaltEpoch)
	dst = binary.LittleEndian.AppendUint64(dst, uint64(r.Start))
	dst = binary.AppendUvarint(dst, uint64(r.Duration))
	str := func(b []byte) {
		dst = binary.AppendUvarint(dst, uint64(len(b)))
		dst = append(dst, b...)
	}
	str(r.RequestID)
	if r.HasPrincipal {
		dst = append(dst, r.PrincipalCommit[:]...)
	}
	str(r.AuthMethod)
	str(r.Roles)
	if r.HasClientIP {
		dst = append(dst, r.ClientIPCommit[:]...)
	}
	str(r.Method)
	str(r.Route)
	str(r.Path)
	dst = binary.AppendUvarint(dst, uint64(r.Status))
	dst = binary.AppendUvarint(dst, r.BytesIn)
	dst = binary.AppendUvarint(dst, r.BytesOut)
	str(r.Upstream)
	dst = append(dst, byte(r.Decision))
	str(r.Reason)
	dst = binary.AppendUvarint(dst, r.ConfigGeneration)
	str(r.HintIssuer)
	str(r.HintKeyID)
	str(r.HintSubjectHash)
	str(r.HintKeyFP)
	return append(dst, r.Ext...)
}

func testCommitments(e *Entry) *commitments {
	c := &commitments{epoch: 1777593600}
	if len(e.Principal) > 0 {
		c.principal = [CommitmentSize]byte{1, 2, 3}
	}
	if e.ClientIP.IsValid() {
		c.clientIP = [CommitmentSize]byte{4, 5, 6}
	}
	return c
}

func TestEntryRoundTrip(t *testing.T) {
	f := func(name string, mod func(e *Entry), check func(r *Record) bool) {
		t.Helper()
		var e Entry
		testEntry(&e, 12)
		mod(&e)
		leaf := appendLeaf(nil, &e, testCommitments(&e))
		var r Record
		if err := DecodeEntry(leaf, &r); err != nil {
			t.Fatalf("%s: decode: %v", name, err)
		}
		if got := appendRecord(nil, &r); !bytes.Equal(got, leaf) {
			t.Fatalf("%s: re-encoding differs", name)
		}
		if !check(&r) {
			t.Fatalf("%s: decoded %+v", name, r)
		}
	}
	f("plain", func(*Entry) {}, func(r *Record) bool {
		return r.Start == testStart+12e6 && string(r.Path) == "/v1/orders/12" && r.Status == 200 &&
			string(r.AuthMethod) == "jwt" && r.HasPrincipal && r.HasClientIP && r.PrincipalCommit[0] == 1 &&
			string(r.Upstream) == "orders" && r.ConfigGeneration == 3 && !r.Truncated
	})
	f("fallback", func(e *Entry) {
		e.Ext = AppendExt(AppendExt(e.Ext[:0], ExtRawTarget, []byte("/v1/orders/./12")), ExtFallback, []byte("ratelimit"))
	}, func(r *Record) bool {
		js := string(r.AppendJSON(nil, 0))
		return string(r.Fallback()) == "ratelimit" && string(r.RawTarget()) == "/v1/orders/./12" &&
			strings.Contains(js, `"fallback":"ratelimit"`) && !strings.Contains(js, `"ext"`)
	})
	f("empty", func(e *Entry) { e.Reset() }, func(r *Record) bool {
		return !r.HasPrincipal && !r.HasClientIP && len(r.Path) == 0 && r.Kind == KindCompletion
	})
	f("unverified hints", func(e *Entry) {
		e.Unverified = true
		e.HintSubjectHash = append(e.HintSubjectHash, "abcd"...)
		e.HintKeyFingerprint = append(e.HintKeyFingerprint, "SHA256:xyz"...)
	}, func(r *Record) bool {
		return r.Unverified && string(r.HintSubjectHash) == "abcd" && string(r.HintKeyFP) == "SHA256:xyz"
	})
	f("long path truncated", func(e *Entry) { e.Path = bytes.Repeat([]byte("a"), 5000) }, func(r *Record) bool {
		return r.Truncated && len(r.Path) == MaxPath
	})
	f("long principal commits to the cut value", func(e *Entry) { e.Principal = bytes.Repeat([]byte("p"), 300) },
		func(r *Record) bool { return r.HasPrincipal })
	f("ipv6", func(e *Entry) { e.ClientIP = netip.MustParseAddr("2001:db8::1") }, func(r *Record) bool { return r.HasClientIP })
	f("decision kind", func(e *Entry) { e.Kind = KindDecision; e.Decision = DecisionUpstreamError },
		func(r *Record) bool { return r.Kind == KindDecision && r.Decision == DecisionUpstreamError })
	f("extensions", func(e *Entry) {
		e.Ext = AppendExt(AppendExt(e.Ext, 1, []byte("tenant-a")), 7, nil)
	}, func(r *Record) bool {
		var tags []uint64
		RangeExt(r.Ext, func(tag uint64, v []byte) { tags = append(tags, tag) })
		return len(tags) == 2 && tags[0] == 1 && tags[1] == 7
	})
	f("bad extensions dropped", func(e *Entry) { e.Ext = AppendExt(AppendExt(nil, 5, nil), 2, nil) },
		func(r *Record) bool { return r.Truncated && len(r.Ext) == 0 })
	f("negative duration", func(e *Entry) { e.Duration = -5 }, func(r *Record) bool { return r.Duration == 0 })
}

func TestDecodeEntryRejects(t *testing.T) {
	var e Entry
	testEntry(&e, 3)
	good := appendLeaf(nil, &e, testCommitments(&e))
	f := func(name string, b []byte) {
		t.Helper()
		var r Record
		if err := DecodeEntry(b, &r); !errors.Is(err, ErrBadRecord) {
			t.Fatalf("%s: err = %v", name, err)
		}
	}
	mut := func(fn func(b []byte) []byte) []byte { return fn(bytes.Clone(good)) }
	f("empty", nil)
	f("version", mut(func(b []byte) []byte { b[0] = 2; return b }))
	f("kind", mut(func(b []byte) []byte { b[1] = 9; return b }))
	f("flags", mut(func(b []byte) []byte { b[2] |= 0x80; return b }))
	for i := 1; i < len(good); i++ {
		var r Record
		if err := DecodeEntry(good[:i], &r); err == nil {
			// A prefix can only decode if it ends right before the
			// extensions, which the full record has none of.
			t.Fatalf("prefix %d/%d decoded", i, len(good))
		}
	}
	f("trailing garbage", append(bytes.Clone(good), 0))
	f("oversized", make([]byte, MaxRecordSize+1))
	// Non-minimal uvarint for the salt epoch (0x80 0x00 for 0).
	var z Entry
	zl := appendLeaf(nil, &z, &commitments{})
	nm := append(append(append([]byte{}, zl[:3]...), 0x80, 0x00), zl[4:]...)
	f("non-minimal varint", nm)
	// A request id over its cap.
	over := append([]byte{}, zl[:3+1+8+1]...)
	over = binary.AppendUvarint(over, MaxRequestID+1)
	over = append(over, strings.Repeat("x", MaxRequestID+1)...)
	f("over cap", over)
}

func TestDecisionNames(t *testing.T) {
	for d := Decision(0); d < numDecisions; d++ {
		got, ok := ParseDecision(d.String())
		if !ok || got != d {
			t.Fatalf("decision %d: %q", d, d.String())
		}
	}
	if _, ok := ParseDecision("nope"); ok {
		t.Fatal("parsed an unknown decision")
	}
	if Decision(200).String() != "decision(200)" {
		t.Fatal(Decision(200).String())
	}
}
