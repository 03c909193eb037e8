//go:build !linux

package runtime

import (
	"context"
	"errors"
)

// Shared memory is implemented for Linux only; elsewhere every frame goes
// through the NATS server.

const (
	shmSupported = false
	shmThreshold = 16 << 10
)

type shmSeg struct {
	path     string
	slotSize int
}

type shmSender struct{ seg *shmSeg }

var errNoShm = errors.New("shared memory is not supported on this platform")

func shmPath(string, int, string) string                  { return "" }
func createShm(string, string, int, int) (*shmSeg, error) { return nil, errNoShm }
func openShm(string, string) (*shmSeg, error)             { return nil, errNoShm }
func (s *shmSeg) close()                                  {}
func isShmPtr([]byte) bool                                { return false }
func shmView(*shmSeg, []byte) ([]byte, func(), error)     { return nil, nil, errNoShm }
func (s *shmSender) put([]byte, int32, func() error) ([]byte, error) {
	return nil, errNoShm
}

var errQueueFull = errors.New("shared-memory queue full")

func (s *shmSeg) consume(<-chan struct{}, func(int, []byte)) {}
func (s *shmSeg) poll(func(int, []byte)) bool                { return false }
func (s *shmSeg) enqueue(int, []byte) error                  { return errNoShm }
func (s *shmSeg) wake()                                      {}
func (s *shmSeg) remove()                                    {}

// SharedBarrier is always false without shared memory.
func (w *World) SharedBarrier() bool { return false }

// Barrier fails: there is no shared-memory barrier on this platform.
func (w *World) Barrier(context.Context) error { return errNoShm }

func (w *World) setupSharedBarrier([]shmAnnounce) {}

// CanPoll is false without shared memory.
func (w *World) CanPoll() bool { return false }

// Poll has nothing to deliver without shared memory.
func (w *World) Poll() bool { return false }
