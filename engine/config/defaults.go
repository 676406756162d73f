package config

import "time"

// Defaults. A setting left out, or set to zero, takes the value below; the
// field comments in types.go and configs/tollgate.schema.json say the same.
// Route.MaxBodyBytes and Route.Timeout have no default of their own: zero
// keeps the listener's and the upstream's value.
const (
	DefaultAdminListen   = "127.0.0.1:9901"
	DefaultLogLevel      = "info"
	DefaultLogFormat     = "text"
	DefaultTLSMinVersion = "1.2"
	DefaultEngine        = "auto"
	DefaultHistograms    = "prometheus"

	DefaultReadTimeout     = Duration(30 * time.Second)
	DefaultHeaderTimeout   = Duration(10 * time.Second)
	DefaultWriteTimeout    = Duration(30 * time.Second)
	DefaultIdleTimeout     = Duration(60 * time.Second)
	DefaultMaxConnections  = 10000
	DefaultMaxHeaderBytes  = ByteSize(16 << 10)
	DefaultMaxBodyBytes    = ByteSize(10 << 20)
	DefaultStreamThreshold = ByteSize(1 << 20)

	DefaultUpstreamConnectTimeout = Duration(5 * time.Second)
	DefaultUpstreamTimeout        = Duration(30 * time.Second)
	DefaultUpstreamIdleTimeout    = Duration(60 * time.Second)
	DefaultUpstreamMaxConnections = 1024
	DefaultUpstreamFailTimeout    = Duration(10 * time.Second)

	DefaultAuditDurability         = "process"
	DefaultAuditFsyncInterval      = Duration(100 * time.Millisecond)
	DefaultAuditCheckpointEvery    = 65536
	DefaultAuditCheckpointInterval = Duration(time.Second)
	DefaultAuditSegmentMaxBytes    = ByteSize(128 << 20)
	DefaultAuditSegmentMaxAge      = Duration(24 * time.Hour)
	DefaultAuditFailurePolicy      = "fail-closed"
)

// SetDefaults fills every zero setting that has a default. It is idempotent;
// Load calls it before Validate.
func (c *Config) SetDefaults() {
	def(&c.Admin.Listen, DefaultAdminListen)
	def(&c.Log.Level, DefaultLogLevel)
	def(&c.Log.Format, DefaultLogFormat)
	def(&c.Metrics.Histograms, DefaultHistograms)
	for i := range c.Listeners {
		l := &c.Listeners[i]
		if l.TLS != nil {
			def(&l.TLS.MinVersion, DefaultTLSMinVersion)
		}
		def(&l.Engine, DefaultEngine)
		def(&l.ReadTimeout, DefaultReadTimeout)
		def(&l.HeaderTimeout, DefaultHeaderTimeout)
		def(&l.WriteTimeout, DefaultWriteTimeout)
		def(&l.IdleTimeout, DefaultIdleTimeout)
		def(&l.MaxConnections, DefaultMaxConnections)
		def(&l.MaxHeaderBytes, DefaultMaxHeaderBytes)
		def(&l.MaxBodyBytes, DefaultMaxBodyBytes)
		def(&l.StreamThreshold, DefaultStreamThreshold)
	}
	for i := range c.Upstreams {
		u := &c.Upstreams[i]
		def(&u.ConnectTimeout, DefaultUpstreamConnectTimeout)
		def(&u.Timeout, DefaultUpstreamTimeout)
		def(&u.IdleTimeout, DefaultUpstreamIdleTimeout)
		def(&u.MaxConnections, DefaultUpstreamMaxConnections)
		def(&u.FailTimeout, DefaultUpstreamFailTimeout)
	}
	if a := c.Audit; a != nil {
		def(&a.Durability, DefaultAuditDurability)
		def(&a.FsyncInterval, DefaultAuditFsyncInterval)
		def(&a.CheckpointEvery, DefaultAuditCheckpointEvery)
		def(&a.CheckpointInterval, DefaultAuditCheckpointInterval)
		def(&a.SegmentMaxBytes, DefaultAuditSegmentMaxBytes)
		def(&a.SegmentMaxAge, DefaultAuditSegmentMaxAge)
		def(&a.FailurePolicy, DefaultAuditFailurePolicy)
	}
}

func def[T comparable](p *T, v T) {
	var zero T
	if *p == zero {
		*p = v
	}
}
