package runtime

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"sync/atomic"
	"testing"

	"github.com/nats-io/nats.go"
)

// TestByeOfDownRankIgnored: the goodbye of a rank already reported down
// (excluded from a shrunk world, or dead) does not report the ranks it
// names down; a live rank's goodbye still does.
func TestByeOfDownRankIgnored(t *testing.T) {
	for _, tt := range []struct {
		name     string
		excluded bool
		want     bool // rank 0 reported down
	}{
		{"live leaver passes the news on", false, true},
		{"excluded leaver is not heard", true, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			w := &World{
				log: slog.New(slog.DiscardHandler), prefix: "fltk.j", rank: 1, size: 3,
				sent: make([]atomic.Int64, 3), recv: make([]atomic.Int64, 3), lastSeen: make([]atomic.Int64, 3),
				down: map[int]error{}, byeCount: map[int]int64{}, byeWhy: map[int]string{},
			}
			if tt.excluded {
				w.Exclude(2, "left out of epoch 1")
			}
			b, _ := json.Marshal(byeMsg{Sent: []int64{0, 0, 0}, Down: map[int]string{0: "not heard from"}})
			w.handleBye(&nats.Msg{Subject: "fltk.j.bye.2", Data: b})
			_, got := w.Down()[0]
			if got != tt.want {
				t.Errorf("rank 0 down = %v, want %v (down: %v)", got, tt.want, fmt.Sprint(w.Down()))
			}
			if _, ok := w.Down()[2]; !ok {
				t.Error("the leaver is not down")
			}
		})
	}
}
