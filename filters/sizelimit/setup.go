package sizelimit

import (
	"github.com/tollgate-proxy/tollgate/filters"
)

// New builds the filter from its config entry.
func New(spec filters.Spec) (filters.Filter, error) {
	var raw Config
	if err := spec.Decode(&raw); err != nil {
		return nil, err
	}
	if raw.MaxBytes == 0 && raw.MaxQueryBytes == 0 {
		return nil, spec.Errorf("set max_bytes or max_query_bytes")
	}
	return &Filter{maxBody: int64(raw.MaxBytes), maxQuery: int64(raw.MaxQueryBytes)}, nil
}
