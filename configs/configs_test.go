package configs

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/BurntSushi/toml"
)

func TestDefaultConfigIsValid(t *testing.T) {
	cfg := DefaultConfig()
	if err := cfg.Validate(); err != nil {
		t.Fatalf("DefaultConfig().Validate() = %v, want nil", err)
	}
}

func TestReferenceIsDefault(t *testing.T) {
	got, err := Load("reference.toml")
	if err != nil {
		t.Fatalf("Load(reference.toml): %v", err)
	}
	if want := DefaultConfig(); !reflect.DeepEqual(*got, want) {
		t.Errorf("Load(reference.toml) =\n%+v\nwant DefaultConfig() =\n%+v", *got, want)
	}
}

// tomlKeys walks the toml tags of t, independently of the package's own
// walk, and returns the path of every value (tables excluded).
func tomlKeys(t reflect.Type, prefix []string) [][]string {
	var out [][]string
	for i := range t.NumField() {
		f := t.Field(i)
		name := f.Tag.Get("toml")
		if name == "" {
			continue
		}
		p := append(append([]string(nil), prefix...), name)
		if f.Type.Kind() == reflect.Struct && f.Type != reflect.TypeFor[Duration]() {
			out = append(out, tomlKeys(f.Type, p)...)
			continue
		}
		out = append(out, p)
	}
	return out
}

func TestReferenceHasEveryKey(t *testing.T) {
	var m map[string]any
	md, err := toml.DecodeFile("reference.toml", &m)
	if err != nil {
		t.Fatal(err)
	}
	keys := tomlKeys(reflect.TypeFor[Config](), nil)
	if len(keys) < 10 {
		t.Fatalf("found only %d keys in Config; is the walk broken?", len(keys))
	}
	for _, k := range keys {
		if !md.IsDefined(k...) {
			t.Errorf("reference.toml does not set %s", strings.Join(k, "."))
		}
	}
	// Every key should be documented: the line before it, or the one
	// before that, is a comment (blank lines between a comment and its
	// key are allowed once).
	lines := strings.Split(readFile(t, "reference.toml"), "\n")
	kl := keyLines(strings.Join(lines, "\n"), keyDepth)
	for _, k := range keys {
		n := kl[toml.Key(k).String()]
		if n < 2 || !strings.HasPrefix(strings.TrimSpace(lines[n-2]), "#") {
			t.Errorf("reference.toml:%d: %s has no comment on the line above", n, strings.Join(k, "."))
		}
	}
}

func TestShippedConfigs(t *testing.T) {
	files, err := filepath.Glob("*.toml")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 3 {
		t.Fatalf("found %d shipped configs, want at least reference, demo and bench", len(files))
	}
	for _, f := range files {
		t.Run(f, func(t *testing.T) {
			cfg, err := Load(f)
			if err != nil {
				t.Fatalf("Load(%s): %v", f, err)
			}
			if err := cfg.Validate(); err != nil {
				t.Errorf("Load(%s).Validate() = %v", f, err)
			}
		})
	}

	demo, err := Load("demo.toml")
	if err != nil {
		t.Fatal(err)
	}
	if demo.Job.Name != "demo" || demo.Job.WorldSize != 5 {
		t.Errorf("demo.toml job = %+v, want name demo and world_size 5", demo.Job)
	}

	bench, err := Load("bench.toml")
	if err != nil {
		t.Fatal(err)
	}
	want := DefaultConfig()
	want.Job.Name = "bench"
	if !reflect.DeepEqual(*bench, want) {
		t.Errorf("bench.toml =\n%+v\nwant defaults with job.name = bench:\n%+v", *bench, want)
	}
}

