//go:build linux && !race

package runtime

// Without the race detector the hand-off annotations cost nothing.

func (s *shmSeg) raceReleaseCell(int) {}
func (s *shmSeg) raceAcquireCell(int) {}
func (s *shmSeg) raceReleaseSlot(int) {}
func (s *shmSeg) raceAcquireSlot(int) {}
