// Package proxy assembles a running Tollgate from a config file: it
// compiles the runtime, starts the data-plane engine and the admin
// listener, reloads on demand and drains on shutdown. The command line
// (cmd/tollgate) and the end-to-end tests drive the same code.
package proxy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"

	"github.com/VictoriaMetrics/metrics"

	"github.com/tollgate-proxy/tollgate/engine"
	"github.com/tollgate-proxy/tollgate/engine/admin"
	"github.com/tollgate-proxy/tollgate/engine/config"
	"github.com/tollgate-proxy/tollgate/engine/fasthttpengine"
	"github.com/tollgate-proxy/tollgate/engine/gnetengine"
	"github.com/tollgate-proxy/tollgate/engine/insight"
	"github.com/tollgate-proxy/tollgate/engine/pipeline"
	"github.com/tollgate-proxy/tollgate/filters"
	"github.com/tollgate-proxy/tollgate/filters/all"
)

// Options configures a Proxy.
type Options struct {
	// ConfigPath is the YAML file to load (and reload).
	ConfigPath string
	// Log receives operational logs; nil builds one from the config.
	Log *slog.Logger
	// LogOutput is where a config-built logger writes (stderr by default).
	LogOutput io.Writer
	// Registry lists the filter kinds; nil means all built-in filters.
	Registry filters.Registry
	// Engine, if set to gnet or fasthttp, serves every listener with that
	// engine whatever the config says (the command line's --engine).
	Engine string
}

// Proxy is a running Tollgate instance.
type Proxy struct {
	opts    Options
	log     *slog.Logger
	holder  engine.Holder
	engine  *fasthttpengine.Server
	gnet    *gnetengine.Server // listeners served by the event loop, if any
	pipe    *pipeline.Pipeline
	admin   *admin.Server
	rec     *engine.Recorder
	ship    atomic.Pointer[shipping] // nil unless audit.ship.postgres is set
	cluster *clusterView             // the dashboard's cluster view; nil without an audit log
	stats   *insight.Stats
	process *metrics.Set

	cfgListeners []config.Listener // as started, for Addrs' order
	engines      []string          // the engine serving each of cfgListeners

	reloadMu sync.Mutex
	gen      uint64
	draining atomic.Bool
	reloads  *metrics.Counter
	failures *metrics.Counter
}

// Load reads and compiles a config file without starting anything, as
// `tollgate check` does (engine/lint also reads the files only Start
// reads and lints the policy). Every error is returned, joined.
func Load(path string, reg filters.Registry) (*config.Config, *engine.Runtime, error) {
	if reg == nil {
		reg = all.Registry()
	}
	cfg, err := config.Check(path)
	if cfg == nil {
		return nil, nil, err
	}
	if err != nil {
		// The file parsed but has invalid settings: report the filters'
		// own errors too, so one run lists everything to fix.
		return cfg, nil, errors.Join(err, engine.CheckFilters(cfg, reg))
	}
	rt, err := engine.Compile(cfg, reg, 1, nil, nil)
	if err != nil {
		return cfg, nil, err
	}
	return cfg, rt, nil
}