func TestBadConfigs(t *testing.T) {
	tests := []struct {
		file string
		want error // sentinel
		line int
		key  string
		msg  []string // further substrings of the message
		n    int      // number of problems reported; 0 means 1
	}{
		{file: "bad-unknown-top.toml", want: ErrUnknownKey, line: 2, key: "verbose"},
		{file: "bad-unknown-in-table.toml", want: ErrUnknownKey, line: 4, key: "job.colour"},
		{file: "bad-unknown-table.toml", want: ErrUnknownKey, line: 5, key: "tracing"},
		{
			file: "bad-typo.toml", want: ErrUnknownKey, line: 4, key: "runtime.livenes_timeout",
			msg: []string{`unknown key "runtime.livenes_timeout"`, `did you mean "runtime.liveness_timeout"?`},
		},
		{
			file: "bad-typo-dotted.toml", want: ErrUnknownKey, line: 3, key: "runtime.livenes_timeout", n: 4,
			msg: []string{
				`bad-typo-dotted.toml:4: unknown key "collective.windw" (did you mean "collective.window"?)`,
				`bad-typo-dotted.toml:5: unknown key "demo.round" (did you mean "demo.rounds"?)`,
				`bad-typo-dotted.toml:6: unknown key "Job" (did you mean "job"?)`,
			},
		},
		{
			file: "bad-wrong-table.toml", want: ErrUnknownKey, line: 3, key: "job.master",
			msg: []string{`did you mean "runtime.master"?`},
		},
		{
			file: "bad-type-int.toml", want: ErrType, line: 4, key: "collective.window",
			msg: []string{`key "collective.window": expected an integer, got string "four"`},
		},
		{
			file: "bad-type-float.toml", want: ErrType, line: 2, key: "demo.rounds",
			msg: []string{"got float 1.5"},
		},
		{
			file: "bad-type-duration.toml", want: ErrType, line: 3, key: "runtime.rendezvous_timeout",
			msg: []string{"duration string", "got integer 5"},
		},
		{file: "bad-type-table.toml", want: ErrType, line: 2, key: "runtime", msg: []string{"expected a table"}},
		{
			file: "bad-duration.toml", want: ErrType, line: 4, key: "runtime.heartbeat_interval",
			msg: []string{`invalid duration "5 parsecs"`},
		},
		{
			file: "bad-codec.toml", want: ErrInvalid, line: 3, key: "collective.codec",
			msg: []string{`collective.codec: "gzip" is not one of none, zstd, bf16, int8, int8z`},
		},
		{
			file: "bad-iface.toml", want: ErrInvalid, line: 3, key: "runtime.iface",
			msg: []string{`runtime.iface: "10.0.0.0/33" is neither an interface name nor a CIDR`},
		},
		{
			file: "bad-liveness.toml", want: ErrInvalid, line: 4, key: "runtime.liveness_timeout",
			msg: []string{"1.5s must be at least 2 × runtime.heartbeat_interval (2 × 1s)"},
		},
		{
			file: "bad-chunk.toml", want: ErrInvalid, line: 6, key: "collective.chunk_bytes",
			msg: []string{"1048576 is out of range 4096..1044480"},
		},
		{
			file: "bad-many.toml", want: ErrInvalid, line: 3, key: "job.name", n: 4,
			msg: []string{
				"bad-many.toml:4: job.world_size: 0 is out of range 1..1024",
				"bad-many.toml:7: collective.window: 1000 is out of range 1..256",
				"bad-many.toml:8: collective.zstd_level: 9 is out of range 1..4",
			},
		},
		{file: "bad-syntax.toml", want: ErrSyntax, line: 4, msg: []string{"expected value"}},
		{file: "bad-syntax-header.toml", want: ErrSyntax, line: 3, msg: []string{"table name"}},
	}
	seen := map[string]bool{}
	for _, tt := range tests {
		seen[tt.file] = true
		t.Run(tt.file, func(t *testing.T) {
			path := filepath.Join("testdata", tt.file)
			cfg, err := Load(path)
			if err == nil {
				t.Fatalf("Load(%s) = %+v, nil; want an error", path, cfg)
			}
			if cfg != nil {
				t.Errorf("Load(%s) returned a config with an error", path)
			}
			msg := err.Error()
			prefix := fmt.Sprintf("%s:%d: ", path, tt.line)
			if !strings.HasPrefix(msg, prefix) {
				t.Errorf("Load(%s) error = %q, want prefix %q", path, msg, prefix)
			}
			if tt.key != "" && !strings.Contains(msg, tt.key) {
				t.Errorf("Load(%s) error = %q, want it to name %q", path, msg, tt.key)
			}
			for _, s := range tt.msg {
				if !strings.Contains(msg, s) {
					t.Errorf("Load(%s) error = %q, want it to contain %q", path, msg, s)
				}
			}
			if !errors.Is(err, tt.want) {
				t.Errorf("errors.Is(Load(%s), %v) = false; error %q", path, tt.want, msg)
			}
			for _, other := range []error{ErrSyntax, ErrUnknownKey, ErrType, ErrInvalid} {
				if other != tt.want && errors.Is(err, other) {
					t.Errorf("errors.Is(Load(%s), %v) = true, want only %v", path, other, tt.want)
				}
			}
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("Load(%s) error %T is not an *Error", path, err)
			}
			if e.File != path || e.Line != tt.line || e.Key != tt.key {
				t.Errorf("first *Error = {File %q Line %d Key %q}, want {%q %d %q}",
					e.File, e.Line, e.Key, path, tt.line, tt.key)
			}
			n := max(tt.n, 1)
			if got := len(flatten(err)); got != n {
				t.Errorf("Load(%s) reported %d problems, want %d:\n%v", path, got, n, err)
			}
		})
	}
	files, err := filepath.Glob("testdata/bad-*.toml")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		if !seen[filepath.Base(f)] {
			t.Errorf("%s has no case in TestBadConfigs", f)
		}
	}
}

