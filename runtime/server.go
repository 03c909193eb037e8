package runtime

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net"
	"strconv"
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
		ServerName:    "fltk",
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
	ns, err := server.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("runtime: nats-server: %w", err)
	}
	go ns.Start() // owned by ns: Shutdown stops it and waits
	if !ns.ReadyForConnections(10 * time.Second) {
		ns.Shutdown()
		return nil, fmt.Errorf("runtime: nats-server on %s did not become ready", net.JoinHostPort(cfg.Host, strconv.Itoa(cfg.Port)))
	}
	s := &Server{ns: ns, cfg: cfg}
	cfg.Logger.Info("nats-server started", "url", s.URL())
	return s, nil
}

// URL returns the server's client URL (empty with DontListen).
func (s *Server) URL() string {
	if s.cfg.DontListen {
		return ""
	}
	return s.ns.ClientURL()
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
