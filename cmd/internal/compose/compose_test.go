package compose

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/fltk-go/fltk/configs"
)

// parsed is the part of a compose file the tests read back, decoded by
// yaml.v3 as docker-compose would read it.
type parsed struct {
	Version  string `yaml:"version"`
	Services map[string]struct {
		Image       string   `yaml:"image"`
		Hostname    string   `yaml:"hostname"`
		Command     []string `yaml:"command"`
		Environment []string `yaml:"environment"`
		Volumes     []string `yaml:"volumes"`
		Networks    []string `yaml:"networks"`
		DependsOn   []string `yaml:"depends_on"`
		CPUs        *float64 `yaml:"cpus"`
		MemLimit    string   `yaml:"mem_limit"`
	} `yaml:"services"`
	Networks map[string]map[string]any `yaml:"networks"`
	Volumes  map[string]map[string]any `yaml:"volumes"`
}

func testConfig(t *testing.T, np int, deploy configs.Deploy) *configs.Config {
	t.Helper()
	c := configs.DefaultConfig()
	c.Job.WorldSize = np
	c.Deploy = deploy
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	return &c
}

// flag returns the value of --name=VALUE in cmd and how often it occurs.
func flag(cmd []string, name string) (string, int) {
	var v string
	n := 0
	for _, a := range cmd {
		if s, ok := strings.CutPrefix(a, "--"+name+"="); ok {
			v, n = s, n+1
		}
	}
	return v, n
}

func TestGenerate(t *testing.T) {
	def := configs.DefaultConfig().Deploy
	deploys := map[string]configs.Deploy{
		"FLTK's profiles": def,
		"slow":            {Image: "fltk:latest", Profiles: []string{"slow"}},
		"medium":          {Image: "fltk:latest", Profiles: []string{"medium"}},
		"default":         {Image: "fltk:latest", Profiles: []string{"default"}},
		"counts and a federator profile": {Image: "registry.example/fltk:v1", Profiles: []string{"slow*2", "default*3", "medium"},
			FederatorProfile: "default"},
	}
	for _, np := range []int{2, 5, 17} {
		for dname, d := range deploys {
			t.Run(fmt.Sprintf("np=%d/%s", np, dname), func(t *testing.T) {
				cfg := testConfig(t, np, d)
				o := Options{NP: np, Config: cfg, ConfigFile: "./job.toml", JobID: "job-1a2b", Token: "0123456789abcdef0123456789abcdef",
					Header: "first line\nsecond line"}
				b, err := Generate(o)
				if err != nil {
					t.Fatal(err)
				}
				if !strings.HasPrefix(string(b), "# first line\n# second line\n") {
					t.Errorf("the file does not start with the header:\n%s", b)
				}
				var f parsed
				if err := yaml.Unmarshal(b, &f); err != nil {
					t.Fatalf("yaml: %v\n%s", err, b)
				}
				checkProject(t, o, f)
			})
		}
	}
}

func checkProject(t *testing.T, o Options, f parsed) {
	t.Helper()
	np := o.NP
	if f.Version != FileVersion {
		t.Errorf("version %q, want %q", f.Version, FileVersion)
	}
	if len(f.Services) != np {
		t.Errorf("%d services, want %d", len(f.Services), np)
	}
	if net, ok := f.Networks[Network]; !ok || net["driver"] != "bridge" || net["external"] != nil || net["name"] != nil {
		t.Errorf("networks %v, want %s: a bridge of the project's own", f.Networks, Network)
	}
	if vol, ok := f.Volumes[Volume]; !ok || len(vol) != 0 || len(f.Volumes) != 1 {
		t.Errorf("volumes %v, want only %s, the project's own", f.Volumes, Volume)
	}
	seen := make([]int, np)
	for name, s := range f.Services {
		rankS, n := flag(s.Command, "rank")
		var rank int
		if _, err := fmt.Sscan(rankS, &rank); n != 1 || err != nil || rank < 0 || rank >= np {
			t.Errorf("%s: command %q: want one --rank in [0, %d)", name, s.Command, np)
			continue
		}
		seen[rank]++
		if want := ServiceOf(rank); name != want || s.Hostname != want {
			t.Errorf("rank %d is service %q, hostname %q; want %q", rank, name, s.Hostname, want)
		}
		if len(s.Command) < 2 || s.Command[0] != "single" || s.Command[1] != ConfigPath {
			t.Errorf("%s: command %q, want single %s …", name, s.Command, ConfigPath)
		}
		for fl, want := range map[string]string{"np": fmt.Sprint(np), "job": o.JobID} {
			if v, n := flag(s.Command, fl); n != 1 || v != want {
				t.Errorf("%s: command %q: --%s=%q ×%d, want once %q", name, s.Command, fl, v, n, want)
			}
		}
		wantMaster := "federator:4222"
		if rank == 0 {
			wantMaster = ":4222" // every address of the container
		}
		if v, n := flag(s.Command, "master"); n != 1 || v != wantMaster {
			t.Errorf("%s: --master=%q ×%d, want %q", name, v, n, wantMaster)
		}
		if s.Image != o.Config.Deploy.Image {
			t.Errorf("%s: image %q, want %q", name, s.Image, o.Config.Deploy.Image)
		}
		if !slices.Equal(s.Environment, []string{"FLTK_TOKEN=" + o.Token}) {
			t.Errorf("%s: environment %v, want FLTK_TOKEN=%s only", name, s.Environment, o.Token)
		}
		if !slices.Equal(s.Networks, []string{Network}) {
			t.Errorf("%s: networks %v, want [%s]", name, s.Networks, Network)
		}
		wantVolumes := []string{"./job.toml:" + ConfigPath + ":ro"}
		var wantDeps []string
		if rank == 0 {
			wantVolumes = append(wantVolumes, Volume+":"+ResultsDir)
			for r := 1; r < np; r++ {
				wantDeps = append(wantDeps, ClientService(r))
			}
		}
		if !slices.Equal(s.Volumes, wantVolumes) {
			t.Errorf("%s: volumes %v, want %v", name, s.Volumes, wantVolumes)
		}
		if !slices.Equal(s.DependsOn, wantDeps) {
			t.Errorf("%s: depends_on %v, want %v", name, s.DependsOn, wantDeps)
		}
		p, limited := o.Config.Deploy.ProfileOf(rank)
		switch {
		case !limited && (s.CPUs != nil || s.MemLimit != ""):
			t.Errorf("%s: cpus %v, mem_limit %q; want no limits", name, s.CPUs, s.MemLimit)
		case limited && (s.CPUs == nil || *s.CPUs != p.CPUs || s.MemLimit != fmt.Sprintf("%dm", p.MemoryMiB)):
			t.Errorf("%s: cpus %v, mem_limit %q; want profile %s: %v, %dm", name, s.CPUs, s.MemLimit, p.Name, p.CPUs, p.MemoryMiB)
		}
	}
	for r, n := range seen {
		if n != 1 {
			t.Errorf("rank %d appears %d times, want once", r, n)
		}
	}
}