func TestParse(t *testing.T) {
	ms := func(n int) Duration { return Duration{time.Duration(n) * time.Millisecond} }
	tests := []struct {
		name string
		src  string
		edit func(*Config) // applied to DefaultConfig to get the want
	}{
		{name: "empty", src: ""},
		{name: "comments only", src: "# nothing\n\n   # here\n"},
		{name: "empty tables", src: "[job]\n[runtime]\n[collective]\n[demo]\n"},
		{
			name: "table",
			src:  "[runtime]\nheartbeat_interval = \"100ms\"\nliveness_timeout = \"200ms\"\n",
			edit: func(c *Config) { c.Runtime.HeartbeatInterval, c.Runtime.LivenessTimeout = ms(100), ms(200) },
		},
		{
			name: "dotted",
			src:  "job.name = \"a\"\n runtime . op_timeout = \"1h\"\n",
			edit: func(c *Config) { c.Job.Name = "a"; c.Runtime.OpTimeout = Duration{time.Hour} },
		},
		{
			name: "quoted keys",
			src:  "[\"collective\"]\n'codec' = \"zstd\"\n\"zstd_level\" = 4\n",
			edit: func(c *Config) { c.Collective.Codec = "zstd"; c.Collective.ZstdLevel = 4 },
		},
		{
			name: "inline table",
			src:  "demo = { rounds = 1, elements = 0 }\n",
			edit: func(c *Config) { c.Demo = Demo{Rounds: 1, Elements: 0} },
		},
		{
			name: "negative seed and hex",
			src:  "[job]\nseed = -7\nworld_size = 0x10\n",
			edit: func(c *Config) { c.Job.Seed, c.Job.WorldSize = -7, 16 },
		},
		{
			name: "max int64",
			src:  "[runtime]\nmax_pending = 9223372036854775807\n",
			edit: func(c *Config) { c.Runtime.MaxPending = math.MaxInt64 },
		},
		{
			name: "byte order mark and CRLF",
			src:  "\xef\xbb\xbf[job]\r\nname = \"bom\"\r\n",
			edit: func(c *Config) { c.Job.Name = "bom" },
		},
		{
			name: "chunk at its limit",
			src:  "[runtime]\nmax_payload = 1048576\n[collective]\nchunk_bytes = 1044480\n",
			edit: func(c *Config) { c.Runtime.MaxPayload, c.Collective.ChunkBytes = 1<<20, 1<<20-4096 },
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Parse("t.toml", []byte(tt.src))
			if err != nil {
				t.Fatalf("Parse(%q): %v", tt.src, err)
			}
			want := DefaultConfig()
			if tt.edit != nil {
				tt.edit(&want)
			}
			if !reflect.DeepEqual(*got, want) {
				t.Errorf("Parse(%q) =\n%+v\nwant\n%+v", tt.src, *got, want)
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name string
		src  string
		want error
		msg  string // substring of the error, which must also start with "t.toml:"
	}{
		{"case matters", "[job]\nWorld_Size = 3\n", ErrUnknownKey, `t.toml:2: unknown key "job.World_Size" (did you mean "job.world_size"?)`},
		{"no suggestion", "[job]\nflux_capacitor = 1\n", ErrUnknownKey, `t.toml:2: unknown key "job.flux_capacitor"`},
		{"top-level leaf", "elements = 3\n", ErrUnknownKey, `t.toml:1: unknown key "elements" (did you mean "demo.elements"?)`},
		{"sub-table of known table", "[runtime.tls]\ncert = \"x\"\n", ErrUnknownKey, `t.toml:1: unknown key "runtime.tls"`},
		{"quoted key", "[job]\n\"se\\u0065d x\" = 1\n", ErrUnknownKey, `t.toml:2: unknown key "job.\"seed x\""`},
		{"array of tables", "[[job]]\nname = \"x\"\n", ErrType, `t.toml:1: key "job": expected a table, got array of tables`},
		{"table for a value", "[job.name]\nfirst = \"x\"\n", ErrType, `t.toml:1: key "job.name": expected a string, got table`},
		{"bool for int", "[demo]\nrounds = true\n", ErrType, `t.toml:2: key "demo.rounds": expected an integer, got boolean true`},
		{"array for string", "[collective]\ncodec = [\"zstd\"]\n", ErrType, `t.toml:2: key "collective.codec": expected a string, got array`},
		{"datetime for duration", "[runtime]\nop_timeout = 1979-05-27\n", ErrType, `t.toml:2: key "runtime.op_timeout"`},
		{"empty duration", "[runtime]\nop_timeout = \"\"\n", ErrType, `t.toml:2: key "runtime.op_timeout": invalid duration ""`},
		{"negative duration", "[runtime]\nop_timeout = \"-1s\"\n", ErrInvalid, `t.toml:2: runtime.op_timeout: -1s must be greater than 0s`},
		{"int overflow", "[job]\nseed = 99999999999999999999\n", ErrSyntax, `t.toml:2: `},
		{"duplicate key", "[job]\nname = \"a\"\nname = \"b\"\n", ErrSyntax, `t.toml:3: `},
		{"not UTF-8", "[job]\nname = \"\xff\"\n", ErrSyntax, `t.toml:2: `},
		{"inline table line", "x = 1\ndemo = { rounds = 0 }\n", ErrUnknownKey, `t.toml:1: unknown key "x"`},
		{"validation on inline key", "demo = {\n  rounds = 0,\n}\n", ErrInvalid, `t.toml:2: demo.rounds: 0 must be at least 1`},
		{"validation of a default", "[runtime]\nmax_payload = 8192\n", ErrInvalid, `t.toml: collective.chunk_bytes: 1048576 is out of range 4096..4096`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := Parse("t.toml", []byte(tt.src))
			if err == nil {
				t.Fatalf("Parse(%q) = %+v, nil; want an error", tt.src, cfg)
			}
			if cfg != nil {
				t.Errorf("Parse(%q) returned a config with an error", tt.src)
			}
			if !errors.Is(err, tt.want) {
				t.Errorf("errors.Is(Parse(%q), %v) = false; error %q", tt.src, tt.want, err)
			}
			if !strings.HasPrefix(err.Error(), "t.toml:") || !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("Parse(%q) error = %q, want it to contain %q", tt.src, err, tt.msg)
			}
		})
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name string
		edit func(*Config)
		key  string // "" if valid
		msg  string
	}{
		{name: "default", edit: func(*Config) {}},
		{"empty name", func(c *Config) { c.Job.Name = "" }, "job.name", "must not be empty"},
		{"long name", func(c *Config) { c.Job.Name = strings.Repeat("a", 65) }, "job.name", "more than 64"},
		{name: "64-char name", edit: func(c *Config) { c.Job.Name = strings.Repeat("a", 64) }},
		{name: "name charset", edit: func(c *Config) { c.Job.Name = "A-z_09" }},
		{"name with dot", func(c *Config) { c.Job.Name = "a.b" }, "job.name", `"a.b" may only contain`},
		{"world size 0", func(c *Config) { c.Job.WorldSize = 0 }, "job.world_size", "0 is out of range 1..1024"},
		{"world size 1025", func(c *Config) { c.Job.WorldSize = 1025 }, "job.world_size", "1025 is out of range"},
		{name: "world size 1", edit: func(c *Config) { c.Job.WorldSize = 1 }},
		{"master no port", func(c *Config) { c.Runtime.Master = "localhost" }, "runtime.master", "not a host:port"},
		{"master port 0", func(c *Config) { c.Runtime.Master = "h:0" }, "runtime.master", "1..65535"},
		{"master port 65536", func(c *Config) { c.Runtime.Master = "h:65536" }, "runtime.master", "1..65535"},
		{"master named port", func(c *Config) { c.Runtime.Master = "h:nats" }, "runtime.master", `port "nats"`},
		{name: "master IPv6", edit: func(c *Config) { c.Runtime.Master = "[::1]:4222" }},
		{"rendezvous 0", func(c *Config) { c.Runtime.RendezvousTimeout = Duration{} }, "runtime.rendezvous_timeout", "greater than 0s"},
		{"heartbeat 0", func(c *Config) { c.Runtime.HeartbeatInterval = Duration{} }, "runtime.heartbeat_interval", "greater than 0s"},
		{name: "liveness exactly 2 heartbeats", edit: func(c *Config) { c.Runtime.LivenessTimeout = Duration{500 * time.Millisecond} }},
		{"liveness just under", func(c *Config) { c.Runtime.LivenessTimeout = Duration{500*time.Millisecond - 1} }, "runtime.liveness_timeout", "at least 2 ×"},
		{
			"huge heartbeat", func(c *Config) {
				c.Runtime.HeartbeatInterval = Duration{math.MaxInt64}
				c.Runtime.LivenessTimeout = Duration{math.MaxInt64}
			}, "runtime.liveness_timeout", "at least 2 ×",
		},
		{"op timeout negative", func(c *Config) { c.Runtime.OpTimeout = Duration{-1} }, "runtime.op_timeout", "greater than 0s"},
		{"write deadline 0", func(c *Config) { c.Runtime.WriteDeadline = Duration{} }, "runtime.write_deadline", "greater than 0s"},
		{
			"max payload small", func(c *Config) { c.Runtime.MaxPayload = 1023 },
			"runtime.max_payload", "1023 is out of range 1024..67108864",
		},
		{"max payload big", func(c *Config) { c.Runtime.MaxPayload = 64<<20 + 1 }, "runtime.max_payload", "out of range"},
		{"max pending small", func(c *Config) { c.Runtime.MaxPending = 1<<20 - 1 }, "runtime.max_pending", "at least 1048576"},
		{
			"payload over pending", func(c *Config) { c.Runtime.MaxPayload = 64 << 20; c.Runtime.MaxPending = 32 << 20 },
			"runtime.max_payload", "must not exceed runtime.max_pending",
		},
		{"chunk small", func(c *Config) { c.Collective.ChunkBytes = 4088 }, "collective.chunk_bytes", "out of range 4096..2093056"},
		{"chunk unaligned", func(c *Config) { c.Collective.ChunkBytes = 4100 }, "collective.chunk_bytes", "not a multiple of 8"},
		{name: "chunk at limit", edit: func(c *Config) { c.Collective.ChunkBytes = 2<<20 - 4096 }},
		{"window 0", func(c *Config) { c.Collective.Window = 0 }, "collective.window", "out of range 1..256"},
		{"window 257", func(c *Config) { c.Collective.Window = 257 }, "collective.window", "out of range 1..256"},
		{"codec", func(c *Config) { c.Collective.Codec = "gzip" }, "collective.codec", `"gzip" is not one of none, zstd, bf16, int8, int8z`},
		{"codec case", func(c *Config) { c.Collective.Codec = "ZSTD" }, "collective.codec", "is not one of"},
		{"zstd level 0", func(c *Config) { c.Collective.ZstdLevel = 0 }, "collective.zstd_level", "out of range 1..4"},
		{"unknown task", func(c *Config) { c.Job.Task = "serve" }, "job.task", `"serve" is not one of train, demo`},
		{"federated rounds 0", func(c *Config) { c.Federated.Rounds = 0 }, "federated.rounds", "at least 1"},
		{"per round above clients", func(c *Config) { c.Federated.Clients = 10; c.Federated.ClientsPerRound = 11 }, "federated.clients_per_round", "out of range 0..10"},
		{"per round above default clients", func(c *Config) { c.Federated.ClientsPerRound = 5 }, "federated.clients_per_round", "out of range 0..4"},
		{"min workers above the workers", func(c *Config) { c.Federated.MinWorkers = 5 }, "federated.min_workers", "5 exceeds the 4 worker ranks of a world of 5"},
		{"min workers 0", func(c *Config) { c.Federated.MinWorkers = 0 }, "federated.min_workers", "out of range 1..1023"},
		{"unknown on_rank_failure", func(c *Config) { c.Runtime.OnRankFailure = "retry" }, "runtime.on_rank_failure", "continue"},
		{"epochs 0", func(c *Config) { c.Federated.EpochsPerCycle = 0 }, "federated.epochs_per_cycle", "greater than 0"},
		{"unknown strategy", func(c *Config) { c.Federated.Strategy = "krum" }, "federated.strategy", "fedavg, mean, fedprox, fedadam"},
		{"fedprox without mu", func(c *Config) { c.Federated.Strategy = "fedprox"; c.Federated.ProximalMu = 0 }, "federated.proximal_mu", "greater than 0"},
		{"beta_1 1", func(c *Config) { c.Federated.Beta1 = 1 }, "federated.beta_1", "[0, 1)"},
		{"target above 1", func(c *Config) { c.Federated.TargetAccuracy = 97 }, "federated.target_accuracy", "out of range 0..1"},
		{"unknown dataset", func(c *Config) { c.Data.Dataset = "emnist" }, "data.dataset", `"emnist" is not one of mnist, fashion-mnist`},
		{"unknown sampler", func(c *Config) { c.Data.Sampler = "zipf" }, "data.sampler", `"zipf" is not one of iid`},
		{"unknown net", func(c *Config) { c.Train.Net = "LeNet" }, "train.net", `"LeNet" is not one of MNIST2NN`},
		{"batch 0", func(c *Config) { c.Train.BatchSize = 0 }, "train.batch_size", "at least 1"},
		{"negative lr", func(c *Config) { c.Train.LearningRate = -1 }, "train.learning_rate", "greater than 0"},
		{"gamma 0", func(c *Config) { c.Train.SchedulerGamma = 0 }, "train.scheduler_gamma", "(0, 1]"},
		{"unknown optimizer", func(c *Config) { c.Train.Optimizer = "lion" }, "train.optimizer", "sgd, adam"},
		{"empty output dir", func(c *Config) { c.Output.Dir = "" }, "output.dir", "must not be empty"},
		{"rounds 0", func(c *Config) { c.Demo.Rounds = 0 }, "demo.rounds", "at least 1"},
		{"elements -1", func(c *Config) { c.Demo.Elements = -1 }, "demo.elements", "at least 0"},
		{name: "elements 0", edit: func(c *Config) { c.Demo.Elements = 0 }},
		{"bench op", func(c *Config) { c.Bench.Op = "alltoall" }, "bench.op", `"alltoall" is not one of bcast`},
		{"bench bytes odd", func(c *Config) { c.Bench.Bytes = 6 }, "bench.bytes", "multiple of 4"},
		{"bench bytes -4", func(c *Config) { c.Bench.Bytes = -4 }, "bench.bytes", "at least 0"},
		{"bench repeats -1", func(c *Config) { c.Bench.Repeats = -1 }, "bench.repeats", "at least 0"},
		{"bench cold -1s", func(c *Config) { c.Bench.Cold.Duration = -time.Second }, "bench.cold", "at least 0s"},
		{"pipeline chunk small", func(c *Config) { c.Collective.PipelineChunkBytes = 1024 }, "collective.pipeline_chunk_bytes", "out of range 4096..1048576"},
		{"pipeline chunk above chunk", func(c *Config) { c.Collective.PipelineChunkBytes = 2 << 20 }, "collective.pipeline_chunk_bytes", "out of range"},
		{"pipeline chunk odd", func(c *Config) { c.Collective.PipelineChunkBytes = 65540 }, "collective.pipeline_chunk_bytes", "not a multiple of 8"},
		{"shared bytes negative", func(c *Config) { c.Collective.SharedBytes = -1 }, "collective.shared_bytes", "out of range"},
		{"deploy image", func(c *Config) { c.Deploy.Image = "" }, "deploy.image", "must not be empty"},
		{"deploy no profiles", func(c *Config) { c.Deploy.Profiles = nil }, "deploy.profiles", "at least one profile"},
		{"deploy unknown profile", func(c *Config) { c.Deploy.Profiles = []string{"slow", "turbo"} }, "deploy.profiles", `entry 2: unknown profile "turbo"`},
		{"deploy bad count", func(c *Config) { c.Deploy.Profiles = []string{"slow*0"} }, "deploy.profiles", "count after * must be a whole number ≥ 1"},
		{"deploy federator", func(c *Config) { c.Deploy.FederatorProfile = "fast" }, "deploy.federator_profile", `unknown profile "fast"`},
		{"deploy backoff", func(c *Config) { c.Deploy.BackoffLimit = -1 }, "deploy.backoff_limit", "at least 0"},
		{"deploy deadline", func(c *Config) { c.Deploy.ActiveDeadline = Duration{1500 * time.Millisecond} }, "deploy.active_deadline", "whole seconds"},
		{name: "deploy counts", edit: func(c *Config) { c.Deploy.Profiles = []string{"slow*3", "medium*2", "default"} }},
		{name: "bench task", edit: func(c *Config) { c.Job.Task = "bench"; c.Bench = Bench{Op: "barrier", Bytes: 0, Repeats: 3} }},
	}
	for _, codec := range Codecs {
		tests = append(tests, struct {
			name string
			edit func(*Config)
			key  string
			msg  string
		}{name: "codec " + codec, edit: func(c *Config) { c.Collective.Codec = codec }})
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := DefaultConfig()
			tt.edit(&cfg)
			err := cfg.Validate()
			if tt.key == "" {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Validate() = nil, want an error about %s", tt.key)
			}
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("errors.Is(Validate(), ErrInvalid) = false; error %q", err)
			}
			want := tt.key + ": "
			if !strings.HasPrefix(err.Error(), want) || !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("Validate() = %q, want %q…%q", err, want, tt.msg)
			}
			var e *Error
			if !errors.As(err, &e) || e.Key != tt.key {
				t.Errorf("Validate() = %#v, want an *Error with Key %q", err, tt.key)
			}
		})
	}
}

