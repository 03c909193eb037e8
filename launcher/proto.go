package launcher

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"sync"
	"time"
)

// The agent protocol: JSON objects, one a line, over the agent's stdin
// (launcher → agent) and stdout (agent → launcher). Every message has a
// "type"; the other fields depend on it.
//
// Launcher → agent, in this order:
//
//	init    the job id and --iface; the agent answers hello or error
//	start   this host's ranks, command, environment and server settings;
//	        the agent answers ready (with its server's URLs) or error
//	run     start the workers; the agent streams line and exit, then done
//	signal  forward a signal to the workers (any time after run)
//
// Both sides send ping every Liveness/5 after init; a side that hears
// nothing for Liveness considers the other gone (a link that went down
// does not close a TCP connection).
//
// Closing the agent's stdin (EOF) ends it at any time: it terminates its
// workers (SIGTERM, SIGKILL after the grace period), stops its server,
// removes its files and exits.
const (
	msgInit   = "init"
	msgStart  = "start"
	msgRun    = "run"
	msgSignal = "signal"
	msgPing   = "ping" // both ways, every Liveness/5 after init

	msgHello = "hello"
	msgReady = "ready"
	msgLine  = "line"
	msgExit  = "exit"
	msgDone  = "done"
	msgError = "error"
)

// message is one line of the agent protocol, in either direction.
type message struct {
	Type string `json:"type"`

	// init
	Job   string `json:"job,omitempty"`
	Iface string `json:"iface,omitempty"`
	// Liveness: an agent that hears nothing from the launcher for this
	// long acts as on EOF (and the launcher gives up on a silent agent
	// after as long). Both sides ping every Liveness/5.
	Liveness time.Duration `json:"liveness,omitempty"`

	// hello
	Addr     string `json:"addr,omitempty"`     // the address the agent's server binds to
	Hostname string `json:"hostname,omitempty"` // os.Hostname of the agent
	Version  string `json:"version,omitempty"`

	// start
	Start *startSpec `json:"start,omitempty"`

	// ready
	URL        string `json:"url,omitempty"`
	ClusterURL string `json:"cluster_url,omitempty"`

	// line and exit
	Rank   int      `json:"rank,omitempty"`
	Stderr bool     `json:"stderr,omitempty"`
	Line   string   `json:"line,omitempty"`
	Code   int      `json:"code,omitempty"`
	Sig    string   `json:"sig,omitempty"`  // exit: the signal that killed the worker
	Tail   []string `json:"tail,omitempty"` // exit: the worker's last lines, on failure
	// Stopping (exit) says the agent had already signalled its workers.
	Stopping bool `json:"stopping,omitempty"`

	// signal
	Signal int `json:"signal,omitempty"`

	// error and done
	Error string `json:"error,omitempty"`
	Usage bool   `json:"usage,omitempty"` // error: a configuration error (bad --iface)
}

// startSpec is what an agent needs to run its host's ranks.
type startSpec struct {
	WorldSize int                 `json:"world_size"`
	Ranks     []int               `json:"ranks"`
	Command   []string            `json:"command"`
	Dir       string              `json:"dir,omitempty"`
	Env       []string            `json:"env,omitempty"`      // for every worker
	RankEnv   map[string][]string `json:"rank_env,omitempty"` // by decimal rank
	Grace     time.Duration       `json:"grace"`
	// GOMAXPROCS sets GOMAXPROCS=max(1, NumCPU/len(Ranks)) for the
	// workers unless the agent's environment or Env sets it.
	GOMAXPROCS bool `json:"gomaxprocs,omitempty"`
	// JobDir, if not empty, is a directory the agent removes when it
	// exits (the one --copy made).
	JobDir string `json:"job_dir,omitempty"`

	// Server, if not nil, makes the agent start this host's server.
	Server *ServerSpec `json:"server,omitempty"`
	// URLEnv names the variable set to the server's client URL for the
	// workers; CAEnv the one set to the CA file the agent writes.
	URLEnv string `json:"url_env,omitempty"`
	CAEnv  string `json:"ca_env,omitempty"`
	// LinkEnv names the variable set to the host's address for direct
	// links; LinkCert and LinkKey the ones set to the certificate and
	// key files the agent writes (TLS only).
	LinkEnv  string `json:"link_env,omitempty"`
	LinkCert string `json:"link_cert_env,omitempty"`
	LinkKey  string `json:"link_key_env,omitempty"`
	// KeepGoing is Spec.KeepGoing of the host's runner.
	KeepGoing bool `json:"keep_going,omitempty"`
}

// ServerSpec describes the server an agent starts for its host: one node
// of the job's cluster. The launcher fills it; [AgentConfig.StartServer]
// starts it.
type ServerSpec struct {
	// Host is the address to bind to and advertise (the agent's hello
	// address).
	Host string `json:"host"`
	// Token is the job's client token.
	Token string `json:"token"`
	// Cluster is the cluster name; Routes the cluster URLs of nodes to
	// join (empty for the first node); RouteUser and RoutePassword the
	// credentials of routes.
	Cluster       string   `json:"cluster"`
	Routes        []string `json:"routes,omitempty"`
	RouteUser     string   `json:"route_user"`
	RoutePassword string   `json:"route_password"`
	// CAPEM, CertPEM and KeyPEM enable TLS when CAPEM is not empty.
	CAPEM   []byte `json:"ca_pem,omitempty"`
	CertPEM []byte `json:"cert_pem,omitempty"`
	KeyPEM  []byte `json:"key_pem,omitempty"`
	// Settings are passed through to the server (limits and timeouts),
	// uninterpreted by the launcher.
	Settings map[string]string `json:"settings,omitempty"`
	// Peers is the number of nodes in the cluster, this one included.
	Peers int `json:"peers"`
}

// encoder writes messages, one a line; it is safe for concurrent use.
type encoder struct {
	mu  sync.Mutex // guards w and err
	w   io.Writer
	err error
}

func (e *encoder) send(m message) error {
	b, err := json.Marshal(m)
	if err != nil {
		return fmt.Errorf("launcher: encoding %s message: %w", m.Type, err)
	}
	b = append(b, '\n')
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.err != nil {
		return e.err
	}
	if _, err := e.w.Write(b); err != nil {
		e.err = err
	}
	return e.err
}

// maxMessage bounds one protocol line (a line of worker output is at most
// 1 MiB, JSON escaping at most 6×).
const maxMessage = 8 << 20

// readMessages decodes messages from r into ch until EOF or an error,
// which it returns (nil at EOF). It closes ch.
func readMessages(r io.Reader, ch chan<- message) error {
	defer close(ch)
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), maxMessage)
	for sc.Scan() {
		var m message
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			return fmt.Errorf("launcher: bad protocol line %.80q: %w", sc.Bytes(), err)
		}
		ch <- m
	}
	return sc.Err()
}
