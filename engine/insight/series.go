package insight

// seriesLen is how many per-second buckets are kept: one hour.
const seriesLen = 3600

// Status classes, in the order of the metrics' class label.
const (
	class1xx = iota
	class2xx
	class3xx
	class4xx
	class5xx
	classOther
	numClasses
)

var classNames = [numClasses]string{"1xx", "2xx", "3xx", "4xx", "5xx", "other"}

func classOf(status uint16) int {
	if status >= 100 && status < 600 {
		return int(status/100) - 1
	}
	return classOther
}

// second is the aggregate of the requests that completed in one second.
type second struct {
	sec      int64 // Unix second this bucket holds; buckets of other seconds are stale
	total    uint32
	errors   uint32
	failures uint32
	classes  [numClasses]uint32
	lat      hist
}

// series is a ring of per-second buckets for the last hour.
type series struct {
	b    [seriesLen]second
	late uint64 // records older than the ring, dropped
}

// bucket returns the bucket of Unix second sec, clearing it if it held an
// older second; nil when sec is older than the bucket's content.
func (s *series) bucket(sec int64) *second {
	b := &s.b[uint64(sec)%seriesLen]
	if b.sec != sec {
		if b.sec > sec {
			s.late++
			return nil
		}
		*b = second{sec: sec}
	}
	return b
}

// get returns the bucket of sec, or nil when the ring holds no data for it.
func (s *series) get(sec int64) *second {
	b := &s.b[uint64(sec)%seriesLen]
	if b.sec != sec || sec <= 0 {
		return nil
	}
	return b
}