func TestValidateReportsAll(t *testing.T) {
	var cfg Config // the zero value breaks almost every rule
	err := cfg.Validate()
	if err == nil {
		t.Fatal("Config{}.Validate() = nil")
	}
	for _, key := range []string{
		"job.name", "job.world_size", "runtime.master", "runtime.rendezvous_timeout",
		"runtime.heartbeat_interval", "runtime.liveness_timeout", "runtime.op_timeout",
		"runtime.max_payload", "runtime.max_pending", "runtime.write_deadline",
		"collective.chunk_bytes", "collective.window", "collective.codec",
		"collective.zstd_level", "demo.rounds",
	} {
		if !strings.Contains(err.Error(), "\n"+key+": ") && !strings.HasPrefix(err.Error(), key+": ") {
			t.Errorf("Config{}.Validate() does not report %s:\n%v", key, err)
		}
	}
}

func TestLoadMissingFile(t *testing.T) {
	_, err := Load(filepath.Join(t.TempDir(), "nope.toml"))
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Load(missing) = %v, want fs.ErrNotExist", err)
	}
}

func TestDurationText(t *testing.T) {
	tests := []struct {
		in   string
		want time.Duration
		out  string
	}{
		{"250ms", 250 * time.Millisecond, "250ms"},
		{"5s", 5 * time.Second, "5s"},
		{"10m", 10 * time.Minute, "10m0s"},
		{"1h30m", 90 * time.Minute, "1h30m0s"},
		{"1.5us", 1500 * time.Nanosecond, "1.5µs"},
		{"0", 0, "0s"},
	}
	for _, tt := range tests {
		var d Duration
		if err := d.UnmarshalText([]byte(tt.in)); err != nil {
			t.Errorf("UnmarshalText(%q): %v", tt.in, err)
			continue
		}
		if d.Duration != tt.want {
			t.Errorf("UnmarshalText(%q) = %v, want %v", tt.in, d.Duration, tt.want)
		}
		b, err := d.MarshalText()
		if err != nil || string(b) != tt.out {
			t.Errorf("MarshalText(%v) = %q, %v; want %q", d.Duration, b, err, tt.out)
		}
	}
	for _, bad := range []string{"", "5", "5 parsecs", "s", "1d"} {
		var d Duration
		if err := d.UnmarshalText([]byte(bad)); err == nil {
			t.Errorf("UnmarshalText(%q) = nil error, want one", bad)
		}
	}
}

