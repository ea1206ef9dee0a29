package cluster

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
)

// Raft stream layer handshake.
//
// hashicorp/raft's TCP transport accepts RPCs from anyone who can reach the
// port, so any process on the network could inject AppendEntries or
// RequestVote RPCs. StreamLayer puts a challenge–response handshake in front
// of every raft connection:
//
//	server -> dialer: raftHandshakeMagic || nonce (32 random bytes)
//	dialer -> server: HMAC-SHA256(key, "raft" || nonce), key = SHA-256(secret)
//
// Only after the MAC verifies is the connection handed to raft. The fresh
// nonce per connection makes recorded handshakes useless for replay, and
// hashing the secret into a fixed-size key keeps arbitrary-length secrets
// usable as HMAC keys.
//
// What it does NOT do: it authenticates the party that opens the connection,
// not the listener, and it neither encrypts nor integrity-protects the bytes
// that follow. Someone able to sit on the path can still read or hijack an
// established connection; use TLS or a private network for that threat.
const (
	// raftHandshakeMagic identifies the protocol (and its version) so a
	// dialer pointed at the wrong service fails with a clear error instead of
	// MAC-ing garbage.
	raftHandshakeMagic = "DROVE-RAFT1"
	// raftNonceSize is the length of the server's random challenge.
	raftNonceSize = 32
	// raftMACLabel domain-separates this MAC from any other use of the key.
	raftMACLabel = "raft"

	// defaultHandshakeTimeout bounds how long the server waits for a dialer
	// to answer the challenge, so idle or hostile clients cannot pin
	// goroutines and file descriptors forever.
	defaultHandshakeTimeout = 5 * time.Second
	// maxPendingHandshakes caps concurrent unauthenticated connections.
	// Beyond it new connections are closed immediately: a flood of idle
	// sockets can then only delay peers until the handshake timeout expires
	// rather than exhaust the process's file descriptors.
	maxPendingHandshakes = 512

	// Backoff for transient listener errors (e.g. EMFILE), mirroring
	// net/http and raft's own accept loop, so the loop does not spin.
	acceptBackoffMin = 5 * time.Millisecond
	acceptBackoffMax = time.Second

	// raftTransportMaxPool and raftTransportTimeout are the NetworkTransport
	// settings used by NewRaftTransport (same values raft's examples use).
	raftTransportMaxPool = 3
	raftTransportTimeout = 10 * time.Second
)

// ErrStreamLayerClosed is returned by StreamLayer.Accept after Close. It
// wraps net.ErrClosed so callers can test for either.
var ErrStreamLayerClosed = fmt.Errorf("cluster: raft stream layer closed: %w", net.ErrClosed)

// errHandshakeAuth marks a handshake that completed but carried a wrong MAC,
// i.e. a peer that does not know the cluster secret.
var errHandshakeAuth = errors.New("authentication failed: wrong cluster secret")

// StreamLayer is a raft.StreamLayer over TCP that authenticates every
// incoming connection with a shared cluster secret before raft sees it.
//
// Accepting runs in a background goroutine and each handshake runs in its own
// goroutine, so a slow or silent client cannot stall Accept for legitimate
// peers. Authenticated connections are delivered to Accept over a channel.
type StreamLayer struct {
	listener         net.Listener
	advertise        net.Addr
	key              []byte // SHA-256(secret); nil when authentication is disabled
	handshakeTimeout time.Duration
	logger           hclog.Logger

	connCh    chan net.Conn // authenticated conns; unbuffered so none are stranded on Close
	done      chan struct{} // closed by Close
	closeOnce sync.Once
	closeErr  error
	wg        sync.WaitGroup // accept loop + handshake goroutines

	mu      sync.Mutex
	closed  bool
	pending map[net.Conn]struct{} // conns mid-handshake, closed by Close to unblock reads
}

// Compile-time check that StreamLayer satisfies raft's interface.
var _ raft.StreamLayer = (*StreamLayer)(nil)

// NewStreamLayer listens on bindAddr (e.g. "127.0.0.1:0" or "0.0.0.0:4001")
// and advertises advertise to raft peers. advertise must be a routable
// *net.TCPAddr; if nil, the listener's address is used, which is an error
// when that address is unspecified (0.0.0.0 or ::) because peers could not
// dial it.
//
// secret is the shared cluster secret every node must agree on. An empty
// secret disables the handshake, making the layer behave like raft's plain
// TCP transport; that is logged as a warning. A nil logger discards logs.
func NewStreamLayer(bindAddr string, advertise net.Addr, secret string, logger hclog.Logger) (*StreamLayer, error) {
	return newStreamLayer(bindAddr, advertise, secret, logger, defaultHandshakeTimeout)
}

