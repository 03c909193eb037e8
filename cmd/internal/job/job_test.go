package job

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/fltk-go/fltk/collective"
	"github.com/fltk-go/fltk/configs"
)

// TestCommConfigMapsEveryKey: every key of [collective] reaches
// collective.Config (each set to a non-default value here).
func TestCommConfigMapsEveryKey(t *testing.T) {
	c := configs.DefaultConfig()
	c.Collective = configs.Collective{ChunkBytes: 64 << 10, Window: 8, Codec: "int8z", ZstdLevel: 3,
		PollFor: configs.Duration{Duration: time.Millisecond}, ExactPartials: true, PipelineChunkBytes: 32 << 10, SharedBytes: 1 << 20}
	c.Runtime.OpTimeout = configs.Duration{Duration: time.Minute}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	got, err := CommConfig(&c, "job", nil)
	if err != nil {
		t.Fatal(err)
	}
	want := collective.Config{JobID: "job", ChunkBytes: 64 << 10, Window: 8, Codec: collective.CodecInt8Zstd, ZstdLevel: 3,
		OpTimeout: time.Minute, PollFor: time.Millisecond, ExactPartials: true, PipeChunkBytes: 32 << 10, SharedBytes: 1 << 20}
	if got != want {
		t.Errorf("CommConfig = %+v,\nwant %+v", got, want)
	}
	c.Collective.PollFor = configs.Duration{}
	if got, _ := CommConfig(&c, "job", nil); got.PollFor >= 0 {
		t.Errorf(`poll_for = "0s" maps to PollFor %v, want < 0 (never poll)`, got.PollFor)
	}
	c.Collective.SharedBytes = 0
	if got, _ := CommConfig(&c, "job", nil); got.SharedBytes >= 0 {
		t.Errorf(`shared_bytes = 0 maps to SharedBytes %d, want < 0 (off)`, got.SharedBytes)
	}
}

func TestCheckWorld(t *testing.T) {
	tests := []struct {
		np, clientsPerRound int
		ok                  bool
	}{
		{np: 2, ok: true},
		{np: 5, clientsPerRound: 4, ok: true},
		{np: 3, clientsPerRound: 4},
		{np: 0},
		{np: 1025},
	}
	for _, tt := range tests {
		cfg := configs.DefaultConfig()
		cfg.Federated.ClientsPerRound = tt.clientsPerRound
		err := CheckWorld(&cfg, tt.np)
		if (err == nil) != tt.ok || !errors.Is(err, ErrUsage) && !tt.ok {
			t.Errorf("CheckWorld(np %d, clients_per_round %d) = %v, want ok %v", tt.np, tt.clientsPerRound, err, tt.ok)
		}
		if tt.ok && cfg.Job.WorldSize != tt.np {
			t.Errorf("CheckWorld(np %d): job.world_size = %d, want %d (the effective config)", tt.np, cfg.Job.WorldSize, tt.np)
		}
	}
}

func TestNewJobIDIsValid(t *testing.T) {
	for _, name := range []string{"a", strings.Repeat("n", 64)} {
		if id := NewJobID(name); CheckJobID(id) != nil {
			t.Errorf("NewJobID(%d characters) = %q, not a valid job id", len(name), id)
		}
	}
}