// TestEncodeRoundTrip checks that a Config written by the TOML encoder reads
// back unchanged: Duration's MarshalText and the loader agree.
func TestEncodeRoundTrip(t *testing.T) {
	want := DefaultConfig()
	want.Job.Name = "round-trip"
	want.Runtime.HeartbeatInterval = Duration{1500 * time.Microsecond}
	want.Collective.Codec = "bf16"
	var buf bytes.Buffer
	if err := toml.NewEncoder(&buf).Encode(want); err != nil {
		t.Fatal(err)
	}
	got, err := Parse("encoded.toml", buf.Bytes())
	if err != nil {
		t.Fatalf("Parse(encoded):\n%s\n%v", buf.Bytes(), err)
	}
	if !reflect.DeepEqual(*got, want) {
		t.Errorf("round trip =\n%+v\nwant\n%+v", *got, want)
	}
}

func TestKeyLines(t *testing.T) {
	src := `# comment with [fake] and key = 1
top = 1 # trailing
[a]
b = """
[not_a_table]
c = 2
"""
d = '''x'''
e = [
  1, # comment ]
  { f = 1 },
  "]", ']',
  [2, 3],
]
"g".'h' . i = 1979-05-27 07:32:00Z
j = { k = { l = 1 }, m = "}" }
[[arr]]
n = 1
[ "q \" \u0051" . r ]
s = "\\"
t = """a""""
u = 'v'
[w.x.y]
`
	want := map[string]int{
		"top":          2,
		"a":            3,
		"a.b":          4,
		"a.d":          8,
		"a.e":          9,
		"a.g":          15,
		"a.g.h":        15,
		"a.g.h.i":      15,
		"a.j":          16,
		"a.j.k":        16,
		"a.j.k.l":      16,
		"a.j.m":        16,
		"arr":          17,
		"arr.n":        18,
		`"q \" Q"`:     19,
		`"q \" Q".r`:   19,
		`"q \" Q".r.s`: 20,
		`"q \" Q".r.t`: 21,
		`"q \" Q".r.u`: 22,
		"w":            23,
		"w.x":          23,
		"w.x.y":        23,
	}
	// The scanner must agree with the real parser on which keys exist.
	var m map[string]any
	md, err := toml.Decode(src, &m)
	if err != nil {
		t.Fatalf("test document is not valid TOML: %v", err)
	}
	got := keyLines(src, 10)
	for _, k := range md.Keys() {
		if _, ok := want[k.String()]; !ok && !strings.HasPrefix(k.String(), "a.e") {
			t.Errorf("parser has key %s that the test does not expect", k)
		}
	}
	for k, line := range want {
		if got[k] != line {
			t.Errorf("keyLines: %s on line %d, want %d", k, got[k], line)
		}
	}
	for k := range got {
		if _, ok := want[k]; !ok {
			t.Errorf("keyLines found %s (line %d), which is not a key", k, got[k])
		}
	}
}

