package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/fltk-go/fltk/collective"
	"github.com/fltk-go/fltk/collective/collectivetest"
	"github.com/fltk-go/fltk/internal/testbin"
	"github.com/fltk-go/fltk/runtime"
	"github.com/fltk-go/fltk/trainer/fed"
	"github.com/fltk-go/fltk/trainer/tboard/tboardtest"
)

// binDir holds fltk and fltk-launch, built once by TestMain.
var binDir string

const workerEnv = "FLTK_E2E_WORKER"

func TestMain(m *testing.M) {
	if mode := os.Getenv(workerEnv); mode != "" {
		os.Exit(worker(mode))
	}
	testbin.Main(m, &binDir)
}

// worker is the test binary acting as one rank, started by fltk-launch
// (or by a test) with the FLTK_* environment.
func worker(mode string) int {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	rc, err := runtime.ConfigFromEnv()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	rc.HeartbeatInterval, rc.LivenessTimeout = 50*time.Millisecond, time.Second
	w, err := runtime.Join(ctx, rc)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer w.Close()
	c, err := collective.New(w, collective.Config{JobID: rc.JobID, ChunkBytes: 64 << 10, SmallBytes: 4096})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer c.Close()
	switch mode {
	case "conformance":
		codecs := []collective.Codec{collective.CodecNone, collective.CodecZstd, collective.CodecBF16, collective.CodecInt8}
		err = collectivetest.Conformance(ctx, c, []int{0, 1, 7, 20000}, codecs)
		if err == nil {
			fmt.Printf("rank %d: conformance ok\n", rc.Rank)
		}
	case "allreduce-loop":
		buf := make([]float32, 1<<20)
		for i := 0; err == nil; i++ {
			if i == 3 {
				fmt.Println("ready") // a few allreduces ran: the test may kill a rank
			}
			err = collective.AllReduce(ctx, c, buf, buf, collective.Sum)
		}
	default:
		err = fmt.Errorf("unknown mode %q", mode)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "rank %d: %v\n", rc.Rank, err)
		return 1
	}
	return 0
}

type result struct {
	code           int
	stdout, stderr string
}

// run runs one of our binaries and returns its exit code and output.
func run(t *testing.T, env []string, name string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(binDir, name), args...)
	cmd.Env = append(os.Environ(), env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("%s %v: %v", name, args, err)
	}
	return result{code, out.String(), errb.String()}
}

func writeConfig(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "job.toml")
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

const smallDemo = `
[job]
name = "e2e"
task = "demo"
world_size = 3
[runtime]
rendezvous_timeout = "30s"
heartbeat_interval = "50ms"
liveness_timeout = "2s"
[demo]
rounds = 2
elements = 30000
`

// TestLaunchConformance runs every collective, size and codec in real
// processes started by fltk-launch.
func TestLaunchConformance(t *testing.T) {
	cfg := writeConfig(t, smallDemo)
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	for _, np := range []int{1, 2, 3, 5, 9} {
		t.Run(fmt.Sprintf("np=%d", np), func(t *testing.T) {
			r := run(t, []string{workerEnv + "=conformance"}, "fltk-launch", "-np", strconv.Itoa(np), cfg, "--", self)
			if r.code != 0 {
				t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
			}
			for rank := range np {
				tag := fmt.Sprintf("[%d] rank %d: conformance ok", rank, rank)
				if np > 10 {
					tag = fmt.Sprintf("[%2d] rank %d: conformance ok", rank, rank)
				}
				if !strings.Contains(r.stdout, tag) {
					t.Errorf("missing %q in:\n%s", tag, r.stdout)
				}
			}
		})
	}
}