// Start loads the config and starts serving.
func Start(opts Options) (*Proxy, error) {
	if opts.Registry == nil {
		opts.Registry = all.Registry()
	}
	cfg, err := config.Load(opts.ConfigPath)
	if err != nil {
		return nil, err
	}
	log := opts.Log
	if log == nil {
		log = NewLogger(cfg.Log, opts.LogOutput)
	}
	p := &Proxy{opts: opts, log: log, process: metrics.NewSet(), gen: 1}
	p.reloads = p.process.NewCounter(`tollgate_config_reloads_total{result="success"}`)
	p.failures = p.process.NewCounter(`tollgate_config_reloads_total{result="failure"}`)
	_ = p.process.NewGauge(`tollgate_config_generation`, func() float64 {
		if rt := p.holder.Load(); rt != nil {
			return float64(rt.Generation)
		}
		return 0
	})

	rt, err := engine.Compile(cfg, opts.Registry, p.gen, nil, log)
	if err != nil {
		return nil, err
	}
	p.holder.Swap(rt)

	// One record per request feeds the audit log and the live statistics.
	p.stats = insight.New(cfg.Insight, p.process)
	if p.rec, err = engine.NewRecorder(cfg.Audit, []engine.Observer{p.stats}, log, p.process); err != nil {
		_ = p.stats.Close()
		p.holder.Close()
		return nil, err
	}
	if err := p.startAuditShipping(cfg); err != nil {
		p.closeAll()
		return nil, err
	}
	if p.pipe, err = pipeline.New(pipeline.Options{Holder: &p.holder, Recorder: p.rec, Log: log, Metrics: p.process}); err != nil {
		p.closeAll()
		return nil, err
	}
	var fastListeners, gnetListeners []config.Listener
	for _, l := range cfg.Listeners {
		e := cfg.ListenerEngine(l, opts.Engine)
		p.engines = append(p.engines, e)
		if e == config.EngineGnet {
			gnetListeners = append(gnetListeners, l)
		} else {
			fastListeners = append(fastListeners, l)
		}
		// Which engine serves which listener is visible where operators
		// look: here and in the startup log.
		_ = p.process.NewGauge(fmt.Sprintf(`tollgate_listener_info{listener=%q,engine=%q,tls="%t"}`, l.Name, e, l.TLS != nil), func() float64 { return 1 })
	}
	p.engine, err = fasthttpengine.New(fasthttpengine.Options{
		Pipeline: p.pipe, Listeners: fastListeners, Log: log,
	})
	if err == nil && len(gnetListeners) > 0 {
		p.gnet, err = gnetengine.New(gnetengine.Options{
			Pipeline: p.pipe, Listeners: gnetListeners, Log: log,
		})
	}
	if err != nil {
		p.closeAll()
		return nil, err
	}
	p.admin = admin.New(admin.Options{
		Listen:       cfg.Admin.Listen,
		Ready:        p.notReady,
		WriteMetrics: p.writeMetrics,
		Log:          log,
		Token:        cfg.Admin.Token,
		// The dashboard and its JSON API; the admin's own paths win.
		Extra: map[string]http.Handler{"/": p.stats.Handler()},
	})
	if err := p.admin.Start(); err != nil {
		p.closeAll()
		return nil, err
	}
	if err := p.engine.Start(); err != nil {
		_ = p.admin.Shutdown(context.Background())
		p.closeAll()
		return nil, err
	}
	if p.gnet != nil {
		if err := p.gnet.Start(); err != nil {
			_ = p.engine.Shutdown(context.Background())
			_ = p.admin.Shutdown(context.Background())
			p.closeAll()
			return nil, err
		}
	}
	p.cfgListeners = cfg.Listeners
	return p, nil
}

// closeAll releases the runtime and the audit log (after the engines have
// stopped, so the last records are in before the final checkpoint).
func (p *Proxy) closeAll() error {
	p.holder.Close()
	err := p.stats.Close()
	if cerr := p.rec.Close(); cerr != nil {
		err = errors.Join(err, fmt.Errorf("cannot close audit log: %w", cerr))
	}
	if p.cluster != nil {
		p.cluster.Close()
	}
	// After the log's final checkpoint, so the shipper's last attempt
	// carries it.
	return errors.Join(err, p.stopShipping(false))
}

func (p *Proxy) notReady() string {
	if p.draining.Load() {
		return "draining"
	}
	if !p.rec.Healthy() {
		return "audit log unavailable"
	}
	if p.shipBehind() {
		return "audit shipping behind"
	}
	return ""
}

func (p *Proxy) writeMetrics(w io.Writer) {
	p.process.WritePrometheus(w)
	if sh := p.ship.Load(); sh != nil {
		sh.set.WritePrometheus(w)
	}
	if rt := p.holder.Acquire(); rt != nil {
		rt.WritePrometheus(w)
		rt.Release()
	}
}

