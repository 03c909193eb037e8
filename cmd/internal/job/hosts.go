package job

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/fltk-go/fltk/configs"
	"github.com/fltk-go/fltk/launcher"
	"github.com/fltk-go/fltk/runtime"
)

// HostsOptions describe a job across hosts: LaunchOptions plus where and
// how to reach the hosts.
type HostsOptions struct {
	LaunchOptions
	// Hosts and their slots; ranks fill them in order.
	Hosts []launcher.Host
	// SSH is the ssh argv (default ["ssh"]).
	SSH []string
	// Fltk is the fltk binary on every host (the agent and, by default,
	// the worker).
	Fltk string
	// Copy ships Fltk and ConfigPath to a per-job directory on every
	// host; ConfigPath is the config file as the workers name it.
	Copy       bool
	ConfigPath string
	// Iface is resolved on each host to the address its server binds to.
	Iface string
	// TLS secures clients and routes with a per-job CA.
	TLS bool
	// Links lets ranks on different hosts exchange point-to-point frames
	// over direct TCP connections (TLS when TLS is set) instead of
	// through the NATS servers; embedded servers only.
	Links bool
	// Version is fltk-launch's version, which every host's agent must
	// report.
	Version string
}

// LogEnv names the log level of fltk's commands (debug, info, warn,
// error); fltk-launch --hosts passes it on to the remote workers.
const LogEnv = "FLTK_LOG"

// routeUser is the user of the per-job route credentials.
const routeUser = "fltk-route"

// LaunchHosts runs a job across hosts: one agent per host over ssh
// starts that host's embedded NATS server, a node of the job's cluster,
// and its workers. With NATS set, no server is started: the workers use
// that existing cluster.
func LaunchHosts(ctx context.Context, o HostsOptions) error {
	if o.Logger == nil {
		o.Logger = discard()
	}
	if o.JobID == "" {
		o.JobID = NewJobID(o.Config.Job.Name)
	}
	if o.NATS != "" {
		if err := natsURLs(o.NATS); err != nil {
			return err
		}
	}
	spec := launcher.HostsSpec{
		Hosts:      o.Hosts,
		NP:         o.NP,
		Job:        o.JobID,
		Command:    o.Command,
		GOMAXPROCS: true,
		SSH:        o.SSH,
		Version:    o.Version,
		Agent:      []string{o.Fltk, "agent"},
		Iface:      o.Iface,
		URLEnv:     runtime.EnvNATSURL,
		CAEnv:      runtime.EnvNATSCA,
		HostEnv:    runtime.EnvHost,
		Stdout:     o.Stdout,
		Stderr:     o.Stderr,
		Status:     NewStatus(),
		Terminal:   o.Terminal,
		Width:      o.Width,
		Signals:    o.Signals,
		Grace:      o.Grace,
		Liveness:   max(o.Config.Runtime.LivenessTimeout.Duration, 5*time.Second),
		Logger:     o.Logger,
		KeepGoing:  Elastic(o.Config),
	}
	if o.Copy {
		spec.Copy = []string{o.Fltk, o.ConfigPath}
	}
	// On an existing cluster, a token from the environment is passed on.
	token := os.Getenv(runtime.EnvToken)
	if o.NATS == "" {
		if o.Links {
			spec.LinkEnv, spec.LinkCertEnv, spec.LinkKeyEnv = runtime.EnvLinkAddr, runtime.EnvLinkCert, runtime.EnvLinkKey
		}
		token = runtime.NewToken()
		spec.Servers = func(addrs []string) ([]launcher.ServerSpec, error) {
			return serverSpecs(o.Config, o.JobID, token, addrs, o.TLS)
		}
	}
	spec.Env = func(rank int) []string {
		env := runtime.Env(rank, o.NP, o.NATS, o.JobID, token)
		if o.Creds != "" {
			env = append(env, runtime.EnvNATSCreds+"="+o.Creds)
		}
		if lvl := os.Getenv(LogEnv); lvl != "" {
			env = append(env, LogEnv+"="+lvl) // remote workers do not inherit it
		}
		return append(env, liveEnv(o.Terminal)...)
	}
	o.Logger.Info("job started", "job", o.JobID, "np", o.NP, "hosts", len(o.Hosts), "tls", o.TLS && o.NATS == "", "links", o.Links && o.NATS == "")
	return launcher.RunHosts(ctx, spec)
}