func TestLaunchDemo(t *testing.T) {
	r := run(t, nil, "fltk-launch", "-np", "3", writeConfig(t, smallDemo))
	if r.code != 0 || !strings.Contains(r.stdout, "[0] round 2/2:") || strings.Contains(r.stdout, "WRONG") {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
}

func TestSpawnUsesWorldSize(t *testing.T) {
	r := run(t, nil, "fltk", "spawn", writeConfig(t, smallDemo))
	if r.code != 0 || !strings.Contains(r.stdout, "[0] demo: 2 clients") {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
}

// TestSingleManualMode starts every rank by hand, as in N terminals; rank
// 0 embeds the server on the master address.
func TestSingleManualMode(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	master := l.Addr().String()
	l.Close()
	cfg := writeConfig(t, smallDemo)
	results := make([]result, 3)
	var wg sync.WaitGroup
	for r := range 3 {
		wg.Go(func() {
			results[r] = run(t, []string{"FLTK_TOKEN=s3cret"}, "fltk", "single", cfg, "--rank="+strconv.Itoa(r), "--master", master)
		})
	}
	wg.Wait()
	for r, res := range results {
		if res.code != 0 {
			t.Errorf("rank %d: exit %d\n%s\n%s", r, res.code, res.stdout, res.stderr)
		}
	}
	if !strings.Contains(results[0].stdout, "round 2/2") {
		t.Errorf("rank 0 output:\n%s", results[0].stdout)
	}
}

// TestSingleNP runs a 3-rank config as 2 ranks (--np 2), rank 0 listening
// on every address (--master :PORT), as the Compose federator does.
func TestSingleNP(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	_, port, _ := net.SplitHostPort(l.Addr().String())
	l.Close()
	cfg := writeConfig(t, smallDemo)
	masters := []string{":" + port, "127.0.0.1:" + port}
	results := make([]result, 2)
	var wg sync.WaitGroup
	for r := range 2 {
		wg.Go(func() {
			results[r] = run(t, []string{"FLTK_TOKEN=s3cret"}, "fltk", "single", cfg, "--rank="+strconv.Itoa(r), "--np=2", "--master", masters[r])
		})
	}
	wg.Wait()
	for r, res := range results {
		if res.code != 0 {
			t.Errorf("rank %d: exit %d\n%s\n%s", r, res.code, res.stdout, res.stderr)
		}
	}
	if !strings.Contains(results[0].stdout, "demo: 1 clients") || !strings.Contains(results[0].stdout, "listening on nats://0.0.0.0:"+port) {
		t.Errorf("rank 0 output:\n%s\nwant 1 client and a server on every address", results[0].stdout)
	}
}

func TestBadInput(t *testing.T) {
	demo := writeConfig(t, smallDemo)
	unknown := writeConfig(t, "[runtime]\nlivenes_timeout = \"3s\"\n")
	quick := writeConfig(t, "[job]\nworld_size = 2\ntask = \"demo\"\n[runtime]\nrendezvous_timeout = \"1s\"\n")
	badNet := writeConfig(t, "[job]\nworld_size = 2\n[train]\nnet = \"LeNet\"\n")
	noData := writeConfig(t, "[job]\nworld_size = 2\n[data]\npath = \"/nonexistent/data\"\n[output]\ndir = \""+t.TempDir()+"\"\n")
	bigRound := writeConfig(t, "[job]\nworld_size = 3\n[federated]\nclients = 4\nclients_per_round = 5\n")
	tests := []struct {
		name string
		bin  string
		args []string
		code int
		want string
	}{
		{"no arguments", "fltk-launch", nil, 2, "needs exactly one CONFIG.toml"},
		{"np < 1", "fltk-launch", []string{"-np", "0", demo}, 2, "-np must be in 1..1024, got 0"},
		{"unknown config key", "fltk-launch", []string{"-np", "2", unknown}, 2, `job.toml:2: unknown key "runtime.livenes_timeout"`},
		{"missing config", "fltk-launch", []string{"-np", "2", "/nonexistent/x.toml"}, 2, "/nonexistent/x.toml"},
		{"bad flag", "fltk-launch", []string{"-bogus", demo}, 2, "flag provided but not defined: -bogus"},
		{"negative --restart", "fltk-launch", []string{"--restart", "-1", demo}, 2, "--restart must be ≥ 0, got -1"},
		{"--restart of a demo", "fltk-launch", []string{"--restart", "1", demo}, 2, `--restart needs a training job with runtime.on_rank_failure = "continue"`},
		{"rank out of range", "fltk", []string{"single", demo, "--rank=7"}, 2, "--rank 7 out of range [0, 3)"},
		{"rank beyond --np", "fltk", []string{"single", demo, "--rank=2", "--np=2"}, 2, "--rank 2 out of range [0, 2)"},
		{"--np < 1", "fltk", []string{"single", demo, "--rank=0", "--np=-1"}, 2, "--np must be ≥ 1, got -1"},
		{"unreachable master", "fltk", []string{"single", quick, "--rank=1", "--master", "127.0.0.1:1"}, 1, "could not connect to nats://127.0.0.1:1"},
		{"worker without launcher", "fltk", []string{"run", demo}, 2, "FLTK_RANK is not set"},
		{"worker fails", "fltk-launch", []string{"-np", "2", demo, "--", "sh", "-c", `echo "boom from $FLTK_RANK"; [ "$FLTK_RANK" = 1 ] && exit 3; sleep 30`}, 1, "rank 1 exited with status 3"},
		{"unknown command", "fltk", []string{"train"}, 2, `unknown command "train"`},
		{"unknown net", "fltk-launch", []string{"-np", "2", badNet}, 2, `train.net: "LeNet" is not one of MNIST2NN, MNISTCNN`},
		{"clients_per_round > clients", "fltk-launch", []string{"-np", "3", bigRound}, 2, "federated.clients_per_round: 5 is out of range 0..4"},
		{"missing data", "fltk-launch", []string{"-np", "2", noData}, 2, "data.path: data: data set files not found: MNIST training set: want train-images-idx3-ubyte[.gz] and train-labels-idx1-ubyte[.gz] in /nonexistent/data/mnist, which does not exist; run `make data`"},
		{"missing data, by hand", "fltk", []string{"single", noData, "--rank=1", "--master", "127.0.0.1:1"}, 2, "/nonexistent/data/mnist"},
		{"version", "fltk-launch", []string{"--version"}, 0, ""},
		{"help", "fltk-launch", []string{"--help"}, 0, "-np int"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := run(t, nil, tt.bin, tt.args...)
			if r.code != tt.code || !strings.Contains(r.stdout+r.stderr, tt.want) {
				t.Fatalf("%s %v: exit %d, want %d with %q\nstdout:\n%s\nstderr:\n%s", tt.bin, tt.args, r.code, tt.code, tt.want, r.stdout, r.stderr)
			}
		})
	}
}

// TestKillRankMidCollective SIGKILLs one worker process in the middle of a
// stream of allreduces: every other worker fails within the liveness bound
// (1 s here), naming the dead rank.
func TestKillRankMidCollective(t *testing.T) {
	srv, err := runtime.StartServer(runtime.DefaultServerConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Shutdown()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	const np, victim = 4, 2
	cmds := make([]*exec.Cmd, np)
	outs := make([]*bytes.Buffer, np)
	ready := make(chan int, np)
	for r := range np {
		cmd := exec.Command(self)
		cmd.Env = append(os.Environ(), workerEnv+"=allreduce-loop")
		cmd.Env = append(cmd.Env, runtime.Env(r, np, srv.URL(), "kill", srv.Token())...)
		outs[r] = &bytes.Buffer{}
		cmd.Stderr = outs[r]
		cmd.Stdout = &readyWriter{ch: ready, rank: r}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		cmds[r] = cmd
		defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	}
	for range np {
		select {
		case <-ready:
		case <-time.After(time.Minute):
			t.Fatal("workers did not start")
		}
	}
	killed := time.Now() // every rank ran a few allreduces (it said "ready")
	if err := cmds[victim].Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	for r, cmd := range cmds {
		if r == victim {
			continue
		}
		err := cmd.Wait()
		took := time.Since(killed)
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != 1 {
			t.Errorf("rank %d: %v, want exit status 1", r, err)
		}
		if want := fmt.Sprintf("rank %d is down", victim); !strings.Contains(outs[r].String(), want) {
			t.Errorf("rank %d stderr does not contain %q:\n%s", r, want, outs[r])
		}
		t.Logf("rank %d failed %v after the kill: %s", r, took.Round(time.Millisecond), strings.TrimSpace(outs[r].String()))
		if took > 15*time.Second { // liveness 1s; generous for a loaded machine
			t.Errorf("rank %d took %v to fail", r, took)
		}
	}
}

type readyWriter struct {
	ch   chan int
	rank int
	once sync.Once
}

func (w *readyWriter) Write(b []byte) (int, error) {
	if bytes.Contains(b, []byte("ready")) {
		w.once.Do(func() { w.ch <- w.rank })
	}
	return len(b), nil
}

// mnistData returns the absolute path of the data folder `make data`
// prepares, failing the test if MNIST is not in it.
func mnistData(t *testing.T) string {
	t.Helper()
	dir, err := filepath.Abs("../data")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "mnist")); err != nil {
		t.Fatalf("MNIST is missing (%v): run `make data` (make test does)", err)
	}
	return dir
}

