package cluster

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
	"github.com/stretchr/testify/require"
)

// logWatcher is an io.Writer for hclog that records output and lets a test
// block (with a deadline) until a given substring has been logged, instead
// of sleeping and hoping.
type logWatcher struct {
	mu      sync.Mutex
	buf     bytes.Buffer
	waiters []logWaiter
}

type logWaiter struct {
	substr string
	ch     chan struct{}
}

func (w *logWatcher) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	n, _ := w.buf.Write(p)
	kept := w.waiters[:0]
	for _, wt := range w.waiters {
		if strings.Contains(w.buf.String(), wt.substr) {
			close(wt.ch)
		} else {
			kept = append(kept, wt)
		}
	}
	w.waiters = kept
	return n, nil
}

// waitFor returns a channel closed once substr has appeared in the log.
func (w *logWatcher) waitFor(substr string) <-chan struct{} {
	w.mu.Lock()
	defer w.mu.Unlock()
	ch := make(chan struct{})
	if strings.Contains(w.buf.String(), substr) {
		close(ch)
	} else {
		w.waiters = append(w.waiters, logWaiter{substr: substr, ch: ch})
	}
	return ch
}

func (w *logWatcher) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}

func newWatchedLogger() (hclog.Logger, *logWatcher) {
	w := &logWatcher{}
	return hclog.New(&hclog.LoggerOptions{Name: "test", Output: w, Level: hclog.Debug}), w
}

// newTestLayer starts a stream layer on loopback and closes it at test end.
func newTestLayer(t *testing.T, secret string, logger hclog.Logger) *StreamLayer {
	t.Helper()
	sl, err := NewStreamLayer("127.0.0.1:0", nil, secret, logger)
	require.NoError(t, err)
	t.Cleanup(func() { _ = sl.Close() })
	return sl
}

type acceptResult struct {
	conn net.Conn
	err  error
}

// acceptAsync runs Accept repeatedly in the background, forwarding results,
// until Accept fails (i.e. the layer is closed).
func acceptAsync(sl *StreamLayer) <-chan acceptResult {
	ch := make(chan acceptResult, 16)
	go func() {
		defer close(ch)
		for {
			c, err := sl.Accept()
			ch <- acceptResult{c, err}
			if err != nil {
				return
			}
		}
	}()
	return ch
}

func waitAccept(t *testing.T, ch <-chan acceptResult, within time.Duration) net.Conn {
	t.Helper()
	timer := time.NewTimer(within)
	defer timer.Stop()
	select {
	case r := <-ch:
		require.NoError(t, r.err)
		t.Cleanup(func() { _ = r.conn.Close() })
		return r.conn
	case <-timer.C:
		t.Fatalf("no connection accepted within %s", within)
		return nil
	}
}

// expectClosedByPeer reads until the peer closes conn, failing if that does
// not happen before a deadline. A reset counts as closed: a server that
// hangs up with unread bytes in its buffer sends RST rather than FIN.
func expectClosedByPeer(t *testing.T, conn net.Conn) {
	t.Helper()
	require.NoError(t, conn.SetReadDeadline(time.Now().Add(2*time.Second)))
	_, err := io.Copy(io.Discard, conn)
	var nerr net.Error
	require.False(t, errors.As(err, &nerr) && nerr.Timeout(), "peer did not close the conn: %v", err)
}

func dial(t *testing.T, from, to *StreamLayer) net.Conn {
	t.Helper()
	c, err := from.Dial(raft.ServerAddress(to.Addr().String()), 2*time.Second)
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// exchange checks that bytes flow in both directions between a and b.
func exchange(t *testing.T, a, b net.Conn) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Second)
	require.NoError(t, a.SetDeadline(deadline))
	require.NoError(t, b.SetDeadline(deadline))

	_, err := a.Write([]byte("ping"))
	require.NoError(t, err)
	got := make([]byte, 4)
	_, err = io.ReadFull(b, got)
	require.NoError(t, err)
	require.Equal(t, "ping", string(got))

	_, err = b.Write([]byte("pong"))
	require.NoError(t, err)
	_, err = io.ReadFull(a, got)
	require.NoError(t, err)
	require.Equal(t, "pong", string(got))

	require.NoError(t, a.SetDeadline(time.Time{}))
	require.NoError(t, b.SetDeadline(time.Time{}))
}

func TestStreamLayer_Behaviour_SameSecretExchangesBytes(t *testing.T) {
	server := newTestLayer(t, "s3cret", nil)
	client := newTestLayer(t, "s3cret", nil)
	accepted := acceptAsync(server)

	c := dial(t, client, server)
	s := waitAccept(t, accepted, 2*time.Second)

	require.Equal(t, c.LocalAddr().String(), s.RemoteAddr().String())
	exchange(t, c, s)
}

