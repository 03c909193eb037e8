package kube_test

import (
	"errors"
	"fmt"
	"math"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	kjson "sigs.k8s.io/json"
	"sigs.k8s.io/yaml"

	"github.com/fltk-go/fltk/cmd/internal/kube"
	"github.com/fltk-go/fltk/configs"
	"github.com/fltk-go/fltk/runtime"
)

// manifests is a directory of manifests decoded strictly into the API's
// types.
type manifests struct {
	configMap *corev1.ConfigMap
	secret    *corev1.Secret
	pvc       *corev1.PersistentVolumeClaim
	service   *corev1.Service
	jobs      []*batchv1.Job
	modes     map[string]os.FileMode // by kind
}

// decodeDir decodes every file of dir strictly: an unknown or duplicate
// field is an error, and so is a kind other than the five expected or a
// second ConfigMap, Secret, PVC or Service.
func decodeDir(t *testing.T, dir string) manifests {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	m := manifests{modes: map[string]os.FileMode{}}
	once := func(kind string, set bool) {
		if set {
			t.Fatalf("a second %s in %s", kind, dir)
		}
	}
	for _, e := range entries {
		p := filepath.Join(dir, e.Name())
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(string(b), kube.Header) {
			t.Errorf("%s does not start with %q", e.Name(), kube.Header)
		}
		var tm metav1.TypeMeta
		if err := yaml.Unmarshal(b, &tm); err != nil {
			t.Fatalf("%s: %v", e.Name(), err)
		}
		var obj any
		switch tm.APIVersion + " " + tm.Kind {
		case "v1 ConfigMap":
			once(tm.Kind, m.configMap != nil)
			m.configMap = &corev1.ConfigMap{}
			obj = m.configMap
		case "v1 Secret":
			once(tm.Kind, m.secret != nil)
			m.secret = &corev1.Secret{}
			obj = m.secret
		case "v1 PersistentVolumeClaim":
			once(tm.Kind, m.pvc != nil)
			m.pvc = &corev1.PersistentVolumeClaim{}
			obj = m.pvc
		case "v1 Service":
			once(tm.Kind, m.service != nil)
			m.service = &corev1.Service{}
			obj = m.service
		case "batch/v1 Job":
			j := &batchv1.Job{}
			m.jobs = append(m.jobs, j)
			obj = j
		default:
			t.Fatalf("%s: unexpected %s %s", e.Name(), tm.APIVersion, tm.Kind)
		}
		if err := decodeStrict(b, obj); err != nil {
			t.Fatalf("%s: strict decoding: %v", e.Name(), err)
		}
		st, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		m.modes[tm.Kind] = st.Mode().Perm()
	}
	if m.configMap == nil || m.secret == nil || m.pvc == nil || m.service == nil || len(m.jobs) == 0 {
		t.Fatalf("%s lacks an object: ConfigMap %v, Secret %v, PVC %v, Service %v, %d Jobs",
			dir, m.configMap != nil, m.secret != nil, m.pvc != nil, m.service != nil, len(m.jobs))
	}
	return m
}

// decodeStrict decodes the YAML document b into obj as the API server's
// strict field validation does: duplicate keys, unknown fields and fields
// in the wrong case (encoding/json would accept "readonly" for
// "readOnly") are errors.
func decodeStrict(b []byte, obj any) error {
	j, err := yaml.YAMLToJSONStrict(b)
	if err != nil {
		return err
	}
	strict, err := kjson.UnmarshalStrict(j, obj)
	if err != nil {
		return err
	}
	return errors.Join(strict...)
}

// podEnv resolves the environment of the pod of job j with completion
// index: values, the downward API (annotation, pod name, pod IP) and the
// Secret's keys, as the kubelet would.
func podEnv(t *testing.T, m manifests, j *batchv1.Job, index int) map[string]string {
	t.Helper()
	c := j.Spec.Template.Spec.Containers[0]
	env := map[string]string{}
	for _, e := range c.Env {
		if _, dup := env[e.Name]; dup {
			t.Errorf("job %s: %s set twice", j.Name, e.Name)
		}
		switch {
		case e.ValueFrom == nil:
			env[e.Name] = e.Value
		case e.ValueFrom.FieldRef != nil:
			switch f := e.ValueFrom.FieldRef.FieldPath; f {
			case "metadata.annotations['" + kube.CompletionIndexAnnotation + "']":
				env[e.Name] = strconv.Itoa(index)
			case "metadata.name":
				env[e.Name] = fmt.Sprintf("%s-%d-abcde", j.Name, index)
			case "status.podIP":
				env[e.Name] = "10.1.0.7"
			default:
				t.Fatalf("job %s: %s from unexpected field %s", j.Name, e.Name, f)
			}
		case e.ValueFrom.SecretKeyRef != nil:
			ref := e.ValueFrom.SecretKeyRef
			v, ok := m.secret.StringData[ref.Key]
			if ref.Name != m.secret.Name || !ok {
				t.Fatalf("job %s: %s from secret %s key %s, which the manifests do not hold", j.Name, e.Name, ref.Name, ref.Key)
			}
			env[e.Name] = v
		default:
			t.Fatalf("job %s: %s from an unexpected source", j.Name, e.Name)
		}
	}
	return env
}