// TestLaunchFederatedTraining trains MNIST for two rounds over three real
// processes started by fltk-launch, on the data `make data` prepared.
func TestLaunchFederatedTraining(t *testing.T) {
	dataDir := mnistData(t)
	out := t.TempDir()
	cfg := writeConfig(t, fmt.Sprintf(`
[job]
name = "e2e-fed"
world_size = 3
[runtime]
heartbeat_interval = "100ms"
liveness_timeout = "5s"
[federated]
rounds = 2
clients = 4
clients_per_round = 3
epochs_per_cycle = 0.1
[data]
path = %q
sampler = "dirichlet"
sampler_args = [1.0]
[train]
net = "MNIST2NN"
batch_size = 20
learning_rate = 0.05
[output]
dir = %q
`, dataDir, out))
	r := run(t, nil, "fltk-launch", "-np", "3", cfg)
	if r.code != 0 || !strings.Contains(r.stdout, "[0] round 2/2") {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	rows, err := os.ReadFile(filepath.Join(out, "e2e-fed", "metrics.csv"))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(rows)), "\n")
	if len(lines) != 3 {
		t.Fatalf("metrics.csv:\n%s", rows)
	}
	acc, err := strconv.ParseFloat(strings.Split(lines[2], ",")[1], 64)
	if err != nil || acc < 0.5 {
		t.Errorf("accuracy after two short rounds %v (%v), want > 0.5\n%s", acc, err, r.stdout)
	}
	for _, f := range []string{"clients.csv", "partition.csv", "config.toml", "model.ckpt"} {
		if _, err := os.Stat(filepath.Join(out, "e2e-fed", f)); err != nil {
			t.Error(err)
		}
	}
	if _, err := os.Stat(filepath.Join(out, "e2e-fed", fed.IncompleteFile)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("%s after a successful job: %v, want it absent", fed.IncompleteFile, err)
	}
	if strings.Contains(r.stdout, "fltk-live") {
		t.Errorf("live lines in the output of a launcher that draws no status line:\n%s", r.stdout)
	}
	events, _ := filepath.Glob(filepath.Join(out, "e2e-fed", "tb", "events.out.tfevents.*"))
	if len(events) != 1 {
		t.Fatalf("TensorBoard event files %v, want one", events)
	}
	evs, err := tboardtest.ReadFile(events[0])
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 3 || evs[2].Step != 2 {
		t.Fatalf("%d events (%+v), want the file version and rounds 1 and 2", len(evs), evs)
	}
	found := false
	for _, v := range evs[2].Values {
		if v.Tag == "Test Accuracy" {
			found = true
			if math.Abs(float64(v.Value)-acc) > 1e-5 {
				t.Errorf("Test Accuracy of round 2 is %v in the event file, %v in metrics.csv", v.Value, acc)
			}
		}
	}
	if !found {
		t.Errorf("no Test Accuracy at step 2: %+v", evs[2].Values)
	}
}

