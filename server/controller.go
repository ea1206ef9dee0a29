package server

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/drove-go/drove/cluster"
	"github.com/drove-go/drove/cluster/gossip"
	"github.com/drove-go/drove/fsm"
	"github.com/hashicorp/go-hclog"
)

// Controller is one controller process: FSM, Raft node, gossip member and
// HTTP API. It owns their lifecycle only; behaviour lives in the api,
// forwarder and leader tasks.
type Controller struct {
	cfg    ControllerConfig
	logger hclog.Logger
	fsm    *fsm.FSM
	pool   *gossip.Pool
	node   *cluster.Node
	api    *api
	ln     net.Listener
	srv    *http.Server

	ctx          context.Context
	cancel       context.CancelFunc
	wg           sync.WaitGroup
	left         chan struct{}
	leftOnce     sync.Once
	shutdownOnce sync.Once

	fullReports sync.Map // executor id → fullReport: its last full report received as leader
}

// NewController starts a controller: it listens, joins gossip, opens or
// bootstraps Raft and serves the API. Call Shutdown to stop it.
func NewController(cfg ControllerConfig) (*Controller, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Logger == nil {
		cfg.Logger = hclog.NewNullLogger()
	}
	c := &Controller{cfg: cfg, logger: cfg.Logger, left: make(chan struct{})}
	c.ctx, c.cancel = context.WithCancel(context.Background())
	if err := c.start(); err != nil {
		c.Shutdown()
		return nil, err
	}
	return c, nil
}

func (c *Controller) start() error {
	var err error
	if c.ln, err = net.Listen("tcp", c.cfg.HTTPAddr); err != nil {
		return fmt.Errorf("controller: http-addr %s: %w", c.cfg.HTTPAddr, err)
	}
	bindHost, _, _ := splitHostPort(c.cfg.HTTPAddr)
	advIP, err := advertiseIP(c.cfg.Advertise, bindHost)
	if err != nil {
		return fmt.Errorf("controller: %w", err)
	}
	advHost := c.cfg.Advertise
	if advHost == "" {
		advHost = advIP
	}
	apiAddr := net.JoinHostPort(advHost, strconv.Itoa(c.ln.Addr().(*net.TCPAddr).Port))
	if c.pool, err = c.startGossip(advIP, apiAddr); err != nil {
		return err
	}
	fsmCfg := c.cfg.FSM
	fsmCfg.Logger = c.logger
	if c.fsm, err = fsm.New(fsmCfg); err != nil {
		return err
	}
	if c.node, err = c.startRaft(advIP); err != nil {
		return err
	}
	if err := c.pool.UpdateMeta(func(m *gossip.Meta) { m.Raft = c.node.RaftAddr() }); err != nil {
		// A restarted controller's old peers may still hold it as dead and be
		// slow to take the broadcast; push/pull spreads the address anyway.
		if !errors.Is(err, gossip.ErrBroadcastUnconfirmed) {
			return fmt.Errorf("controller: publish raft address: %w", err)
		}
		c.logger.Warn("raft address published without broadcast confirmation", "error", err)
	}
	c.pool.JoinBackground(c.ctx, c.cfg.Join)
	c.api = c.newAPI(advHost, apiAddr)
	c.srv = &http.Server{Handler: c.api.router(), ReadHeaderTimeout: 10 * time.Second,
		ErrorLog: c.logger.StandardLogger(&hclog.StandardLoggerOptions{InferLevels: true})}
	c.goRun(func() {
		if err := c.srv.Serve(c.ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			c.logger.Error("http server stopped", "error", err)
		}
	})
	mon := &leadershipMonitor{node: c.node, logger: c.logger.Named("leader"), establish: c.establishLeadership,
		tasks: []leaderTask{c.reconcileControllers,
			(&executorMonitor{c: c, absentGrace: c.cfg.ExecutorAbsentGrace, retention: c.cfg.RemovedExecutorRetention, now: time.Now}).run,
			newDispatcher(c).run, newOpEngine(c).run, newServiceEngine(c).run,
			(&taskMonitor{c: c, interval: time.Second, now: time.Now}).run,
			(&migrator{c: c, interval: time.Second, backoff: c.cfg.RecoverBackoff, now: time.Now}).run,
			(&outageMonitor{c: c, interval: c.cfg.OutageCheckInterval, recoverBackoff: c.cfg.RecoverBackoff, now: time.Now}).run,
			(&staleCleaner{c: c, interval: time.Minute, maxOld: 100, maxAge: 7 * 24 * time.Hour, now: time.Now}).run},
		onLost: func() { c.api.leaderReady.Store(false) }}
	c.goRun(func() { mon.run(c.ctx) })
	c.logger.Info("controller started", "id", c.cfg.NodeID, "http", apiAddr, "raft", c.node.RaftAddr(), "gossip", c.pool.LocalAddr())
	return nil
}