// newStreamLayer is NewStreamLayer with a configurable server-side handshake
// timeout, so tests can exercise the timeout without waiting seconds.
func newStreamLayer(bindAddr string, advertise net.Addr, secret string, logger hclog.Logger, handshakeTimeout time.Duration) (*StreamLayer, error) {
	if logger == nil {
		logger = hclog.NewNullLogger()
	}
	ln, err := net.Listen("tcp", bindAddr)
	if err != nil {
		return nil, fmt.Errorf("cluster: raft listen on %q: %w", bindAddr, err)
	}
	if advertise == nil {
		advertise = ln.Addr()
	}
	tcpAddr, ok := advertise.(*net.TCPAddr)
	if !ok {
		_ = ln.Close()
		return nil, fmt.Errorf("cluster: raft advertise address %v is not a TCP address", advertise)
	}
	if tcpAddr.IP == nil || tcpAddr.IP.IsUnspecified() {
		_ = ln.Close()
		return nil, fmt.Errorf("cluster: raft advertise address %v is not routable; set an explicit advertise address", advertise)
	}

	s := &StreamLayer{
		listener:         ln,
		advertise:        advertise,
		handshakeTimeout: handshakeTimeout,
		logger:           logger,
		connCh:           make(chan net.Conn),
		done:             make(chan struct{}),
		pending:          make(map[net.Conn]struct{}),
	}
	if secret != "" {
		k := sha256.Sum256([]byte(secret))
		s.key = k[:]
	} else {
		logger.Warn("raft transport authentication disabled: no cluster secret configured", "bind", ln.Addr().String())
	}

	s.wg.Add(1)
	go s.acceptLoop()
	return s, nil
}

// NewRaftTransport builds a raft.NetworkTransport over sl with a connection
// pool of 3 per peer and a 10 s I/O timeout. The transport owns sl: closing
// the transport closes the stream layer.
func NewRaftTransport(sl *StreamLayer, logger hclog.Logger) *raft.NetworkTransport {
	if logger == nil {
		logger = hclog.NewNullLogger()
	}
	return raft.NewNetworkTransportWithLogger(sl, raftTransportMaxPool, raftTransportTimeout, logger)
}

// Accept waits for and returns the next authenticated connection. After
// Close it returns ErrStreamLayerClosed, which raft's transport expects in
// order to stop its own accept loop.
func (s *StreamLayer) Accept() (net.Conn, error) {
	select {
	case <-s.done:
		return nil, ErrStreamLayerClosed
	case conn := <-s.connCh:
		// Both cases may have been ready; never hand out a conn after Close.
		select {
		case <-s.done:
			_ = conn.Close()
			return nil, ErrStreamLayerClosed
		default:
			return conn, nil
		}
	}
}

// Close stops the listener, aborts in-flight handshakes and waits for all
// background goroutines to exit. Connections already returned by Accept
// are owned by the caller and are not closed. Close is idempotent.
func (s *StreamLayer) Close() error {
	s.closeOnce.Do(func() {
		s.mu.Lock()
		s.closed = true
		close(s.done)
		// Closing mid-handshake conns unblocks their goroutines' reads and
		// writes immediately instead of waiting out the handshake timeout.
		for c := range s.pending {
			_ = c.Close()
		}
		s.mu.Unlock()
		s.closeErr = s.listener.Close()
		s.wg.Wait()
	})
	return s.closeErr
}

// Addr returns the advertised address, which is what raft tells its peers.
func (s *StreamLayer) Addr() net.Addr {
	return s.advertise
}

// Dial connects to a raft peer and, when a secret is configured, answers its
// challenge. timeout bounds the TCP connect and the handshake together; the
// deadline is cleared before the connection is returned because raft manages
// its own per-RPC deadlines.
func (s *StreamLayer) Dial(address raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	if timeout <= 0 {
		timeout = defaultHandshakeTimeout
	}
	deadline := time.Now().Add(timeout)
	d := net.Dialer{Deadline: deadline}
	conn, err := d.Dial("tcp", string(address))
	if err != nil {
		return nil, err
	}
	if s.key == nil {
		return conn, nil
	}
	if err := s.clientHandshake(conn, deadline); err != nil {
		_ = conn.Close()
		return nil, fmt.Errorf("cluster: raft handshake with %s: %w", address, err)
	}
	return conn, nil
}