// serverSpecs returns the server of each host (at addrs): one cluster
// named after the job, per-job route credentials and, with useTLS, a
// per-job CA and a certificate for each host's address.
func serverSpecs(c *configs.Config, jobID, token string, addrs []string, useTLS bool) ([]launcher.ServerSpec, error) {
	var ca *runtime.CA
	if useTLS {
		var err error
		if ca, err = runtime.NewCA(jobID); err != nil {
			return nil, err
		}
	}
	password := runtime.NewToken()
	settings := map[string]string{
		"max_payload":    strconv.Itoa(c.Runtime.MaxPayload),
		"max_pending":    strconv.FormatInt(c.Runtime.MaxPending, 10),
		"write_deadline": c.Runtime.WriteDeadline.Duration.String(),
	}
	specs := make([]launcher.ServerSpec, len(addrs))
	for i, addr := range addrs {
		s := launcher.ServerSpec{
			Host:          addr,
			Token:         token,
			Cluster:       jobID,
			RouteUser:     routeUser,
			RoutePassword: password,
			Settings:      settings,
		}
		if ca != nil {
			cert, key, err := ca.Issue(addr)
			if err != nil {
				return nil, err
			}
			s.CAPEM, s.CertPEM, s.KeyPEM = ca.CertPEM(), cert, key
		}
		specs[i] = s
	}
	return specs, nil
}

// StartAgentServer starts the embedded NATS server an agent runs for its
// host (see launcher.AgentConfig.StartServer).
func StartAgentServer(_ context.Context, s launcher.ServerSpec) (launcher.AgentServer, error) {
	sc := runtime.DefaultServerConfig()
	sc.Host, sc.Port, sc.Token = s.Host, 0, s.Token
	if v, err := strconv.ParseInt(s.Settings["max_payload"], 10, 32); err == nil && v > 0 {
		sc.MaxPayload = int32(v)
	}
	if v, err := strconv.ParseInt(s.Settings["max_pending"], 10, 64); err == nil && v > 0 {
		sc.MaxPending = v
	}
	if v, err := time.ParseDuration(s.Settings["write_deadline"]); err == nil && v > 0 {
		sc.WriteDeadline = v
	}
	sc.Cluster = &runtime.ClusterConfig{
		Name: s.Cluster, Host: s.Host, Routes: s.Routes, User: s.RouteUser, Password: s.RoutePassword,
	}
	if len(s.CAPEM) > 0 {
		sc.TLS = &runtime.TLSConfig{CAPEM: s.CAPEM, CertPEM: s.CertPEM, KeyPEM: s.KeyPEM}
	}
	srv, err := runtime.StartServer(sc)
	if err != nil {
		return nil, err
	}
	return agentServer{srv}, nil
}

// agentServer adapts runtime.Server to launcher.AgentServer.
type agentServer struct{ *runtime.Server }

func (a agentServer) ClientURL() string { return a.URL() }

// WaitRoutes polls until the server has routes to n other nodes; the
// cluster's gossip completes the mesh within milliseconds on a LAN.
func (a agentServer) WaitRoutes(ctx context.Context, n int) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	t := time.NewTicker(10 * time.Millisecond)
	defer t.Stop()
	for {
		got := a.ClusterPeers()
		if got >= n {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("routes to %d of %d other nodes: %w", got, n, ctx.Err())
		case <-t.C:
		}
	}
}

// checkCreds checks that a --creds file exists and is readable here.
func checkCreds(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("%w: --creds: %w", ErrUsage, err)
	}
	return f.Close()
}

// natsURLs checks a --nats list: comma-separated nats:// or tls:// URLs.
func natsURLs(list string) error {
	for u := range strings.SplitSeq(list, ",") {
		if !strings.Contains(u, "://") {
			return fmt.Errorf("%w: --nats %q: %q is not a URL like nats://host:4222", ErrUsage, list, u)
		}
	}
	return nil
}