var fltkEnv = []string{
	runtime.EnvRank, runtime.EnvWorldSize, runtime.EnvNATSURL, runtime.EnvJobID, runtime.EnvToken,
	runtime.EnvNATSCA, runtime.EnvNATSCreds, runtime.EnvHost, runtime.EnvCompletionIndex, runtime.EnvRankOffset,
}

// configFromPodEnv returns what runtime.ConfigFromEnv makes of env, in a
// process environment holding only env's FLTK_* variables.
func configFromPodEnv(t *testing.T, env map[string]string) runtime.Config {
	t.Helper()
	for _, k := range fltkEnv {
		t.Setenv(k, "")
		os.Unsetenv(k)
	}
	for k, v := range env {
		t.Setenv(k, v)
	}
	rc, err := runtime.ConfigFromEnv()
	if err == nil {
		err = rc.Validate()
	}
	if err != nil {
		t.Fatalf("the pod's environment %v: %v", env, err)
	}
	return rc
}

func mount(c corev1.Container, name string) (corev1.VolumeMount, bool) {
	i := slices.IndexFunc(c.VolumeMounts, func(v corev1.VolumeMount) bool { return v.Name == name })
	if i < 0 {
		return corev1.VolumeMount{}, false
	}
	return c.VolumeMounts[i], true
}

func volume(s corev1.PodSpec, name string) (corev1.Volume, bool) {
	i := slices.IndexFunc(s.Volumes, func(v corev1.Volume) bool { return v.Name == name })
	if i < 0 {
		return corev1.Volume{}, false
	}
	return s.Volumes[i], true
}

var varRef = regexp.MustCompile(`\$\(([A-Za-z_][A-Za-z0-9_]*)\)`)

// TestGenerate generates the manifests of jobs of 2, 5 and 17 ranks with
// every profile and FLTK's mix, decodes them strictly into the API's types
// and checks them against the config.
func TestGenerate(t *testing.T) {
	type deploy struct {
		name      string
		profiles  []string
		federator string
		backoff   int
		deadline  time.Duration
	}
	deploys := []deploy{
		{name: "FLTK's mix", profiles: []string{"slow", "medium", "default"}},
		{name: "counts", profiles: []string{"slow*2", "medium*3", "default"}, federator: "medium", backoff: 3, deadline: 2 * time.Hour},
	}
	for _, p := range []string{"slow", "medium", "default"} {
		deploys = append(deploys,
			deploy{name: p, profiles: []string{p}, federator: p, backoff: 1, deadline: 90 * time.Second},
			deploy{name: p + " clients", profiles: []string{p}})
	}
	for _, np := range []int{2, 5, 17} {
		for _, d := range deploys {
			t.Run(fmt.Sprintf("np=%d/%s", np, d.name), func(t *testing.T) {
				cfg := configs.DefaultConfig()
				cfg.Job.Name = "Mnist_Run"
				cfg.Deploy.Image = "registry.example/fltk:v1"
				cfg.Deploy.Profiles, cfg.Deploy.FederatorProfile = d.profiles, d.federator
				cfg.Deploy.BackoffLimit, cfg.Deploy.ActiveDeadline = d.backoff, configs.Duration{Duration: d.deadline}
				if err := cfg.Validate(); err != nil {
					t.Fatal(err)
				}
				files, err := kube.Generate(kube.Options{Config: &cfg, NP: np, JobID: "mnist-run-1234", Token: "s3cret"})
				if err != nil {
					t.Fatal(err)
				}
				dir := filepath.Join(t.TempDir(), "k8s")
				if err := kube.Write(dir, files); err != nil {
					t.Fatal(err)
				}
				checkManifests(t, decodeDir(t, dir), &cfg, np)
			})
		}
	}
}

