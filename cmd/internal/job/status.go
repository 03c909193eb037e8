package job

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"
	"sync"

	"github.com/fltk-go/fltk/launcher"
	"github.com/fltk-go/fltk/trainer/fed"
)

// LiveEnv names the variable the launchers set to "1" in the workers'
// environment when they draw a status line on a terminal: the ranks of a
// federated job then print live lines ([FormatLive]) on their stdout,
// which [NewStatus] turns into the status line and hides.
const LiveEnv = "FLTK_LIVE"

// livePrefix begins every live line.
const livePrefix = "fltk-live "

// FormatLive returns the live line of ev:
// "fltk-live rank=N round=R/T phase=training done=K of=N".
func FormatLive(ev fed.PhaseEvent) string {
	return fmt.Sprintf("%srank=%d round=%d/%d phase=%v done=%d of=%d", livePrefix,
		ev.Rank, ev.Round, ev.Rounds, ev.Phase, ev.Done, ev.Total)
}

// ParseLive parses a line of [FormatLive].
func ParseLive(line []byte) (fed.PhaseEvent, bool) {
	rest, ok := bytes.CutPrefix(line, []byte(livePrefix))
	if !ok {
		return fed.PhaseEvent{}, false
	}
	var ev fed.PhaseEvent
	seen := map[string]bool{}
	for _, f := range strings.Fields(string(rest)) {
		k, v, ok := strings.Cut(f, "=")
		if !ok || seen[k] {
			return fed.PhaseEvent{}, false
		}
		seen[k] = true
		var err error
		switch k {
		case "rank":
			ev.Rank, err = strconv.Atoi(v)
		case "round":
			r, t, ok := strings.Cut(v, "/")
			if !ok {
				return fed.PhaseEvent{}, false
			}
			if ev.Round, err = strconv.Atoi(r); err == nil {
				ev.Rounds, err = strconv.Atoi(t)
			}
		case "phase":
			switch v {
			case fed.PhaseTraining.String():
				ev.Phase = fed.PhaseTraining
			case fed.PhaseEvaluating.String():
				ev.Phase = fed.PhaseEvaluating
			default:
				return fed.PhaseEvent{}, false
			}
		case "done":
			ev.Done, err = strconv.Atoi(v)
		case "of":
			ev.Total, err = strconv.Atoi(v)
		default:
			return fed.PhaseEvent{}, false
		}
		if err != nil {
			return fed.PhaseEvent{}, false
		}
	}
	return ev, len(seen) == 5
}

// IsProgress reports whether a line of a worker's stdout is one of the
// federator's per-round progress lines ("round k/R …", rank 0).
func IsProgress(rank int, line []byte) bool {
	return rank == 0 && bytes.HasPrefix(line, []byte("round "))
}

// The phases of a round as the status line names them.
const (
	PhaseTraining   = "training"   // some selected clients are still training
	PhaseReducing   = "reducing"   // every client trained; the updates travel and are aggregated
	PhaseEvaluating = "evaluating" // the federator evaluates the new global model
)

// PhaseText returns the live part of the status line: "round 4/10
// training: 2/5 clients", "round 4/10  reducing: 5 clients trained" or
// "round 4/10  evaluating". A total of 0 (not known yet) is left out.
func PhaseText(round, rounds int, phase string, done, total int) string {
	head := fmt.Sprintf("round %d/%d  %s", round, rounds, phase)
	switch phase {
	case PhaseTraining:
		if total > 0 {
			return fmt.Sprintf("%s: %d/%d clients", head, done, total)
		}
		return fmt.Sprintf("%s: %d clients done", head, done)
	case PhaseReducing:
		return fmt.Sprintf("%s: %d clients trained", head, done)
	}
	return head
}

// statusSep separates the live part of the status line from the latest
// round's progress line.
const statusSep = "  │  "

// status builds the status line of a federated job from the federator's
// progress lines and every rank's live lines.
type status struct {
	mu         sync.Mutex  // guards the fields below
	last       []byte      // the federator's latest progress line
	lastRound  int         // the round of last
	round      int         // the round of the latest live lines
	rounds     int         // rounds configured
	total      int         // round's selected clients, from the federator; 0 until known
	done       map[int]int // rank → clients it trained in round
	of         map[int]int // rank → its clients selected in round
	evaluating bool        // the federator evaluates round
}

// NewStatus returns the [launcher.StatusFunc] of a federated job: rank
// 0's progress lines ([IsProgress]) are printed and pinned; live lines
// ([FormatLive]) are hidden and make the pinned line show the running
// round's phase and how many of its clients finished, before the latest
// progress line.
func NewStatus() launcher.StatusFunc {
	s := &status{done: map[int]int{}, of: map[int]int{}}
	return s.line
}

func (s *status) line(rank int, line []byte) ([]byte, bool) {
	if IsProgress(rank, line) {
		s.mu.Lock()
		defer s.mu.Unlock()
		s.last = append(s.last[:0], line...)
		if k := progressRound(line); k > 0 {
			s.lastRound = k
		}
		return s.text(), false
	}
	ev, ok := ParseLive(line)
	if !ok {
		return nil, false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if ev.Round < s.round {
		return nil, true // a late line of a round that is over
	}
	if ev.Round > s.round {
		s.round, s.total, s.evaluating = ev.Round, 0, false
		clear(s.done)
		clear(s.of)
	}
	s.rounds = ev.Rounds
	switch {
	case ev.Phase == fed.PhaseTraining && rank == 0:
		s.total = ev.Total
	case ev.Phase == fed.PhaseTraining:
		s.done[rank] = max(s.done[rank], ev.Done)
		s.of[rank] = ev.Total
	case ev.Phase == fed.PhaseEvaluating && rank == 0:
		s.evaluating = true
	}
	return s.text(), true
}

// text returns the status line. s.mu must be held.
func (s *status) text() []byte {
	if s.round <= s.lastRound {
		return bytes.Clone(s.last)
	}
	done, total := 0, s.total
	sumOf := 0
	for r, d := range s.done {
		done += d
		sumOf += s.of[r]
	}
	if total == 0 {
		total = sumOf // the federator's line is late; the workers' count may be short
	}
	phase := PhaseTraining
	switch {
	case s.evaluating:
		phase = PhaseEvaluating
	case s.total > 0 && done >= s.total:
		phase = PhaseReducing
	}
	t := PhaseText(s.round, s.rounds, phase, done, total)
	if s.last == nil {
		return []byte(t)
	}
	return append([]byte(t+statusSep), s.last...)
}

// progressRound returns k of a progress line "round k/R …", or 0.
func progressRound(line []byte) int {
	rest := bytes.TrimPrefix(line, []byte("round "))
	i := bytes.IndexByte(rest, '/')
	if i < 0 {
		return 0
	}
	k, err := strconv.Atoi(string(rest[:i]))
	if err != nil {
		return 0
	}
	return k
}
