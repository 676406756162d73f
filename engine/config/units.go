package config

import "github.com/tollgate-proxy/tollgate/filters"

// Duration is a time.Duration written as a Go duration string ("250ms",
// "30s"). It is the filters package's type, so filter settings and the
// main config read durations the same way.
type Duration = filters.Duration

// ByteSize is a size in bytes written as an integer or with a unit
// ("512KiB", "10MiB", "1GiB", "64KB").
type ByteSize = filters.ByteSize

// ParseByteSize parses s as a ByteSize.
func ParseByteSize(s string) (ByteSize, error) { return filters.ParseByteSize(s) }