func TestStreamLayer_Behaviour_WrongSecretRejected(t *testing.T) {
	logger, logs := newWatchedLogger()
	server := newTestLayer(t, "right", logger)
	bad := newTestLayer(t, "wrong", nil)
	good := newTestLayer(t, "right", nil)
	accepted := acceptAsync(server)
	rejected := logs.waitFor("authentication failed")

	// The handshake only authenticates the dialer, so Dial itself succeeds;
	// the server then hangs up instead of handing the conn to raft.
	bc := dial(t, bad, server)
	expectClosedByPeer(t, bc)

	select {
	case <-rejected:
	case <-time.After(2 * time.Second):
		t.Fatalf("no rejection logged; logs:\n%s", logs.String())
	}
	require.Contains(t, logs.String(), bc.LocalAddr().String(), "rejection log should name the remote address")

	select {
	case r := <-accepted:
		t.Fatalf("Accept yielded a conn for a wrong secret: %+v", r)
	case <-time.After(100 * time.Millisecond):
	}

	gc := dial(t, good, server)
	s := waitAccept(t, accepted, 2*time.Second)
	require.Equal(t, gc.LocalAddr().String(), s.RemoteAddr().String())
	exchange(t, gc, s)
}

func TestStreamLayer_Behaviour_SilentClientDoesNotBlockAccept(t *testing.T) {
	server := newTestLayer(t, "s3cret", nil)
	client := newTestLayer(t, "s3cret", nil)
	accepted := acceptAsync(server)

	// A client that connects and never answers the challenge.
	silent, err := net.Dial("tcp", server.Addr().String())
	require.NoError(t, err)
	defer func() { _ = silent.Close() }()

	start := time.Now()
	c := dial(t, client, server)
	s := waitAccept(t, accepted, 2*time.Second)
	require.Less(t, time.Since(start), defaultHandshakeTimeout, "good client must not wait for the silent one")
	require.Equal(t, c.LocalAddr().String(), s.RemoteAddr().String())
	exchange(t, c, s)
}

func TestStreamLayer_Behaviour_SilentClientTimesOut(t *testing.T) {
	logger, logs := newWatchedLogger()
	server, err := newStreamLayer("127.0.0.1:0", nil, "s3cret", logger, 100*time.Millisecond)
	require.NoError(t, err)
	defer func() { _ = server.Close() }()
	failed := logs.waitFor("handshake failed")

	silent, err := net.Dial("tcp", server.Addr().String())
	require.NoError(t, err)
	defer func() { _ = silent.Close() }()

	// The server closes the conn once the handshake deadline passes; drain
	// the challenge and expect EOF well before our own deadline.
	expectClosedByPeer(t, silent)

	select {
	case <-failed:
	case <-time.After(2 * time.Second):
		t.Fatalf("no handshake failure logged; logs:\n%s", logs.String())
	}
}

func TestStreamLayer_Behaviour_EmptySecretIsPlainTCP(t *testing.T) {
	server := newTestLayer(t, "", nil)
	client := newTestLayer(t, "", nil)
	accepted := acceptAsync(server)

	c := dial(t, client, server)
	s := waitAccept(t, accepted, 2*time.Second)
	exchange(t, c, s)

	// A raw TCP client interoperates too, and the server sends no challenge.
	raw, err := net.Dial("tcp", server.Addr().String())
	require.NoError(t, err)
	defer func() { _ = raw.Close() }()
	rs := waitAccept(t, accepted, 2*time.Second)
	require.NoError(t, raw.SetReadDeadline(time.Now().Add(50*time.Millisecond)))
	_, err = raw.Read(make([]byte, 1))
	var nerr net.Error
	require.True(t, errors.As(err, &nerr) && nerr.Timeout(), "expected no bytes from server, got %v", err)
	require.NoError(t, raw.SetReadDeadline(time.Time{}))
	exchange(t, raw, rs)
}