func TestKeyLinesDepth(t *testing.T) {
	src := "a.b.c = 1\ng = { h = { i = 1 } }\n[d.e.f]\nj = 1\n"
	got := keyLines(src, 2)
	want := map[string]int{"a": 1, "a.b": 1, "g": 2, "g.h": 2, "d": 3, "d.e": 3}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("keyLines(depth 2) = %v, want %v", got, want)
	}
	// Deeply nested inline tables must not cost more than linear time;
	// this took seconds before the depth bound.
	deep := "job = " + strings.Repeat("{a = ", 3000) + "1" + strings.Repeat("}", 3000) + "\n"
	if got := keyLines(deep, keyDepth); got["job.a"] != 1 {
		t.Errorf("keyLines(deep)[job.a] = %d, want 1", got["job.a"])
	}
}

func TestKeyLinesStopsOnGarbage(t *testing.T) {
	for _, src := range []string{
		"a = ", "[a", "[[a]", "a.", "\"a", "'a", "a = \"\"\"", "a = [", "a = {", "a = {b", "= 1", "a = 1\n]", "\x00",
	} {
		_ = keyLines(src, 3) // must not panic or loop
	}
}

func TestErrorString(t *testing.T) {
	inner := &kindError{kind: ErrInvalid, msg: "m"}
	tests := []struct {
		e    Error
		want string
	}{
		{Error{File: "f", Line: 3, Err: inner}, "f:3: m"},
		{Error{File: "f", Err: inner}, "f: m"},
		{Error{Line: 3, Err: inner}, "line 3: m"},
		{Error{Err: inner}, "m"},
		{Error{}, ""},
	}
	for _, tt := range tests {
		if got := tt.e.Error(); got != tt.want {
			t.Errorf("%+v.Error() = %q, want %q", tt.e, got, tt.want)
		}
	}
	if e := (Error{Err: inner}); !errors.Is(&e, ErrInvalid) || errors.Is(&e, ErrType) {
		t.Error("Error does not unwrap to exactly its sentinel")
	}
}

