package runtime

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// ServerConfig configures an embedded nats-server.
type ServerConfig struct {
	// Host to listen on (default 127.0.0.1).
	Host string
	// Port to listen on; 0 picks a free port.
	Port int
	// DontListen runs the server without a socket: only in-process
	// connections (tests, single-process worlds).
	DontListen bool
	// Token every client must present; "" disables authentication.
	Token string
	// MaxPayload is the largest message in bytes (default 2 MiB).
	MaxPayload int32
	// MaxPending is the outbound bytes queued per connection before the
	// server drops it as a slow consumer (default 512 MiB).
	MaxPending int64
	// WriteDeadline bounds a blocked socket write (default 60s).
	WriteDeadline time.Duration
	// Logger receives a line when the server starts and stops.
	Logger *slog.Logger
	// Cluster, when set, makes the server one node of a NATS cluster.
	Cluster *ClusterConfig
	// TLS, when set, requires TLS on client connections and on routes.
	TLS *TLSConfig
}

// ClusterConfig makes an embedded server one node of a NATS cluster: it
// listens for routes from the other nodes and connects to the Routes it is
// given (the nodes then gossip the rest, so each node needs only one).
type ClusterConfig struct {
	// Name is the cluster's name, the same on every node (use the job id).
	Name string
	// Host is the address routes listen on (default: ServerConfig.Host).
	Host string
	// Port routes listen on; 0 picks a free port.
	Port int
	// Routes are the URLs of nodes to join, "nats-route://host:port";
	// User and Password are added to them.
	Routes []string
	// Advertise is the host:port other nodes reach this node's routes at,
	// when it differs from Host:Port (NAT, several interfaces); nodes
	// learn each other's routes by gossip.
	Advertise string
	// User and Password authenticate routes: a node without them cannot
	// join ("" for none).
	User, Password string
}

// TLSConfig is a node's TLS material, PEM encoded: its certificate and key
// (see CA.Issue) and the CA that signed every node's certificate. Clients
// must verify the server against the CA; routes verify both ends.
type TLSConfig struct {
	CAPEM, CertPEM, KeyPEM []byte
}

// DefaultServerConfig returns a loopback server on a free port with a fresh
// random token.
func DefaultServerConfig() ServerConfig {
	return ServerConfig{
		Host:          "127.0.0.1",
		Token:         NewToken(),
		MaxPayload:    2 << 20,
		MaxPending:    512 << 20,
		WriteDeadline: 60 * time.Second,
	}
}

// NewToken returns 128 random bits, hex encoded.
func NewToken() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand documents it)
	return hex.EncodeToString(b[:])
}

// Server is an embedded nats-server.
type Server struct {
	ns  *server.Server
	cfg ServerConfig
}

