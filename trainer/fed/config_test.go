package fed

import (
	"errors"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestDefaultConfigIsValid(t *testing.T) {
	c := DefaultConfig()
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(c, DefaultConfig()) {
		t.Errorf("Validate changed the default configuration:\n%+v\nwant\n%+v", c, DefaultConfig())
	}
}

// TestValidateFillsZeros: the zero Config takes the documented defaults,
// except where zero means something (Seed, Clients, Parallel, …).
func TestValidateFillsZeros(t *testing.T) {
	var c Config
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	def := DefaultConfig()
	if c.Rounds != def.Rounds || c.EpochsPerCycle != def.EpochsPerCycle || c.RoundTimeout != def.RoundTimeout ||
		c.Dataset != def.Dataset || c.DataDir != def.DataDir || c.TestSet != def.TestSet || c.SeqLen != def.SeqLen ||
		c.Partition != def.Partition || c.Net != def.Net || c.BatchSize != def.BatchSize ||
		c.EvalBatchSize != def.EvalBatchSize || c.Optimizer.Name != "sgd" || c.Optimizer.LR != def.Optimizer.LR ||
		c.Strategy.Name != "fedavg" || c.Schedule.Name != "none" {
		t.Errorf("the zero Config validates to %+v", c)
	}
	if c.Seed != 0 || c.Clients != 0 || c.ClientsPerRound != 0 || c.Parallel != 0 || c.TargetAccuracy != 0 || c.ClipNorm != 0 {
		t.Errorf("Validate filled a field whose zero means something: %+v", c)
	}
}

func TestValidateRejects(t *testing.T) {
	for _, tt := range []struct {
		name   string
		modify func(*Config)
		want   string
	}{
		{"rounds", func(c *Config) { c.Rounds = -1 }, "rounds -1"},
		{"clients", func(c *Config) { c.Clients = -2 }, "clients -2"},
		{"clients per round", func(c *Config) { c.Clients, c.ClientsPerRound = 4, 5 }, "clients per round 5 must be in 0..4"},
		{"epochs", func(c *Config) { c.EpochsPerCycle = math.NaN() }, "epochs per cycle NaN"},
		{"parallel", func(c *Config) { c.Parallel = -1 }, "parallel -1"},
		{"target accuracy", func(c *Config) { c.TargetAccuracy = 1.5 }, "target accuracy 1.5"},
		{"round timeout", func(c *Config) { c.RoundTimeout = -time.Second }, "round timeout -1s"},
		{"data set", func(c *Config) { c.Dataset = "imagenet" }, `data set "imagenet"`},
		{"test set", func(c *Config) { c.TestSet = "half" }, `test set "half"`},
		{"seq len", func(c *Config) { c.SeqLen = -1 }, "sequence length -1"},
		{"net", func(c *Config) { c.Net = "LeNet" }, `net "LeNet"`},
		{"batch size", func(c *Config) { c.BatchSize = -1 }, "batch size -1"},
		{"eval batch size", func(c *Config) { c.EvalBatchSize = -1 }, "eval batch size -1"},
		{"clip norm", func(c *Config) { c.ClipNorm = math.Inf(1) }, "clip norm +Inf"},
		{"partition", func(c *Config) { c.Partition = "random" }, "partition: partition: unknown scheme"},
		{"partition args", func(c *Config) { c.Partition, c.PartitionArgs = "dirichlet", []float64{-1} }, "partition: "},
		{"strategy", func(c *Config) { c.Strategy.Name = "krum" }, "strategy: strategy: unknown strategy"},
		{"optimizer", func(c *Config) { c.Optimizer.Name = "lbfgs" }, "optimizer: optim: unknown name"},
		{"learning rate", func(c *Config) { c.Optimizer.LR = -0.1 }, "optimizer: optim: bad configuration"},
		{"schedule", func(c *Config) { c.Schedule.Name = "warmup" }, "schedule: optim: unknown name"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := DefaultConfig()
			tt.modify(&c)
			err := c.Validate()
			if !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Validate() = %v, want an ErrConfig saying %q", err, tt.want)
			}
		})
	}
	c := DefaultConfig()
	c.Rounds, c.Net = -1, "LeNet"
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "rounds") || !strings.Contains(err.Error(), "LeNet") {
		t.Errorf("Validate() = %v, want both problems", err)
	}
}