func TestSuggest(t *testing.T) {
	tests := []struct{ in, want string }{
		{"runtime.livenes_timeout", "runtime.liveness_timeout"},
		{"runtime.liveness_timout", "runtime.liveness_timeout"},
		{"runtime.livness_timout", "runtime.liveness_timeout"},
		{"RUNTIME", "runtime"},
		{"runtim", "runtime"},
		{"collective.zstdlevel", "collective.zstd_level"},
		{"job.master", "runtime.master"},
		{"seed", "job.seed"},
		{"job.nam", "job.name"},
		{"job", "job"},
		{"tracing", ""},
		{"job.colour", ""},
		{"x", ""},
		{"ab", ""},
		{"jo", "job"},
		{"", ""},
		{strings.Repeat("a", 10000), ""},
	}
	for _, tt := range tests {
		if got := suggest(tt.in); got != tt.want {
			t.Errorf("suggest(%.20q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func readFile(tb testing.TB, path string) string {
	tb.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	return string(b)
}

// LoadWith validates the config with the override applied: a
// clients_per_round too large for the file's world_size fits -np 6.
func TestLoadWithOverride(t *testing.T) {
	p := filepath.Join(t.TempDir(), "job.toml")
	if err := os.WriteFile(p, []byte("[job]\nworld_size = 3\n[federated]\nclients_per_round = 4\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(p); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "federated.clients_per_round") {
		t.Errorf("Load = %v, want federated.clients_per_round out of range for world_size 3", err)
	}
	c, err := LoadWith(p, func(c *Config) { c.Job.WorldSize = 6 })
	if err != nil || c.Job.WorldSize != 6 {
		t.Fatalf("LoadWith(world_size 6) = %+v, %v; want world_size 6", c, err)
	}
}