// StartServer starts an embedded nats-server and waits until it accepts
// connections.
func StartServer(cfg ServerConfig) (*Server, error) {
	d := DefaultServerConfig()
	if cfg.Host == "" {
		cfg.Host = d.Host
	}
	if cfg.MaxPayload == 0 {
		cfg.MaxPayload = d.MaxPayload
	}
	if cfg.MaxPending == 0 {
		cfg.MaxPending = d.MaxPending
	}
	if cfg.WriteDeadline == 0 {
		cfg.WriteDeadline = d.WriteDeadline
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	port := cfg.Port
	if port == 0 {
		port = server.RANDOM_PORT
	}
	opts := &server.Options{
		ServerName:    "fltk-" + NewToken()[:12], // unique: routes refuse duplicate names
		Host:          cfg.Host,
		Port:          port,
		DontListen:    cfg.DontListen,
		Authorization: cfg.Token,
		MaxPayload:    cfg.MaxPayload,
		MaxPending:    cfg.MaxPending,
		WriteDeadline: cfg.WriteDeadline,
		NoLog:         true,
		NoSigs:        true,
		// NoFastProducerStall must stay false: set, the server DROPS
		// messages to a consumer whose queue passed 3/4 of max_pending
		// instead of pausing the producer (found under load: a gather of
		// 8 × 64 MiB lost chunks and hung until its deadline).
	}
	if cfg.TLS != nil {
		tc, err := cfg.TLS.tlsConfig(false)
		if err != nil {
			return nil, err
		}
		opts.TLS, opts.TLSConfig, opts.TLSTimeout = true, tc, tlsTimeout
	}
	if cl := cfg.Cluster; cl != nil {
		if err := clusterOptions(opts, cfg); err != nil {
			return nil, err
		}
	}
	if !cfg.DontListen {
		if err := probeListen(cfg.Host, cfg.Port); err != nil {
			return nil, err
		}
	}
	ns, err := server.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("runtime: nats-server: %w", err)
	}
	// nats-server reports a failed listen (client or route port) only
	// through its logger's Fatalf, from the goroutine running Start; catch
	// it so that a port taken between the probe and Start is named at
	// once instead of after the ready timeout.
	fatal := &fatalLogger{c: make(chan string, 1)}
	ns.SetLoggerV2(fatal, false, false, false)
	go ns.Start() // owned by ns: Shutdown stops it and waits
	if err := waitReady(ns, fatal.c, readyTimeout); err != nil {
		ns.Shutdown()
		addr := net.JoinHostPort(cfg.Host, strconv.Itoa(cfg.Port))
		if strings.Contains(err.Error(), "Error listening") {
			return nil, &ListenError{Addr: addr, Err: err}
		}
		return nil, fmt.Errorf("runtime: nats-server on %s: %w", addr, err)
	}
	s := &Server{ns: ns, cfg: cfg}
	cfg.Logger.Info("nats-server started", "url", s.URL())
	return s, nil
}

// readyTimeout bounds how long StartServer waits for a server that neither
// accepts connections nor reports why; a test shortens or lengthens it.
var readyTimeout = 10 * time.Second

// ErrAddrInUse is matched by StartServer's error when its port is taken by
// another process (another job, a second rank 0): a runtime condition, not
// a mistake in the configuration. An address that cannot be listened on for
// any other reason (a host not on this machine, a port out of range, a
// privileged port) matches ErrInvalidConfig instead. Both are a
// *ListenError.
var ErrAddrInUse = errors.New("runtime: address already in use")

// ListenError is StartServer's error when the server cannot listen: it
// names the address and wraps the operating system's error (a
// *net.OpError, e.g. "listen tcp 127.0.0.1:4222: bind: address already in
// use").
type ListenError struct {
	Addr string
	Err  error
}

func (e *ListenError) Error() string {
	hint := ""
	if e.inUse() {
		hint = " (another process holds it: a second rank 0, another job?)"
	}
	return fmt.Sprintf("runtime: cannot listen on %s%s: %v", e.Addr, hint, e.Err)
}

// Unwrap returns the operating system's error.
func (e *ListenError) Unwrap() error { return e.Err }

// Is matches ErrAddrInUse for a busy port, ErrInvalidConfig otherwise.
func (e *ListenError) Is(target error) bool {
	if e.inUse() {
		return target == ErrAddrInUse
	}
	return target == ErrInvalidConfig
}

func (e *ListenError) inUse() bool {
	return errors.Is(e.Err, syscall.EADDRINUSE) || strings.Contains(e.Err.Error(), "address already in use")
}

// probeListen listens on host:port and closes the listener at once, so
// that a busy port, a host that is not local or an invalid port is
// reported with the operating system's error before the server starts.
// Port 0 (any free port) is probed too: it checks the host.
func probeListen(host string, port int) error {
	addr := net.JoinHostPort(host, strconv.Itoa(port))
	if port < 0 || port > 65535 {
		return &ListenError{Addr: addr, Err: fmt.Errorf("port %d is out of range [0, 65535]", port)}
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return &ListenError{Addr: addr, Err: err}
	}
	return l.Close()
}

// waitReady waits until ns accepts connections, fails (a message on
// fatal), or timeout passes.
func waitReady(ns *server.Server, fatal <-chan string, timeout time.Duration) error {
	ready := make(chan bool, 1)
	go func() { ready <- ns.ReadyForConnections(timeout) }()
	select {
	case msg := <-fatal:
		return errors.New(msg)
	case ok := <-ready:
		if ok {
			return nil
		}
		select { // a failure reported while the wait timed out
		case msg := <-fatal:
			return errors.New(msg)
		default:
		}
		return fmt.Errorf("did not become ready within %v", timeout)
	}
}