// TestLaunchBusyResultsFolder: while another process holds a job's
// results folder, the job exits 1 naming the folder and the holder, and
// leaves the holder's files alone.
func TestLaunchBusyResultsFolder(t *testing.T) {
	out := t.TempDir()
	cfg := writeConfig(t, fmt.Sprintf(`
[job]
name = "busy"
world_size = 3
[runtime]
heartbeat_interval = "100ms"
liveness_timeout = "5s"
[data]
path = %q
[output]
dir = %q
`, mnistData(t), out))
	dir := filepath.Join(out, "busy")
	holder, err := fed.OpenResultsDir(dir) // this process plays the other job
	if err != nil {
		t.Fatal(err)
	}
	defer holder.Close()
	metrics := []byte("round,test_accuracy\n1,0.5\n")
	if err := os.WriteFile(filepath.Join(dir, "metrics.csv"), metrics, 0o644); err != nil {
		t.Fatal(err)
	}
	r := run(t, nil, "fltk-launch", "-np", "3", cfg)
	all := r.stdout + r.stderr
	if r.code != 1 || !strings.Contains(all, dir) || !strings.Contains(all, fmt.Sprintf("pid %d ", os.Getpid())) {
		t.Fatalf("exit %d, want 1 naming %s and pid %d\nstdout:\n%s\nstderr:\n%s", r.code, dir, os.Getpid(), r.stdout, r.stderr)
	}
	if got, _ := os.ReadFile(filepath.Join(dir, "metrics.csv")); string(got) != string(metrics) {
		t.Errorf("the holder's metrics.csv became %q", got)
	}
}

