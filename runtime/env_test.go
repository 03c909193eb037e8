package runtime_test

import (
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/fltk-go/fltk/runtime"
)

// TestConfigFromEnvCompletionIndex: a pod of a Kubernetes Indexed Job has
// no FLTK_RANK; its rank is JOB_COMPLETION_INDEX + FLTK_RANK_OFFSET.
func TestConfigFromEnvCompletionIndex(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string // "" = unset
		rank int
		msg  string // substring of the error; "" for none
	}{
		{name: "FLTK_RANK alone", env: map[string]string{runtime.EnvRank: "3"}, rank: 3},
		{name: "FLTK_RANK wins", env: map[string]string{runtime.EnvRank: "2", runtime.EnvCompletionIndex: "4", runtime.EnvRankOffset: "1"}, rank: 2},
		{name: "index", env: map[string]string{runtime.EnvCompletionIndex: "4"}, rank: 4},
		{name: "index plus offset", env: map[string]string{runtime.EnvCompletionIndex: "1", runtime.EnvRankOffset: "3"}, rank: 4},
		{name: "offset alone", env: map[string]string{runtime.EnvRankOffset: "3"}, msg: "FLTK_RANK is not set"},
		{name: "neither", msg: "FLTK_RANK is not set"},
		{name: "bad index", env: map[string]string{runtime.EnvCompletionIndex: "x"}, msg: `JOB_COMPLETION_INDEX="x" is not an integer`},
		{name: "bad offset", env: map[string]string{runtime.EnvCompletionIndex: "1", runtime.EnvRankOffset: "one"}, msg: `FLTK_RANK_OFFSET="one" is not an integer`},
		{name: "negative offset", env: map[string]string{runtime.EnvCompletionIndex: "1", runtime.EnvRankOffset: "-1"}, msg: "must not be negative"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, k := range []string{runtime.EnvRank, runtime.EnvCompletionIndex, runtime.EnvRankOffset} {
				t.Setenv(k, "") // restored after the test
				if v, ok := tt.env[k]; ok {
					t.Setenv(k, v)
				} else {
					os.Unsetenv(k)
				}
			}
			t.Setenv(runtime.EnvWorldSize, "8")
			t.Setenv(runtime.EnvNATSURL, "nats://fed-0.fed:4222")
			c, err := runtime.ConfigFromEnv()
			if tt.msg != "" {
				if err == nil || !strings.Contains(err.Error(), tt.msg) || !errors.Is(err, runtime.ErrInvalidConfig) {
					t.Fatalf("ConfigFromEnv() error %v, want ErrInvalidConfig containing %q", err, tt.msg)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.Rank != tt.rank {
				t.Errorf("ConfigFromEnv() rank %d, want %d", c.Rank, tt.rank)
			}
		})
	}
}
