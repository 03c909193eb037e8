package kube_test

import (
	"bytes"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	batchv1 "k8s.io/api/batch/v1"

	"github.com/fltk-go/fltk/cmd/internal/job"
	"github.com/fltk-go/fltk/cmd/internal/kube"
	"github.com/fltk-go/fltk/configs"
	"github.com/fltk-go/fltk/internal/testbin"
)

var binDir string // the built commands (testbin.Main)

func TestMain(m *testing.M) { testbin.Main(m, &binDir) }

// TestPodsRunJob plays kubelet: it starts one fltk process per pod of the
// generated Jobs, with the arguments and the environment the manifests
// give it (downward API and Secret resolved), the clients before rank 0,
// and checks that the job runs to the end. Two things differ from a
// cluster: rank 0's DNS name NAME-0.NAME and its pod IP are 127.0.0.1,
// and /etc/fltk/config.toml is a file holding the ConfigMap's key.
func TestPodsRunJob(t *testing.T) {
	cfg := configs.DefaultConfig()
	cfg.Job.Name, cfg.Job.Task = "pods", "demo"
	cfg.Demo.Rounds, cfg.Demo.Elements = 2, 4096
	cfg.Deploy.Profiles = []string{"slow", "default"} // Jobs: pods, pods-slow-r1, pods-default-r2 (ranks 2, 3)
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	const np = 4
	files, err := kube.Generate(kube.Options{Config: &cfg, NP: np, Port: freePort(t)})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := kube.Write(filepath.Join(dir, "k8s"), files); err != nil {
		t.Fatal(err)
	}
	m := decodeDir(t, filepath.Join(dir, "k8s"))

	// The ConfigMap's config, with output.dir (the PVC) in the test's dir.
	deployed, err := configs.Parse("configmap", []byte(m.configMap.Data[kube.ConfigKey]))
	if err != nil {
		t.Fatal(err)
	}
	deployed.Output.Dir = filepath.Join(dir, "results")
	b, err := job.EffectiveConfig(deployed)
	if err != nil {
		t.Fatal(err)
	}
	cfgFile := filepath.Join(dir, kube.ConfigKey)
	if err := os.WriteFile(cfgFile, b, 0o644); err != nil {
		t.Fatal(err)
	}
	dnsName := kube.Name(cfg.Job.Name) + "-0." + m.service.Name

	type pod struct {
		name string
		cmd  *exec.Cmd
		out  bytes.Buffer
	}
	var pods []*pod
	// The clients first: they retry until rank 0's server is up.
	jobs := slices.Clone(m.jobs)
	isRank0 := func(j *batchv1.Job) bool { return slices.Contains(j.Spec.Template.Spec.Containers[0].Args, "--serve") }
	slices.SortStableFunc(jobs, func(a, b *batchv1.Job) int {
		switch {
		case isRank0(a) == isRank0(b):
			return 0
		case isRank0(a):
			return 1
		}
		return -1
	})
	for _, j := range jobs {
		for index := range int(*j.Spec.Completions) {
			env := podEnv(t, m, j, index)
			env["FLTK_NATS_URL"] = strings.Replace(env["FLTK_NATS_URL"], dnsName, "127.0.0.1", 1)
			env["POD_IP"] = "127.0.0.1"
			c := j.Spec.Template.Spec.Containers[0]
			args := make([]string, len(c.Args))
			for k, a := range c.Args {
				a = strings.Replace(a, kube.ConfigDir+"/"+kube.ConfigKey, cfgFile, 1)
				args[k] = varRef.ReplaceAllStringFunc(a, func(ref string) string { return env[ref[2:len(ref)-1]] })
			}
			p := &pod{name: j.Name + "-" + strconv.Itoa(index)}
			p.cmd = exec.CommandContext(t.Context(), filepath.Join(binDir, "fltk"), args...)
			p.cmd.Env = []string{"PATH=" + os.Getenv("PATH")}
			for k, v := range env {
				p.cmd.Env = append(p.cmd.Env, k+"="+v)
			}
			p.cmd.Stdout, p.cmd.Stderr = &p.out, &p.out
			if err := p.cmd.Start(); err != nil {
				t.Fatal(err)
			}
			pods = append(pods, p)
		}
	}
	if len(pods) != np {
		t.Fatalf("started %d pods, want %d", len(pods), np)
	}
	var wg sync.WaitGroup
	errs := make([]error, len(pods))
	for i, p := range pods {
		wg.Go(func() { errs[i] = p.cmd.Wait() })
	}
	wg.Wait()
	for i, p := range pods {
		if errs[i] != nil {
			t.Errorf("pod %s: %v\n%s", p.name, errs[i], p.out.String())
		}
	}
	rank0 := pods[len(pods)-1]
	if !strings.Contains(rank0.out.String(), "round 2/2") {
		t.Errorf("rank 0's output lacks the last round:\n%s", rank0.out.String())
	}
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