func TestStreamLayer_Behaviour_SecretMismatchWithPlainPeer(t *testing.T) {
	t.Run("authenticated dialer to plain server fails at Dial", func(t *testing.T) {
		server := newTestLayer(t, "", nil)
		client := newTestLayer(t, "s3cret", nil)
		// The plain server never sends a challenge; Dial must give up at its
		// timeout rather than hang.
		_, err := client.Dial(raft.ServerAddress(server.Addr().String()), 200*time.Millisecond)
		require.Error(t, err)
	})
	t.Run("plain dialer to authenticated server is rejected", func(t *testing.T) {
		server := newTestLayer(t, "s3cret", nil)
		client := newTestLayer(t, "", nil)
		accepted := acceptAsync(server)
		c := dial(t, client, server)
		// Raft would send its RPC straight away; the server takes those
		// bytes as a (wrong) MAC and hangs up.
		_, err := c.Write(bytes.Repeat([]byte{1}, 64))
		require.NoError(t, err)
		expectClosedByPeer(t, c)
		select {
		case r := <-accepted:
			t.Fatalf("Accept yielded an unauthenticated conn: %+v", r)
		default:
		}
	})
	t.Run("dialing a non-drove service fails at Dial", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		defer func() { _ = ln.Close() }()
		go func() {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			defer func() { _ = c.Close() }()
			_, _ = c.Write(bytes.Repeat([]byte("x"), len(raftHandshakeMagic)+raftNonceSize))
		}()
		client := newTestLayer(t, "s3cret", nil)
		_, err = client.Dial(raft.ServerAddress(ln.Addr().String()), 2*time.Second)
		require.ErrorContains(t, err, "did not send the drove raft handshake")
	})
}

func TestStreamLayer_Behaviour_CloseUnblocksAccept(t *testing.T) {
	sl, err := NewStreamLayer("127.0.0.1:0", nil, "s3cret", nil)
	require.NoError(t, err)

	// A silent client holds a handshake goroutine; Close must not wait for
	// its 5 s handshake timeout.
	silent, err := net.Dial("tcp", sl.Addr().String())
	require.NoError(t, err)
	defer func() { _ = silent.Close() }()
	// Once the challenge has arrived the handshake goroutine is running.
	require.NoError(t, silent.SetReadDeadline(time.Now().Add(2*time.Second)))
	_, err = io.ReadFull(silent, make([]byte, len(raftHandshakeMagic)+raftNonceSize))
	require.NoError(t, err)

	accepted := acceptAsync(sl)
	closed := make(chan error, 1)
	go func() { closed <- sl.Close() }()

	select {
	case err := <-closed:
		require.NoError(t, err)
	case <-time.After(time.Second):
		t.Fatal("Close did not return promptly")
	}
	select {
	case r := <-accepted:
		require.ErrorIs(t, r.err, ErrStreamLayerClosed)
		require.ErrorIs(t, r.err, net.ErrClosed)
	case <-time.After(time.Second):
		t.Fatal("Accept did not return after Close")
	}

	// The silent client's conn was torn down by Close.
	expectClosedByPeer(t, silent)

	// Subsequent calls keep failing and Close is idempotent.
	_, err = sl.Accept()
	require.ErrorIs(t, err, ErrStreamLayerClosed)
	require.NoError(t, sl.Close())
	_, err = net.DialTimeout("tcp", sl.Addr().String(), time.Second)
	require.Error(t, err, "listener should be closed")
}

func TestStreamLayer_Behaviour_AdvertiseAddress(t *testing.T) {
	t.Run("nil advertise uses the listener address", func(t *testing.T) {
		sl := newTestLayer(t, "", nil)
		addr, ok := sl.Addr().(*net.TCPAddr)
		require.True(t, ok)
		require.True(t, addr.IP.IsLoopback())
		require.NotZero(t, addr.Port)
	})
	t.Run("explicit advertise is returned by Addr", func(t *testing.T) {
		adv := &net.TCPAddr{IP: net.ParseIP("10.1.2.3"), Port: 4001}
		sl, err := NewStreamLayer("127.0.0.1:0", adv, "x", nil)
		require.NoError(t, err)
		defer func() { _ = sl.Close() }()
		require.Equal(t, adv, sl.Addr())
	})
	t.Run("unspecified bind without advertise is rejected", func(t *testing.T) {
		_, err := NewStreamLayer("0.0.0.0:0", nil, "x", nil)
		require.ErrorContains(t, err, "not routable")
	})
	t.Run("unspecified advertise is rejected", func(t *testing.T) {
		_, err := NewStreamLayer("127.0.0.1:0", &net.TCPAddr{IP: net.IPv6unspecified, Port: 1}, "x", nil)
		require.ErrorContains(t, err, "not routable")
	})
	t.Run("non-TCP advertise is rejected", func(t *testing.T) {
		_, err := NewStreamLayer("127.0.0.1:0", &net.UDPAddr{IP: net.IPv4(10, 0, 0, 1), Port: 1}, "x", nil)
		require.ErrorContains(t, err, "not a TCP address")
	})
	t.Run("bad bind address is rejected", func(t *testing.T) {
		_, err := NewStreamLayer("not-an-address", nil, "x", nil)
		require.Error(t, err)
	})
}

// chanFSM reports every applied entry on a channel.
type chanFSM struct{ applied chan string }