func checkManifests(t *testing.T, m manifests, cfg *configs.Config, np int) {
	t.Helper()
	name := kube.Name(cfg.Job.Name)
	results := kube.ResultsDir(cfg.Output.Dir)

	// ConfigMap: the config, as deployed.
	got, err := configs.Parse("configmap", []byte(m.configMap.Data[kube.ConfigKey]))
	if err != nil {
		t.Fatalf("ConfigMap %s: %v", m.configMap.Name, err)
	}
	want := *cfg
	want.Job.WorldSize, want.Output.Dir = np, results
	if !reflect.DeepEqual(*got, want) {
		t.Errorf("ConfigMap's config = %+v\nwant %+v", *got, want)
	}
	// Secret: the token, not readable by others on disk.
	if m.secret.StringData[kube.TokenKey] != "s3cret" || m.secret.Type != corev1.SecretTypeOpaque {
		t.Errorf("Secret %s = %v %v, want the token", m.secret.Name, m.secret.Type, m.secret.StringData)
	}
	if m.modes["Secret"] != 0o600 {
		t.Errorf("the Secret's file has mode %v, want 0600", m.modes["Secret"])
	}
	// PVC.
	if m.pvc.Spec.Resources.Requests.Storage().Cmp(resource.MustParse("1Gi")) != 0 ||
		!slices.Equal(m.pvc.Spec.AccessModes, []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce}) {
		t.Errorf("PVC %s spec %+v, want 1Gi ReadWriteOnce", m.pvc.Name, m.pvc.Spec)
	}
	// Service: headless, NATS port, published before readiness.
	svc := m.service
	if svc.Spec.ClusterIP != corev1.ClusterIPNone || !svc.Spec.PublishNotReadyAddresses {
		t.Errorf("Service %s: clusterIP %q, publishNotReadyAddresses %v: want a headless service", svc.Name, svc.Spec.ClusterIP, svc.Spec.PublishNotReadyAddresses)
	}
	if len(svc.Spec.Ports) != 1 || svc.Spec.Ports[0].Port != kube.NATSPort || svc.Spec.Ports[0].TargetPort.IntValue() != kube.NATSPort {
		t.Errorf("Service ports %+v, want %d", svc.Spec.Ports, kube.NATSPort)
	}
	sel := labels.SelectorFromSet(svc.Spec.Selector)
	if sel.Empty() {
		t.Fatal("the Service selects nothing")
	}
	for _, o := range []metav1.Object{m.configMap, m.secret, m.pvc, svc} {
		if o.GetLabels()["app.kubernetes.io/instance"] != name {
			t.Errorf("%s has labels %v, want the job's", o.GetName(), o.GetLabels())
		}
	}

	seen := make([]int, np) // how many pods run each rank
	var federator *batchv1.Job
	for _, j := range m.jobs {
		s := j.Spec
		tpl := s.Template.Spec
		if s.CompletionMode == nil || *s.CompletionMode != batchv1.IndexedCompletion || s.Completions == nil || s.Parallelism == nil ||
			*s.Completions != *s.Parallelism || *s.Completions < 1 {
			t.Fatalf("Job %s: completionMode %v, completions %v, parallelism %v: want Indexed with completions = parallelism",
				j.Name, s.CompletionMode, s.Completions, s.Parallelism)
		}
		if s.BackoffLimit == nil || int(*s.BackoffLimit) != cfg.Deploy.BackoffLimit {
			t.Errorf("Job %s: backoffLimit %v, want %d", j.Name, s.BackoffLimit, cfg.Deploy.BackoffLimit)
		}
		switch d := cfg.Deploy.ActiveDeadline.Duration; {
		case d == 0 && s.ActiveDeadlineSeconds != nil:
			t.Errorf("Job %s: activeDeadlineSeconds %d, want none", j.Name, *s.ActiveDeadlineSeconds)
		case d > 0 && (s.ActiveDeadlineSeconds == nil || *s.ActiveDeadlineSeconds != int64(d/time.Second)):
			t.Errorf("Job %s: activeDeadlineSeconds %v, want %d", j.Name, s.ActiveDeadlineSeconds, int64(d/time.Second))
		}
		if j.Labels["app.kubernetes.io/instance"] != name || !sel.Matches(labels.Set(s.Template.Labels)) {
			t.Errorf("Job %s: labels %v, pod labels %v: the Service's selector %v does not pick its pods", j.Name, j.Labels, s.Template.Labels, sel)
		}
		if tpl.Subdomain != svc.Name || tpl.RestartPolicy != corev1.RestartPolicyNever || len(tpl.Containers) != 1 {
			t.Fatalf("Job %s: subdomain %q, restartPolicy %q, %d containers", j.Name, tpl.Subdomain, tpl.RestartPolicy, len(tpl.Containers))
		}
		c := tpl.Containers[0]
		if c.Image != cfg.Deploy.Image {
			t.Errorf("Job %s: image %q, want deploy.image %q", j.Name, c.Image, cfg.Deploy.Image)
		}
		checkSecurity(t, j)
		checkVolumes(t, m, j)
		// Every $(VAR) in the arguments is the container's.
		for _, a := range c.Args {
			for _, ref := range varRef.FindAllStringSubmatch(a, -1) {
				if !slices.ContainsFunc(c.Env, func(e corev1.EnvVar) bool { return e.Name == ref[1] }) {
					t.Errorf("Job %s: argument %q names $(%s), which its env does not set", j.Name, a, ref[1])
				}
			}
		}
		if len(c.Args) < 2 || c.Args[0] != "run" || c.Args[1] != kube.ConfigDir+"/"+kube.ConfigKey {
			t.Errorf("Job %s: args %q, want fltk run %s/%s", j.Name, c.Args, kube.ConfigDir, kube.ConfigKey)
		}

		for index := range int(*s.Completions) {
			env := podEnv(t, m, j, index)
			rc := configFromPodEnv(t, env)
			r := rc.Rank
			if r < 0 || r >= np {
				t.Fatalf("Job %s index %d: rank %d outside [0, %d)", j.Name, index, r, np)
			}
			seen[r]++
			if rc.WorldSize != np || rc.JobID != "mnist-run-1234" || rc.Token != "s3cret" || rc.Host != env[runtime.EnvHost] || rc.Host == "" {
				t.Errorf("rank %d: world size %d, job id %q, token %q, host %q", r, rc.WorldSize, rc.JobID, rc.Token, rc.Host)
			}
			u, err := url.Parse(rc.URL)
			if err != nil || u.Scheme != "nats" || u.Port() != strconv.Itoa(kube.NATSPort) {
				t.Errorf("rank %d: NATS URL %q, want nats://…:%d", r, rc.URL, kube.NATSPort)
			}
			if r == 0 {
				federator = j
				if index != 0 {
					t.Errorf("rank 0 is index %d of Job %s, want index 0", index, j.Name)
				}
			}
			checkResources(t, j, r, cfg.Deploy)
		}
	}
	for r, n := range seen {
		if n != 1 {
			t.Errorf("rank %d runs in %d pods, want 1", r, n)
		}
	}
	if federator == nil {
		t.Fatal("no Job runs rank 0")
	}
	// Every rank reaches rank 0 by its pod's DNS name: hostname JOB-0
	// (index 0 of an Indexed Job) in the Service's subdomain.
	wantURL := fmt.Sprintf("nats://%s-0.%s:%d", federator.Name, svc.Name, kube.NATSPort)
	for _, j := range m.jobs {
		if got := podEnv(t, m, j, 0)[runtime.EnvNATSURL]; got != wantURL {
			t.Errorf("Job %s: %s = %q, want %q", j.Name, runtime.EnvNATSURL, got, wantURL)
		}
		c := j.Spec.Template.Spec.Containers[0]
		serve := slices.Index(c.Args, "--serve")
		_, results := mount(c, "results")
		if j == federator {
			if serve < 0 || serve+1 >= len(c.Args) || c.Args[serve+1] != "$(POD_IP)" {
				t.Errorf("rank 0's args %q, want --serve $(POD_IP)", c.Args)
			} else if ip := podEnv(t, m, j, 0)["POD_IP"]; ip != "10.1.0.7" {
				t.Errorf("rank 0's POD_IP = %q, want status.podIP", ip)
			}
			if !results {
				t.Errorf("rank 0 does not mount the results volume")
			}
			if len(c.Ports) != 1 || c.Ports[0].ContainerPort != kube.NATSPort {
				t.Errorf("rank 0's ports %+v, want %d", c.Ports, kube.NATSPort)
			}
		} else if serve >= 0 || results {
			t.Errorf("Job %s (clients): args %q, results mounted %v: only rank 0 serves and writes results", j.Name, c.Args, results)
		}
	}
}

