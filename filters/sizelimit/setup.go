package sizelimit

import (
	"errors"

	"github.com/tollgate-proxy/tollgate/filters"
)

// New builds the filter from its config entry. A decode error is the only
// problem reported: which limits the block sets is unknown then, and
// "set one" would blame an entry that may well set one.
func New(spec filters.Spec) (filters.Filter, error) {
	var raw Config
	if err := spec.Decode(&raw); err != nil {
		return nil, err
	}
	body, query := size(raw.MaxBytes), size(raw.MaxQueryBytes)
	if body == 0 && query == 0 {
		// A limit written as 0 is where the operator looks; with none
		// written, the entry as a whole lacks one.
		var errs []error
		for _, s := range []struct {
			rel string
			v   *filters.ByteSize
		}{{"max_bytes", raw.MaxBytes}, {"max_query_bytes", raw.MaxQueryBytes}} {
			if s.v != nil {
				errs = append(errs, spec.ErrorAt(s.rel, "0 is no limit, and the filter sets no other: want a positive max_bytes or max_query_bytes"))
			}
		}
		if len(errs) == 0 {
			return nil, spec.Errorf("set max_bytes or max_query_bytes")
		}
		return nil, errors.Join(errs...)
	}
	return &Filter{maxBody: body, maxQuery: query}, nil
}

// size returns a limit's bytes, 0 for an unset one.
func size(b *filters.ByteSize) int64 {
	if b == nil {
		return 0
	}
	return int64(*b)
}