// TestLaunchIface runs jobs with --iface: the demo over lo, and workers
// that print the FLTK_NATS_URL they got when --iface is a CIDR; a wrong
// --iface (or runtime.iface) exits 2 before anything starts.
func TestLaunchIface(t *testing.T) {
	if _, err := net.InterfaceByName("lo"); err != nil {
		t.Skipf("no interface lo: %v", err)
	}
	demo := writeConfig(t, smallDemo)
	t.Run("demo", func(t *testing.T) {
		r := run(t, nil, "fltk-launch", "--iface", "lo", "-np", "3", demo)
		if r.code != 0 || !strings.Contains(r.stdout, "[0] round 2/2:") || strings.Contains(r.stdout, "WRONG") {
			t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
		}
	})
	for _, spec := range []string{"lo", "127.0.0.0/8"} {
		t.Run("url/"+spec, func(t *testing.T) {
			r := run(t, nil, "fltk-launch", "--iface", spec, "-np", "3", demo, "--", "sh", "-c", `echo "url=$FLTK_NATS_URL"`)
			if r.code != 0 {
				t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
			}
			for rank := range 3 {
				if want := fmt.Sprintf("[%d] url=nats://127.0.0.1:", rank); !strings.Contains(r.stdout, want) {
					t.Errorf("stdout lacks %q:\n%s", want, r.stdout)
				}
			}
		})
	}
	// A documentation range that no local interface holds (this machine's
	// eth0 may well be in 192.0.2.0/24).
	noLocal := ""
	for _, c := range []string{"192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24"} {
		_, n, _ := net.ParseCIDR(c)
		addrs, err := net.InterfaceAddrs()
		if err != nil {
			t.Fatal(err)
		}
		local := false
		for _, a := range addrs {
			if ipn, ok := a.(*net.IPNet); ok && n.Contains(ipn.IP) {
				local = true
			}
		}
		if !local {
			noLocal = c
			break
		}
	}
	cfgIface := writeConfig(t, strings.Replace(smallDemo, "[runtime]\n", "[runtime]\niface = \"doesnotexist\"\n", 1))
	tests := []struct {
		name string
		args []string
		want []string
	}{
		{"unknown", []string{"--iface", "doesnotexist", "-np", "3", demo}, []string{`--iface: launcher: iface: unknown interface "doesnotexist"`, "available:", "lo"}},
		{"no local address", []string{"--iface", noLocal, "-np", "3", demo}, []string{"no local address in " + noLocal}},
		{"malformed CIDR", []string{"--iface", "10.0.0.0/33", "-np", "3", demo}, []string{`"10.0.0.0/33" is not a CIDR`}},
		{"conflicting -host", []string{"--iface", "lo", "-host", "10.1.2.3", "-np", "3", demo}, []string{"--iface lo selects 127.0.0.1 but -host is 10.1.2.3"}},
		{"runtime.iface", []string{"-np", "3", cfgIface}, []string{`runtime.iface: launcher: iface: unknown interface "doesnotexist"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.args[1] == "" {
				t.Skip("every documentation range is local here")
			}
			r := run(t, nil, "fltk-launch", tt.args...)
			if r.code != 2 {
				t.Errorf("fltk-launch %v: exit %d, want 2", tt.args, r.code)
			}
			for _, s := range tt.want {
				if !strings.Contains(r.stderr, s) {
					t.Errorf("fltk-launch %v: stderr lacks %q:\n%s", tt.args, s, r.stderr)
				}
			}
			if r.stdout != "" {
				t.Errorf("fltk-launch %v started something; stdout:\n%s", tt.args, r.stdout)
			}
		})
	}
}