// TestGenerateProfiles checks the limits of a few ranks against FLTK's
// profiles directly (not through ProfileOf).
func TestGenerateProfiles(t *testing.T) {
	cfg := testConfig(t, 5, configs.DefaultConfig().Deploy)
	b, err := Generate(Options{NP: 5, Config: cfg, ConfigFile: "/abs/job.toml", JobID: "j", Token: "t"})
	if err != nil {
		t.Fatal(err)
	}
	var f parsed
	if err := yaml.Unmarshal(b, &f); err != nil {
		t.Fatal(err)
	}
	want := map[string]float64{"client-1": 0.5, "client-2": 0.75, "client-3": 1.25, "client-4": 1.25}
	for name, cpus := range want {
		s := f.Services[name]
		if s.CPUs == nil || *s.CPUs != cpus || s.MemLimit != "1024m" {
			t.Errorf("%s: cpus %v, mem_limit %q; want %v, 1024m", name, s.CPUs, s.MemLimit, cpus)
		}
	}
	if s := f.Services[Federator]; s.CPUs != nil || s.MemLimit != "" {
		t.Errorf("federator: cpus %v, mem_limit %q; want none", s.CPUs, s.MemLimit)
	}
	if s := f.Services["client-2"]; s.Volumes[0] != "/abs/job.toml:"+ConfigPath+":ro" {
		t.Errorf("client-2 volumes %v, want the absolute config file", s.Volumes)
	}
}

func TestGenerateErrors(t *testing.T) {
	good := func() Options {
		return Options{NP: 3, Config: testConfig(t, 3, configs.DefaultConfig().Deploy), ConfigFile: "./c.toml", JobID: "j", Token: "t"}
	}
	tests := []struct {
		name string
		edit func(*Options)
		msg  string
	}{
		{"np 0", func(o *Options) { o.NP = 0 }, "np must be ≥ 1"},
		{"no config", func(o *Options) { o.Config = nil }, "no config"},
		{"config file taken for a volume", func(o *Options) { o.ConfigFile = "c.toml" }, "must be absolute or start with ./"},
		{"colon", func(o *Options) { o.ConfigFile = "/a:b.toml" }, "colon"},
		{"job id", func(o *Options) { o.JobID = "a b" }, "job id"},
		{"token", func(o *Options) { o.Token = "" }, "empty token"},
		{"output.dir outside results", func(o *Options) { o.Config.Output.Dir = "out" }, `output.dir "out" is /fltk/out`},
		{"output.dir beside results", func(o *Options) { o.Config.Output.Dir = "/fltk/results2" }, "must be results"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := good()
			tt.edit(&o)
			_, err := Generate(o)
			if !errors.Is(err, ErrOptions) || !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("Generate: %v, want ErrOptions saying %q", err, tt.msg)
			}
		})
	}
	for _, dir := range []string{"results", "results/sub", "./results", "/fltk/results/x"} {
		o := good()
		o.Config.Output.Dir = dir
		if _, err := Generate(o); err != nil {
			t.Errorf("output.dir %q: %v, want it accepted", dir, err)
		}
	}
}

func TestWarnings(t *testing.T) {
	tests := []struct {
		name string
		edit func(*configs.Config)
		want []string
	}{
		{"mnist in data", func(*configs.Config) {}, nil},
		{"fashion-mnist", func(c *configs.Config) { c.Data.Dataset = "fashion-mnist" }, nil},
		{"cifar10", func(c *configs.Config) { c.Data.Dataset = "cifar10" }, []string{`data.dataset "cifar10"`}},
		{"absolute data path", func(c *configs.Config) { c.Data.Path = "/srv/data" }, []string{`data.path "/srv/data" is /srv/data`}},
		{"demo needs no data", func(c *configs.Config) { c.Job.Task = "demo"; c.Data.Dataset = "cifar10" }, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := configs.DefaultConfig()
			tt.edit(&c)
			got := Warnings(&c)
			if len(got) != len(tt.want) {
				t.Fatalf("Warnings: %q, want %d warnings %q", got, len(tt.want), tt.want)
			}
			for i, w := range tt.want {
				if !strings.Contains(got[i], w) {
					t.Errorf("warning %d: %q, want it to contain %q", i, got[i], w)
				}
			}
		})
	}
}
