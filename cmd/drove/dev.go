package main

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"syscall"

	"github.com/drove-go/drove/agent"
	"github.com/drove-go/drove/server"
	"github.com/spf13/cobra"
)

// devFlags are the flags of `drove dev`.
type devFlags struct {
	dataDir, host, runtime, logLevel string
	httpPort, executorPort           int
	cores                            int
	memoryMB                         int64
}

func newDevCommand() *cobra.Command {
	f := &devFlags{}
	cmd := &cobra.Command{
		Use:   "dev",
		Short: "Run a single-process development cluster: one controller and one executor",
		Long: `Run a controller (single node, admin/admin) and an executor on the local
Docker engine in one process. State lives in --data-dir (a temporary directory
by default, so a restart starts empty). The API listens on --http-port (4000);
point the CLI at it with -e http://localhost:4000 -u admin -p admin.`,
		Args: cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error { return runDev(f) },
	}
	fs := cmd.Flags()
	fs.StringVar(&f.dataDir, "data-dir", "", "controller data dir (default: a new temporary dir)")
	fs.StringVar(&f.host, "host", "127.0.0.1", "address to listen on and advertise")
	fs.IntVar(&f.httpPort, "http-port", 4000, "controller API port (raft and gossip use the next two)")
	fs.IntVar(&f.executorPort, "executor-port", 3000, "executor API port (its gossip uses this port + 2)")
	fs.StringVar(&f.runtime, "runtime", "docker", "container runtime: docker or fake")
	fs.IntVar(&f.cores, "cores", 0, "cores the executor offers (0: discovered)")
	fs.Int64Var(&f.memoryMB, "memory-mb", 0, "memory in MB the executor offers (0: discovered)")
	fs.StringVar(&f.logLevel, "log-level", "info", "log level: trace, debug, info, warn, error")
	return cmd
}

func runDev(f *devFlags) error {
	logger := newLogger(f.logLevel, false)
	secret, err := randomSecret()
	if err != nil {
		return err
	}
	addr := func(port int) string { return net.JoinHostPort(f.host, strconv.Itoa(port)) }

	cfg := server.DefaultControllerConfig()
	cfg.NodeID, cfg.DataDir, cfg.Advertise = "dev-controller", f.dataDir, f.host
	cfg.HTTPAddr, cfg.RaftAddr, cfg.GossipAddr = addr(f.httpPort), addr(f.httpPort+1), addr(f.httpPort+2)
	cfg.ClusterSecret, cfg.Version, cfg.Logger = secret, Version, logger
	if err := applyDevDefaults(&cfg, logger); err != nil {
		return err
	}
	c, err := server.NewController(cfg)
	if err != nil {
		return err
	}
	defer c.Shutdown()

	ef := &executorFlags{}
	ecmd := executorCommand(ef)
	args := []string{"--runtime", f.runtime, "--hostname", f.host, "--cluster-secret", secret,
		"--log-dir", filepath.Join(cfg.DataDir, "instance-logs"),
		"--http-addr", addr(f.executorPort), "--gossip-addr", addr(f.executorPort + 2),
		"--join", cfg.GossipAddr, "--controllers", "http://" + cfg.HTTPAddr, "--log-level", f.logLevel,
		"--cores", strconv.Itoa(f.cores), "--memory-mb", strconv.FormatInt(f.memoryMB, 10)}
	if err := ecmd.ParseFlags(args); err != nil {
		return fmt.Errorf("dev executor flags: %w", err)
	}
	acfg, err := ef.agentConfig(logger)
	if err != nil {
		return err
	}
	rt, err := ef.newRuntime(logger)
	if err != nil {
		return err
	}
	if cl, ok := rt.(io.Closer); ok {
		defer cl.Close()
	}
	a, err := agent.New(acfg, rt)
	if err != nil {
		return err
	}
	defer a.Shutdown()
	logger.Info("drove dev is up", "api", "http://"+cfg.HTTPAddr, "user", "admin/admin", "runtime", f.runtime, "data_dir", cfg.DataDir)

	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	s := <-sigs
	logger.Info("signal received; stopping", "signal", s.String())
	return nil
}

// randomSecret is the cluster secret of a dev cluster: only its own
// controller and executor need it.
func randomSecret() (string, error) {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return hex.EncodeToString(b), nil
}
