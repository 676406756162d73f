package insight

import "math/bits"

// Latency histograms have fixed, doubling buckets: bucket 0 holds answers up
// to 100µs, bucket i answers in (100µs·2^(i-1), 100µs·2^i], and the last
// bucket everything above 100µs·2^(numBuckets-2) ≈ 26s. A percentile is
// reported as the upper bound of the bucket it falls in, so it is at most
// twice the true value and never below it.
const numBuckets = 20

const bucketBaseNs = 100_000

type hist [numBuckets]uint32

func bucketOf(durNs int64) int {
	if durNs <= bucketBaseNs {
		return 0
	}
	b := bits.Len64(uint64(durNs-1) / bucketBaseNs)
	if b >= numBuckets {
		b = numBuckets - 1
	}
	return b
}

// bucketBoundMs returns the upper bound of bucket b in milliseconds; the
// overflow bucket reports twice the last finite bound.
func bucketBoundMs(b int) float64 {
	return float64(uint64(bucketBaseNs)<<uint(b)) / 1e6
}

func (h *hist) add(o *hist) {
	for i := range h {
		h[i] += o[i]
	}
}

// quantile returns the upper bound in ms of the bucket holding the q-th
// quantile (0 < q ≤ 1) of the n observations in h; 0 when h is empty.
func (h *hist) quantile(q float64) float64 {
	var n uint64
	for _, c := range h {
		n += uint64(c)
	}
	if n == 0 {
		return 0
	}
	rank := uint64(q*float64(n) + 0.999999)
	if rank < 1 {
		rank = 1
	}
	var cum uint64
	for i, c := range h {
		cum += uint64(c)
		if cum >= rank {
			return bucketBoundMs(i)
		}
	}
	return bucketBoundMs(numBuckets - 1)
}