// Reload re-reads the config file and swaps it in atomically. A config
// that does not load or compile is rejected and the running one kept.
func (p *Proxy) Reload() error {
	p.reloadMu.Lock()
	defer p.reloadMu.Unlock()
	cfg, err := config.Load(p.opts.ConfigPath)
	if err == nil {
		prev := p.holder.Load()
		var ship *shipReload
		var auditRestart bool
		if ship, auditRestart, err = p.reloadAudit(prev.Config.Audit, cfg.Audit); err == nil {
			var rt *engine.Runtime
			if rt, err = engine.Compile(cfg, p.opts.Registry, p.gen+1, prev, p.log); err == nil {
				warnStatic(p.log, prev.Config, cfg)
				if auditRestart {
					p.log.Warn("audit settings changed; they take effect on restart")
				}
				p.gen++
				p.holder.Swap(rt)
				if ship != nil {
					ship.apply()
				}
				p.reloads.Inc()
				p.log.Info("config reloaded", "generation", p.gen, "routes", len(rt.Routes))
				return nil
			}
			if ship != nil {
				ship.discard()
			}
		}
	}
	p.failures.Inc()
	p.log.Error("config reload rejected; keeping the running config", "err", err)
	return fmt.Errorf("cannot reload %s: %w", p.opts.ConfigPath, err)
}

// warnStatic logs settings that only take effect on restart.
func warnStatic(log *slog.Logger, old, cur *config.Config) {
	if old.Admin.Listen != cur.Admin.Listen {
		log.Warn("admin.listen changed; it takes effect on restart")
	}
	if old.Metrics.Histograms != cur.Metrics.Histograms {
		log.Warn("metrics.histograms changed; it takes effect on restart")
	}
	if len(old.Listeners) != len(cur.Listeners) {
		log.Warn("listeners changed; they take effect on restart")
		return
	}
	for i := range old.Listeners {
		o, c := old.Listeners[i], cur.Listeners[i]
		o.TrustedProxies, c.TrustedProxies = nil, nil
		if fmt.Sprint(o) != fmt.Sprint(c) {
			log.Warn("listener settings changed; only trusted_proxies apply without a restart", "listener", c.Name)
		}
	}
}

// Shutdown stops accepting, marks the proxy not ready, drains in-flight
// requests until ctx is done, and releases everything.
func (p *Proxy) Shutdown(ctx context.Context) error {
	p.draining.Store(true)
	err := p.engine.Shutdown(ctx)
	if p.gnet != nil {
		err = errors.Join(err, p.gnet.Shutdown(ctx))
	}
	err = errors.Join(err, p.closeAll(), p.admin.Shutdown(ctx))
	return err
}

// Addrs returns the bound addresses of the data-plane listeners, in
// config order.
func (p *Proxy) Addrs() []net.Addr {
	fast := p.engine.Addrs()
	var gn []net.Addr
	if p.gnet != nil {
		gn = p.gnet.Addrs()
	}
	out := make([]net.Addr, 0, len(fast)+len(gn))
	for i := range p.cfgListeners {
		if p.engines[i] == config.EngineGnet && len(gn) > 0 {
			out, gn = append(out, gn[0]), gn[1:]
		} else if len(fast) > 0 {
			out, fast = append(out, fast[0]), fast[1:]
		}
	}
	return out
}

// AdminAddr returns the bound admin address.
func (p *Proxy) AdminAddr() net.Addr { return p.admin.Addr() }

// Generation returns the current config generation.
func (p *Proxy) Generation() uint64 {
	p.reloadMu.Lock()
	defer p.reloadMu.Unlock()
	return p.gen
}

// Logger returns the proxy's operational logger.
func (p *Proxy) Logger() *slog.Logger { return p.log }

// EventLoops returns how many gnet event loops serve the listeners; zero
// when the goroutine engine serves them all.
func (p *Proxy) EventLoops() int {
	if p.gnet == nil {
		return 0
	}
	return p.gnet.EventLoops()
}
