package agent

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net"
	"net/http"
	"os"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/drove-go/drove/agent/resources"
	"github.com/drove-go/drove/cluster/gossip"
	"github.com/drove-go/drove/fsm/model"
	"github.com/hashicorp/go-hclog"
	sockaddr "github.com/hashicorp/go-sockaddr"
)

// gossipLeaveTimeout bounds the graceful gossip leave of Shutdown.
const gossipLeaveTimeout = 5 * time.Second

// Agent is one executor process: HTTP API, gossip member, and the loops
// that register, report and reconcile. It owns their lifecycle only;
// behaviour lives in the instance manager, registrar, reporter and
// reconciler.
type Agent struct {
	cfg    Config
	logger hclog.Logger
	rt     Runtime
	boot   int64

	ln     net.Listener
	srv    *http.Server
	pool   *gossip.Pool
	client *controllerClient
	mgr    *instanceManager
	reg    *registrar
	rep    *reporter
	rec    *reconciler

	ctx      context.Context
	cancel   context.CancelFunc
	wg       sync.WaitGroup
	stopOnce sync.Once
}

// New validates cfg and starts an agent that runs instances on rt: it
// listens, joins gossip, registers with the controllers and starts
// reporting and reconciling. Stop it with Shutdown (or Kill).
func New(cfg Config, rt Runtime) (*Agent, error) {
	if rt == nil {
		return nil, errors.New("agent: no container runtime given")
	}
	if cfg.Logger == nil {
		cfg.Logger = hclog.NewNullLogger()
	}
	if cfg.Hostname == "" {
		h, err := os.Hostname()
		if err != nil {
			return nil, fmt.Errorf("agent: --hostname not given and the host name is unknown: %w", err)
		}
		cfg.Hostname = h
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg.Tags, cfg.Metadata, cfg.Layout = cfg.tags(), maps.Clone(cfg.Metadata), cloneLayout(cfg.Layout)
	if cfg.Metadata == nil {
		cfg.Metadata = map[string]string{}
	}
	a := &Agent{cfg: cfg, logger: cfg.Logger, rt: rt, boot: time.Now().UnixMilli()}
	a.ctx, a.cancel = context.WithCancel(context.Background())
	if err := a.start(); err != nil {
		a.stop(false)
		return nil, err
	}
	return a, nil
}

func (a *Agent) start() error {
	var err error
	if a.ln, err = net.Listen("tcp", a.cfg.HTTPAddr); err != nil {
		return fmt.Errorf("agent: --http-addr %s: %w", a.cfg.HTTPAddr, err)
	}
	port := a.ln.Addr().(*net.TCPAddr).Port
	if a.cfg.ExecutorID == "" {
		a.cfg.ExecutorID = resources.ExecutorID(a.cfg.Hostname, port)
	}
	a.logger = a.logger.With("executor", a.cfg.ExecutorID)
	a.cfg.Logger = a.logger
	a.client = newControllerClient(a.cfg.Controllers, a.cfg.ClusterSecret, a.cfg.ExecutorID,
		a.cfg.ControllerTimeout, a.logger.Named("client"))
	a.reg = newRegistrar(a.client, a.registration(port), a.cfg.RegisterInterval, a.logger.Named("register"))
	a.rep = newReporter(a.client, a.reg, a.cfg.ExecutorID, a.cfg.ReportBatch, a.cfg.ReportInterval, a.logger.Named("report"))
	a.mgr = newInstanceManager(a.ctx, a.rt, a.cfg, a.boot, a.rep.enqueue)
	a.mgr.logs = newLogStore(a.cfg, a.logger.Named("logs"))
	a.rep.mgr = a.mgr
	a.rec = newReconciler(a.client, a.mgr, a.reg, a.rep, a.cfg)
	events, err := a.rt.Events(a.ctx)
	if err != nil {
		return fmt.Errorf("agent: subscribe to %s runtime events: %w", a.rt.Name(), err)
	}
	// Re-adopt the containers of a previous run before taking messages.
	if err := a.mgr.recover(a.ctx); err != nil {
		return fmt.Errorf("agent: recover containers from the %s runtime: %w", a.rt.Name(), err)
	}
	apiAddr := net.JoinHostPort(a.cfg.Hostname, strconv.Itoa(port))
	if a.pool, err = a.startGossip(apiAddr); err != nil {
		return err
	}
	a.pool.JoinBackground(a.ctx, a.cfg.Join)
	h := &api{executorID: a.cfg.ExecutorID, secret: a.cfg.ClusterSecret, mgr: a.mgr, logger: a.logger.Named("http")}
	a.srv = &http.Server{Handler: h.handler(), ReadHeaderTimeout: 10 * time.Second,
		ErrorLog: a.logger.StandardLogger(&hclog.StandardLoggerOptions{InferLevels: true})}
	a.wg.Go(func() {
		if err := a.srv.Serve(a.ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			a.logger.Error("http server stopped", "error", err)
		}
	})
	a.wg.Go(func() { a.mgr.watchEvents(a.ctx, events) })
	a.wg.Go(func() { a.reg.run(a.ctx) })
	a.wg.Go(func() { a.rep.run(a.ctx) })
	a.wg.Go(func() { a.rec.run(a.ctx) })
	a.wg.Go(func() { a.mgr.logs.sweepLoop(a.ctx) })
	a.logger.Info("executor started", "http", apiAddr, "gossip", a.pool.LocalAddr(),
		"runtime", a.rt.Name(), "cores", a.cfg.Layout.TotalCores(), "memory_mb", a.cfg.Layout.TotalMemory())
	return nil
}

func (a *Agent) registration(port int) model.ExecutorRegistration {
	return model.ExecutorRegistration{
		ExecutorID: a.cfg.ExecutorID, Hostname: a.cfg.Hostname, Port: port, TransportType: model.TransportHTTP,
		Layout: cloneLayout(a.cfg.Layout), Tags: slices.Clone(a.cfg.Tags), Metadata: maps.Clone(a.cfg.Metadata),
		State: model.ExecutorActive, Version: a.cfg.Version, Boot: a.boot,
	}
}

func (a *Agent) startGossip(apiAddr string) (*gossip.Pool, error) {
	host, port, _ := splitHostPort(a.cfg.GossipAddr)
	gc := a.cfg.Gossip
	gc.NodeName = a.cfg.ExecutorID
	gc.BindAddr = host
	if gc.BindAddr == "" {
		gc.BindAddr = "0.0.0.0"
	}
	gc.BindPort = port
	gc.AdvertiseAddr = advertiseAddr(a.cfg.Advertise, host)
	gc.Secret = a.cfg.ClusterSecret
	gc.Logger = a.logger.Named("gossip")
	gc.Meta = gossip.Meta{Role: gossip.RoleExecutor, ID: a.cfg.ExecutorID, API: apiAddr, Version: a.cfg.Version,
		Tags: map[string]string{"digest": resources.Digest(a.cfg.Layout), gossip.TagBoot: strconv.FormatInt(a.boot, 10)}}
	p, err := gossip.New(gc)
	if err != nil {
		return nil, fmt.Errorf("agent: gossip on --gossip-addr %s: %w", a.cfg.GossipAddr, err)
	}
	return p, nil
}

// advertiseAddr is the gossip address others use: the configured one, else
// a concrete bind IP, else a private IP of the host, else loopback.
func advertiseAddr(advertise, bindHost string) string {
	if advertise != "" {
		return advertise
	}
	if ip := net.ParseIP(bindHost); ip != nil && !ip.IsUnspecified() {
		return ip.String()
	}
	if ip, err := sockaddr.GetPrivateIP(); err == nil && ip != "" {
		return ip
	}
	return "127.0.0.1"
}

// HTTPAddr is the address the API listens on (useful with port 0).
func (a *Agent) HTTPAddr() string { return a.ln.Addr().String() }

// GossipAddr is the advertised gossip address.
func (a *Agent) GossipAddr() string { return a.pool.LocalAddr() }

// ID is the executor id.
func (a *Agent) ID() string { return a.cfg.ExecutorID }

// Boot is the agent's start time (epoch ms) that orders its reports.
func (a *Agent) Boot() int64 { return a.boot }

// Instances lists every instance the agent knows (ended ones for a while
// too), oldest first.
func (a *Agent) Instances() []model.InstanceInfo { return a.mgr.infos() }

// UpdateRegistration replaces the offered layout, tags (the hostname is
// always added) and metadata; if anything changed the agent registers
// again at once and gossips the new layout digest.
func (a *Agent) UpdateRegistration(layout model.ResourceLayout, tags []string, metadata map[string]string) error {
	c := a.cfg
	c.Layout, c.Tags, c.Metadata = layout, tags, metadata
	if err := c.Validate(); err != nil {
		return err
	}
	changed := a.reg.update(func(r *model.ExecutorRegistration) {
		r.Layout, r.Tags, r.Metadata = cloneLayout(layout), c.tags(), maps.Clone(metadata)
		if r.Metadata == nil {
			r.Metadata = map[string]string{}
		}
	})
	if !changed {
		return nil
	}
	return a.pool.UpdateMeta(func(m *gossip.Meta) {
		if m.Tags == nil {
			m.Tags = map[string]string{}
		}
		m.Tags["digest"] = resources.Digest(layout)
	})
}

// Shutdown stops the agent gracefully: the API and loops stop and the agent
// leaves the gossip pool (controllers see it as left, not failed).
// Containers keep running. Idempotent.
func (a *Agent) Shutdown() { a.stop(true) }

// Kill stops the agent as a crash would look to the cluster: it does not
// leave gossip (controllers declare it dead). Idempotent; meant for tests.
func (a *Agent) Kill() { a.stop(false) }

func (a *Agent) stop(graceful bool) {
	a.stopOnce.Do(func() {
		a.cancel()
		if a.srv != nil {
			if graceful {
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				_ = a.srv.Shutdown(ctx)
				cancel()
			} else {
				_ = a.srv.Close()
			}
		} else if a.ln != nil {
			_ = a.ln.Close()
		}
		a.wg.Wait()
		if a.mgr != nil {
			a.mgr.close()
		}
		if a.pool != nil {
			if graceful {
				if err := a.pool.Leave(gossipLeaveTimeout); err != nil {
					a.logger.Warn("gossip leave", "error", err)
				}
			}
			_ = a.pool.Shutdown()
		}
		a.logger.Info("executor stopped", "graceful", graceful)
	})
}