// checkResources checks that rank's pod has its profile's requests and
// limits, and none without a profile.
func checkResources(t *testing.T, j *batchv1.Job, rank int, d configs.Deploy) {
	t.Helper()
	res := j.Spec.Template.Spec.Containers[0].Resources
	p, ok := d.ProfileOf(rank)
	if !ok {
		if len(res.Requests) != 0 || len(res.Limits) != 0 {
			t.Errorf("rank %d (Job %s) has no profile but resources %+v", rank, j.Name, res)
		}
		return
	}
	for what, l := range map[string]corev1.ResourceList{"requests": res.Requests, "limits": res.Limits} {
		cpu, mem := l[corev1.ResourceCPU], l[corev1.ResourceMemory]
		if len(l) != 2 || cpu.MilliValue() != int64(math.Round(p.CPUs*1000)) || mem.Value() != int64(p.MemoryMiB)<<20 {
			t.Errorf("rank %d (Job %s) %s cpu %s memory %s, want profile %s: %v CPUs, %d MiB",
				rank, j.Name, what, cpu.String(), mem.String(), p.Name, p.CPUs, p.MemoryMiB)
		}
	}
}

func checkSecurity(t *testing.T, j *batchv1.Job) {
	t.Helper()
	ps := j.Spec.Template.Spec.SecurityContext
	cs := j.Spec.Template.Spec.Containers[0].SecurityContext
	if ps == nil || cs == nil || ps.RunAsUser == nil || *ps.RunAsUser != kube.UID || ps.RunAsNonRoot == nil || !*ps.RunAsNonRoot ||
		ps.FSGroup == nil || *ps.FSGroup != kube.UID {
		t.Fatalf("Job %s: pod securityContext %+v, want UID %d, runAsNonRoot, fsGroup %d", j.Name, ps, kube.UID, kube.UID)
	}
	if cs.ReadOnlyRootFilesystem == nil || !*cs.ReadOnlyRootFilesystem || cs.AllowPrivilegeEscalation == nil || *cs.AllowPrivilegeEscalation {
		t.Errorf("Job %s: container securityContext %+v, want a read-only root filesystem and no privilege escalation", j.Name, cs)
	}
}

