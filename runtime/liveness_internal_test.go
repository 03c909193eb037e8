package runtime

import (
	"sync/atomic"
	"testing"
	"time"
)

// TestQueuedBehind: a rank silent on the receiver's clock stays alive only
// while its host is heard from and its heartbeats keep up, on its host's
// clock, with those of the host's other ranks.
func TestQueuedBehind(t *testing.T) {
	const timeout = 5 * time.Second
	now := time.Unix(1000, 0)
	at := func(d time.Duration) int64 { return now.Add(d).UnixNano() }
	// Ranks 0, 1 on host 0; ranks 2, 3 on host 1; rank 4 alone on host 2.
	hostOf := []int{0, 0, 1, 1, 2}
	tests := []struct {
		name      string
		rank      int
		beatSent  int64 // rank's latest heartbeat, its host's clock
		hostBeat  int64 // latest heartbeat of any rank of its host
		hostHeard int64 // when anything of the host last arrived here
		want      bool
	}{
		{"congested link: host heard, beats in step", 2, at(-8 * time.Second), at(-7 * time.Second), at(-time.Second), true},
		{"crashed rank: its host-mates beat on", 2, at(-8 * time.Second), at(-2 * time.Second), at(-time.Second), false},
		{"link down: host silent", 2, at(-8 * time.Second), at(-8 * time.Second), at(-6 * time.Second), false},
		{"alone on its host, host heard", 4, at(-7 * time.Second), at(-7 * time.Second), at(-time.Second), true},
		{"alone on its host, silent", 4, at(-7 * time.Second), at(-7 * time.Second), at(-7 * time.Second), false},
		{"no heartbeat yet", 3, 0, at(-time.Second), at(-time.Second), false},
		{"at the bound", 2, at(-8 * time.Second), at(-3 * time.Second), at(-5 * time.Second), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := &World{
				cfg:      Config{LivenessTimeout: timeout},
				beatSent: make([]atomic.Int64, 5), hostBeat: make([]atomic.Int64, 5), hostHeard: make([]atomic.Int64, 5),
			}
			h := hostOf[tt.rank]
			w.beatSent[tt.rank].Store(tt.beatSent)
			w.hostBeat[h].Store(tt.hostBeat)
			w.hostHeard[h].Store(tt.hostHeard)
			if got := w.queuedBehind(tt.rank, now); got != false {
				t.Fatalf("queuedBehind before the rendezvous set the hosts = %v, want false", got)
			}
			w.hostIdx.Store(&hostOf)
			if got := w.queuedBehind(tt.rank, now); got != tt.want {
				t.Errorf("queuedBehind = %v, want %v", got, tt.want)
			}
		})
	}
}
