package collective_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/fltk-go/fltk/collective"
	"github.com/fltk-go/fltk/collective/collectivetest"
)

// onAll runs f on every rank concurrently and returns the errors by rank.
func onAll(comms []*collective.Comm, f func(c *collective.Comm) error) []error {
	errs := make([]error, len(comms))
	var wg sync.WaitGroup
	for r, c := range comms {
		wg.Go(func() { errs[r] = f(c) })
	}
	wg.Wait()
	return errs
}

var allCodecs = []collective.Codec{collective.CodecNone, collective.CodecZstd, collective.CodecBF16, collective.CodecInt8}

func TestConformanceInMemory(t *testing.T) {
	// Chunks of 256 bytes make every size but the smallest span several
	// chunks, and 97 and 1000 elements are not multiples of the chunk.
	cfg := collective.Config{JobID: "mem", ChunkBytes: 256, Window: 2, SmallBytes: 128}
	elems := []int{0, 1, 7, 97, 1000}
	for _, np := range []int{1, 2, 3, 5, 9} {
		t.Run(fmt.Sprintf("np=%d", np), func(t *testing.T) {
			t.Parallel()
			comms := collectivetest.NewNetwork(t, np).Comms(t, cfg)
			ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
			defer cancel()
			for r, err := range onAll(comms, func(c *collective.Comm) error {
				return collectivetest.Conformance(ctx, c, elems, allCodecs)
			}) {
				if err != nil {
					t.Errorf("rank %d: %v", r, err)
				}
			}
		})
	}
}