func checkVolumes(t *testing.T, m manifests, j *batchv1.Job) {
	t.Helper()
	spec := j.Spec.Template.Spec
	c := spec.Containers[0]
	for _, want := range []struct {
		name, path string
		readOnly   bool
		check      func(corev1.Volume) bool
	}{
		{"config", kube.ConfigDir, true, func(v corev1.Volume) bool {
			return v.ConfigMap != nil && v.ConfigMap.Name == m.configMap.Name
		}},
		{"tmp", "/tmp", false, func(v corev1.Volume) bool { return v.EmptyDir != nil }},
		{"shm", "/dev/shm", false, func(v corev1.Volume) bool {
			return v.EmptyDir != nil && v.EmptyDir.Medium == corev1.StorageMediumMemory
		}},
		{"results", kube.ResultsDir("results"), false, func(v corev1.Volume) bool {
			return v.PersistentVolumeClaim != nil && v.PersistentVolumeClaim.ClaimName == m.pvc.Name
		}},
	} {
		vm, mounted := mount(c, want.name)
		if !mounted {
			if want.name != "results" {
				t.Errorf("Job %s does not mount %s", j.Name, want.name)
			}
			continue
		}
		v, ok := volume(spec, want.name)
		if !ok || !want.check(v) || vm.MountPath != want.path || vm.ReadOnly != want.readOnly {
			t.Errorf("Job %s: volume %s = %+v mounted %+v, want it at %s (read-only %v)", j.Name, want.name, v, vm, want.path, want.readOnly)
		}
	}
}