// fatalLogger is the server's logger: it discards everything but the
// first Fatalf (a listener that could not be opened), which it sends on c.
type fatalLogger struct{ c chan string }

func (l *fatalLogger) Noticef(string, ...any) {}
func (l *fatalLogger) Warnf(string, ...any)   {}
func (l *fatalLogger) Errorf(string, ...any)  {}
func (l *fatalLogger) Debugf(string, ...any)  {}
func (l *fatalLogger) Tracef(string, ...any)  {}
func (l *fatalLogger) Fatalf(format string, v ...any) {
	select {
	case l.c <- fmt.Sprintf(format, v...):
	default:
	}
}

// URL returns the server's client URL (empty with DontListen).
func (s *Server) URL() string {
	if s.cfg.DontListen {
		return ""
	}
	return s.ns.ClientURL()
}

// ClusterURL returns the URL other nodes route to, "nats-route://host:port"
// ("" without Cluster). Pass it in their ClusterConfig.Routes.
func (s *Server) ClusterURL() string {
	if s.cfg.Cluster == nil {
		return ""
	}
	addr := s.ns.ClusterAddr()
	if addr == nil {
		return ""
	}
	host := s.cfg.Cluster.Host
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = addr.IP.String()
	}
	return "nats-route://" + net.JoinHostPort(host, strconv.Itoa(addr.Port))
}

// ClusterPeers returns how many other nodes of the cluster this server has
// a route to (0 without Cluster). A cluster of n nodes is fully meshed when
// every node has n−1.
func (s *Server) ClusterPeers() int {
	rz, err := s.ns.Routez(nil)
	if err != nil {
		return 0
	}
	ids := map[string]bool{}
	for _, r := range rz.Routes {
		ids[r.RemoteID] = true
	}
	return len(ids)
}

// tlsTimeout is the seconds a TLS handshake may take: generous, since
// workers may be busy and hosts loaded.
const tlsTimeout = 5

// clusterOptions fills opts' cluster and routes from cfg.Cluster.
func clusterOptions(opts *server.Options, cfg ServerConfig) error {
	cl := cfg.Cluster
	if cl.Name == "" {
		return errors.New("runtime: cluster needs a name")
	}
	if cfg.DontListen {
		// nats-server disables routes without a listener (issue #5174).
		return errors.New("runtime: a cluster node must listen (DontListen is set)")
	}
	host, port := cl.Host, cl.Port
	if host == "" {
		host = cfg.Host
	}
	if port == 0 {
		port = server.RANDOM_PORT
	}
	opts.Cluster = server.ClusterOpts{
		Name:          cl.Name,
		Host:          host,
		Port:          port,
		Username:      cl.User,
		Password:      cl.Password,
		WriteDeadline: cfg.WriteDeadline,
	}
	if cfg.TLS != nil {
		tc, err := cfg.TLS.tlsConfig(true)
		if err != nil {
			return err
		}
		opts.Cluster.TLSConfig, opts.Cluster.TLSTimeout = tc, tlsTimeout
	}
	for _, r := range cl.Routes {
		u, err := url.Parse(r)
		if err != nil || u.Host == "" {
			return fmt.Errorf("runtime: cluster route %q is not a URL like nats-route://host:port", r)
		}
		if cl.User != "" {
			u.User = url.UserPassword(cl.User, cl.Password)
		}
		opts.Routes = append(opts.Routes, u)
	}
	return nil
}

// Token returns the token clients must present.
func (s *Server) Token() string { return s.cfg.Token }

// Shutdown stops the server and waits for it.
func (s *Server) Shutdown() {
	s.ns.Shutdown()
	s.ns.WaitForShutdown()
	s.cfg.Logger.Info("nats-server stopped")
}

// NATS returns the underlying nats-server (for tests and monitoring).
func (s *Server) NATS() *server.Server { return s.ns }