func newChanFSM() *chanFSM { return &chanFSM{applied: make(chan string, 64)} }

func (f *chanFSM) Apply(l *raft.Log) any {
	f.applied <- string(l.Data)
	return nil
}

func (f *chanFSM) Snapshot() (raft.FSMSnapshot, error) { return noopSnapshot{}, nil }

func (f *chanFSM) Restore(rc io.ReadCloser) error { return rc.Close() }

type noopSnapshot struct{}

func (noopSnapshot) Persist(sink raft.SnapshotSink) error { return sink.Close() }
func (noopSnapshot) Release()                             {}

type testNode struct {
	id    raft.ServerID
	raft  *raft.Raft
	trans *raft.NetworkTransport
	fsm   *chanFSM
	logs  *logWatcher
}

func newTestNode(t *testing.T, id, secret string) *testNode {
	t.Helper()
	logger, logs := newWatchedLogger()
	sl, err := NewStreamLayer("127.0.0.1:0", nil, secret, logger.Named("stream"))
	require.NoError(t, err)
	trans := NewRaftTransport(sl, hclog.NewNullLogger())

	cfg := raft.DefaultConfig()
	cfg.LocalID = raft.ServerID(id)
	cfg.HeartbeatTimeout = 150 * time.Millisecond
	cfg.ElectionTimeout = 150 * time.Millisecond
	cfg.LeaderLeaseTimeout = 100 * time.Millisecond
	cfg.CommitTimeout = 5 * time.Millisecond
	cfg.Logger = hclog.NewNullLogger()

	fsm := newChanFSM()
	store := raft.NewInmemStore()
	r, err := raft.NewRaft(cfg, fsm, store, store, raft.NewInmemSnapshotStore(), trans)
	require.NoError(t, err)
	n := &testNode{id: cfg.LocalID, raft: r, trans: trans, fsm: fsm, logs: logs}
	t.Cleanup(func() {
		require.NoError(t, r.Shutdown().Error())
		require.NoError(t, trans.Close())
	})
	return n
}

func (n *testNode) addr() raft.ServerAddress { return n.trans.LocalAddr() }

func expectApplied(t *testing.T, n *testNode, want string, within time.Duration) {
	t.Helper()
	timer := time.NewTimer(within)
	defer timer.Stop()
	for {
		select {
		case got := <-n.fsm.applied:
			if got == want {
				return
			}
		case <-timer.C:
			t.Fatalf("node %s did not apply %q within %s", n.id, want, within)
		}
	}
}

func TestStreamLayer_Behaviour_RaftClusterRequiresSecret(t *testing.T) {
	n1 := newTestNode(t, "n1", "cluster-secret")
	n2 := newTestNode(t, "n2", "cluster-secret")
	n3 := newTestNode(t, "n3", "not-the-secret")

	require.NoError(t, n1.raft.BootstrapCluster(raft.Configuration{Servers: []raft.Server{
		{ID: n1.id, Address: n1.addr(), Suffrage: raft.Voter},
	}}).Error())
	select {
	case isLeader := <-n1.raft.LeaderCh():
		require.True(t, isLeader)
	case <-time.After(2 * time.Second):
		t.Fatal("n1 did not become leader")
	}

	require.NoError(t, n1.raft.AddVoter(n2.id, n2.addr(), 0, time.Second).Error())
	require.NoError(t, n1.raft.Apply([]byte("first"), time.Second).Error())
	expectApplied(t, n2, "first", 2*time.Second)

	// n3 does not know the secret. With n1+n2 forming a quorum of the new
	// three-voter configuration the membership change itself may commit, but
	// n3 must never receive any log entries.
	rejected := n3.logs.waitFor("authentication failed")
	_ = n1.raft.AddVoter(n3.id, n3.addr(), 0, time.Second).Error()
	require.NoError(t, n1.raft.Apply([]byte("second"), time.Second).Error())
	expectApplied(t, n2, "second", 2*time.Second)

	select {
	case <-rejected:
	case <-time.After(2 * time.Second):
		t.Fatalf("n3 never rejected the leader's connection; logs:\n%s", n3.logs.String())
	}
	select {
	case got := <-n3.fsm.applied:
		t.Fatalf("n3 applied %q without knowing the secret", got)
	default:
	}
	require.Zero(t, n3.raft.LastIndex(), "n3 must not have received any log")
	require.Equal(t, raft.Follower, n3.raft.State())
	cfg := n3.raft.GetConfiguration()
	require.NoError(t, cfg.Error())
	require.Empty(t, cfg.Configuration().Servers, fmt.Sprintf("n3 learned a configuration: %+v", cfg.Configuration()))
}