func TestGenerateErrors(t *testing.T) {
	tests := []struct {
		name   string
		edit   func(*configs.Config, *kube.Options)
		target error
		msg    string
	}{
		{"one rank", func(_ *configs.Config, o *kube.Options) { o.NP = 1 }, kube.ErrWorldSize, "at least 2"},
		{"too many ranks", func(_ *configs.Config, o *kube.Options) { o.NP = 1025 }, configs.ErrInvalid, "job.world_size"},
		{"port", func(_ *configs.Config, o *kube.Options) { o.Port = 70000 }, kube.ErrOptions, "port 70000"},
		{"job id", func(_ *configs.Config, o *kube.Options) { o.JobID = "a.b" }, kube.ErrOptions, `job id "a.b"`},
		{"results size", func(_ *configs.Config, o *kube.Options) { o.ResultsSize = "lots" }, kube.ErrOptions, `"lots"`},
		{"results in /tmp", func(c *configs.Config, _ *kube.Options) { c.Output.Dir = "/tmp/out" }, kube.ErrOptions, "clash with /tmp"},
		{"results over the config", func(c *configs.Config, _ *kube.Options) { c.Output.Dir = "/etc" }, kube.ErrOptions, "cannot be mounted at /etc"},
		{"results over the data", func(c *configs.Config, _ *kube.Options) { c.Output.Dir = "." }, kube.ErrOptions, "/fltk would clash with /fltk/data"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := configs.DefaultConfig()
			o := kube.Options{Config: &cfg, NP: 5}
			tt.edit(&cfg, &o)
			_, err := kube.Generate(o)
			if !errors.Is(err, tt.target) || !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("Generate() error %v, want %v containing %q", err, tt.target, tt.msg)
			}
		})
	}
}

func TestResultsDir(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"results", "/fltk/results"},
		{"results/exp", "/fltk/results/exp"},
		{"/srv/out/", "/srv/out"},
		{"../out", "/out"},
	} {
		if got := kube.ResultsDir(tt.in); got != tt.want {
			t.Errorf("ResultsDir(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestName(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"demo", "demo"},
		{"Mnist_Run", "mnist-run"},
		{"_x_", "x"},
		{"2nn", "fltk-2nn"},
		{"---", "fltk"},
		{strings.Repeat("a", 64), strings.Repeat("a", 40)},
		{strings.Repeat("a", 39) + "_b", strings.Repeat("a", 39)},
	} {
		if got := kube.Name(tt.in); got != tt.want {
			t.Errorf("Name(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestGroups(t *testing.T) {
	d := configs.Deploy{Profiles: []string{"slow", "medium*2", "default"}}
	got := kube.Groups("x", d, 7)
	var names []string
	for _, g := range got {
		names = append(names, fmt.Sprintf("%s:%d+%d", g.Job, g.First, g.Count))
	}
	want := []string{"x:0+1", "x-slow-r1:1+1", "x-medium-r2:2+2", "x-default-r4:4+3"}
	if !slices.Equal(names, want) {
		t.Errorf("Groups = %v, want %v", names, want)
	}
}

func TestWrite(t *testing.T) {
	cfg := configs.DefaultConfig()
	gen := func(np int) []kube.File {
		files, err := kube.Generate(kube.Options{Config: &cfg, NP: np})
		if err != nil {
			t.Fatal(err)
		}
		return files
	}
	names := func(dir string) []string {
		entries, _ := os.ReadDir(dir)
		var n []string
		for _, e := range entries {
			n = append(n, e.Name())
		}
		return n
	}
	dir := filepath.Join(t.TempDir(), "out")
	if err := kube.Write(dir, gen(5)); err != nil { // Jobs r0, slow-r1, medium-r2, default-r3
		t.Fatal(err)
	}
	two := gen(2) // Jobs r0, slow-r1
	if err := kube.Write(dir, two); err != nil {
		t.Fatal(err)
	}
	if got := names(dir); len(got) != len(two) {
		t.Errorf("after regenerating with -np 2: %v, want only the %d new files", got, len(two))
	}

	// A file fltk-launch did not write stops it; nothing is removed.
	if err := os.WriteFile(filepath.Join(dir, "mine.yaml"), []byte("kind: Pod\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	before := names(dir)
	if err := kube.Write(dir, gen(5)); !errors.Is(err, kube.ErrOutputDir) || !strings.Contains(err.Error(), "mine.yaml") {
		t.Errorf("Write into a directory with mine.yaml: %v, want ErrOutputDir naming it", err)
	}
	if got := names(dir); !slices.Equal(got, before) {
		t.Errorf("after the refused Write: %v, want %v", got, before)
	}

	// A directory that cannot be created (a file is in the way).
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := kube.Write(filepath.Join(file, "sub"), two); !errors.Is(err, kube.ErrOutputDir) {
		t.Errorf("Write under a file: %v, want ErrOutputDir", err)
	}
}