// clientHandshake reads the server's challenge and replies with the MAC.
// It reads exactly the challenge's length so no raft bytes are consumed.
func (s *StreamLayer) clientHandshake(conn net.Conn, deadline time.Time) error {
	if err := conn.SetDeadline(deadline); err != nil {
		return err
	}
	buf := make([]byte, len(raftHandshakeMagic)+raftNonceSize)
	if _, err := io.ReadFull(conn, buf); err != nil {
		return fmt.Errorf("reading challenge: %w", err)
	}
	if string(buf[:len(raftHandshakeMagic)]) != raftHandshakeMagic {
		return errors.New("peer did not send the drove raft handshake (not a drove raft endpoint or incompatible version)")
	}
	if _, err := conn.Write(s.mac(buf[len(raftHandshakeMagic):])); err != nil {
		return fmt.Errorf("sending response: %w", err)
	}
	return conn.SetDeadline(time.Time{})
}

// serverHandshake sends a fresh challenge and verifies the dialer's MAC in
// constant time.
func (s *StreamLayer) serverHandshake(conn net.Conn) error {
	if err := conn.SetDeadline(time.Now().Add(s.handshakeTimeout)); err != nil {
		return err
	}
	challenge := make([]byte, len(raftHandshakeMagic)+raftNonceSize)
	copy(challenge, raftHandshakeMagic)
	nonce := challenge[len(raftHandshakeMagic):]
	if _, err := rand.Read(nonce); err != nil {
		return fmt.Errorf("generating nonce: %w", err)
	}
	if _, err := conn.Write(challenge); err != nil {
		return fmt.Errorf("sending challenge: %w", err)
	}
	got := make([]byte, sha256.Size)
	if _, err := io.ReadFull(conn, got); err != nil {
		return fmt.Errorf("reading response: %w", err)
	}
	if !hmac.Equal(got, s.mac(nonce)) {
		return errHandshakeAuth
	}
	return conn.SetDeadline(time.Time{})
}

// mac computes HMAC-SHA256(key, "raft" || nonce).
func (s *StreamLayer) mac(nonce []byte) []byte {
	m := hmac.New(sha256.New, s.key)
	m.Write([]byte(raftMACLabel))
	m.Write(nonce)
	return m.Sum(nil)
}

// acceptLoop accepts TCP connections and starts a handshake goroutine for
// each, so Accept callers never wait on an individual client.
func (s *StreamLayer) acceptLoop() {
	defer s.wg.Done()
	var backoff time.Duration
	for {
		conn, err := s.listener.Accept()
		if err != nil {
			select {
			case <-s.done:
				return
			default:
			}
			if backoff == 0 {
				backoff = acceptBackoffMin
			} else {
				backoff = min(2*backoff, acceptBackoffMax)
			}
			s.logger.Error("raft stream layer accept failed", "error", err, "retry_in", backoff)
			t := time.NewTimer(backoff)
			select {
			case <-s.done:
				t.Stop()
				return
			case <-t.C:
			}
			continue
		}
		backoff = 0

		if !s.track(conn) {
			continue
		}
		// wg.Add happens before Close can reach wg.Wait: track succeeded, so
		// Close has not yet run (it sets closed under the same mutex), and
		// Close waits for this loop, which is still running, anyway.
		s.wg.Add(1)
		go s.handle(conn)
	}
}

// track registers conn as mid-handshake. It returns false (and closes conn)
// if the layer is closed or too many handshakes are pending.
func (s *StreamLayer) track(conn net.Conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		_ = conn.Close()
		return false
	}
	if len(s.pending) >= maxPendingHandshakes {
		_ = conn.Close()
		s.logger.Warn("rejected raft connection: too many pending handshakes", "remote", conn.RemoteAddr().String(), "limit", maxPendingHandshakes)
		return false
	}
	s.pending[conn] = struct{}{}
	return true
}

func (s *StreamLayer) untrack(conn net.Conn) {
	s.mu.Lock()
	delete(s.pending, conn)
	s.mu.Unlock()
}

// handle authenticates one connection and delivers it to Accept.
func (s *StreamLayer) handle(conn net.Conn) {
	defer s.wg.Done()
	var err error
	if s.key != nil {
		err = s.serverHandshake(conn)
	}
	s.untrack(conn)
	if err != nil {
		_ = conn.Close()
		select {
		case <-s.done:
			// Failures caused by Close tearing the conn down are not news.
		default:
			msg := "rejected raft connection: handshake failed"
			if errors.Is(err, errHandshakeAuth) {
				msg = "rejected raft connection: authentication failed"
			}
			s.logger.Warn(msg, "remote", conn.RemoteAddr().String(), "error", err)
		}
		return
	}
	select {
	case s.connCh <- conn:
	case <-s.done:
		_ = conn.Close()
	}
}