func (c *Controller) startGossip(advIP, apiAddr string) (*gossip.Pool, error) {
	host, port, _ := splitHostPort(c.cfg.GossipAddr)
	gc := c.cfg.Gossip
	gc.NodeName = c.cfg.NodeID
	gc.BindAddr = host
	if gc.BindAddr == "" {
		gc.BindAddr = "0.0.0.0"
	}
	gc.BindPort = port
	gc.AdvertiseAddr = advIP
	gc.Secret = c.cfg.ClusterSecret
	gc.Logger = c.logger
	gc.Meta = gossip.Meta{Role: gossip.RoleController, ID: c.cfg.NodeID, API: apiAddr, Version: c.cfg.Version}
	p, err := gossip.New(gc)
	if err != nil {
		return nil, fmt.Errorf("controller: gossip on %s: %w", c.cfg.GossipAddr, err)
	}
	return p, nil
}

func (c *Controller) startRaft(advIP string) (*cluster.Node, error) {
	host, port, _ := splitHostPort(c.cfg.RaftAddr)
	rc := c.cfg.Raft
	rc.NodeID = c.cfg.NodeID
	rc.DataDir = c.cfg.DataDir
	rc.RaftBind = c.cfg.RaftAddr
	if host == "" {
		rc.RaftBind = "0.0.0.0:" + strconv.Itoa(port)
	}
	if port != 0 {
		rc.RaftAdvertise = net.JoinHostPort(advIP, strconv.Itoa(port))
	}
	rc.Secret = c.cfg.ClusterSecret
	rc.BootstrapExpect = c.cfg.BootstrapExpect
	rc.Logger = c.logger
	return cluster.NewNode(rc, c.fsm, c.pool)
}

func (c *Controller) newAPI(hostname, apiAddr string) *api {
	if hostname == "" {
		hostname, _ = os.Hostname()
	}
	a := &api{
		c:      c,
		nodeID: c.cfg.NodeID, hostname: hostname, apiAddr: apiAddr, version: c.cfg.Version,
		logger: c.logger.Named("http"), fsm: c.fsm, node: c.node, pool: c.pool,
		auth:       newAuthenticator(c.cfg.Users, c.cfg.ClusterSecret, c.cfg.InsecureNoAuth),
		peers:      &nodeClient{client: &http.Client{Timeout: 10 * time.Second}, secret: c.cfg.ClusterSecret, nodeID: c.cfg.NodeID},
		leaveFn:    c.Leave,
		shutdownCh: c.ctx.Done(),
	}
	a.fwd = newForwarder(a, c.cfg.NodeID, c.cfg.ForwardWait, c.logger.Named("forward"))
	return a
}

func (c *Controller) goRun(f func()) {
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		f()
	}()
}

// HTTPAddr is the address the API listens on (useful with port 0).
func (c *Controller) HTTPAddr() string { return c.ln.Addr().String() }

// GossipAddr is the advertised gossip address.
func (c *Controller) GossipAddr() string { return c.pool.LocalAddr() }

// ID is the node id.
func (c *Controller) ID() string { return c.cfg.NodeID }

// Node exposes the raft node (tests, benchmarks).
func (c *Controller) Node() *cluster.Node { return c.node }

// FSM exposes the replicated state (tests, benchmarks).
func (c *Controller) FSM() *fsm.FSM { return c.fsm }

// Left is closed once the controller has left the cluster gracefully; the
// process should then Shutdown and exit.
func (c *Controller) Left() <-chan struct{} { return c.left }

// Shutdown stops the controller without leaving the cluster: it stays in the
// raft configuration and rejoins from its data dir when restarted.
func (c *Controller) Shutdown() {
	c.shutdownOnce.Do(func() {
		c.cancel()
		if c.srv != nil {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			_ = c.srv.Shutdown(ctx)
			cancel()
		} else if c.ln != nil {
			_ = c.ln.Close()
		}
		c.wg.Wait()
		if c.node != nil {
			if err := c.node.Shutdown(); err != nil {
				c.logger.Warn("raft shutdown", "error", err)
			}
		}
		if c.pool != nil {
			_ = c.pool.Shutdown()
		}
	})
}
