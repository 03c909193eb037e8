package collectivetest

import (
	"encoding/binary"
	"hash/crc32"

	"github.com/fltk-go/fltk/collective"
)

// Retag returns a copy of frame (a whole frame, as a transport delivers
// it) with the job tag of jobID and a valid checksum: what another job
// would send with the same header and payload. It relies on the frame
// layout documented in package collective (job tag at byte 8, CRC-32C of
// bytes [0, 60) and the payload at byte 60). A frame shorter than a
// header is returned as is.
func Retag(frame []byte, jobID string) []byte {
	b := append([]byte(nil), frame...)
	if len(b) < collective.HeaderSize {
		return b
	}
	table := crc32.MakeTable(crc32.Castagnoli)
	le := binary.LittleEndian
	le.PutUint64(b[8:], collective.JobTag(jobID))
	crc := crc32.Update(crc32.Checksum(b[:60], table), table, b[collective.HeaderSize:])
	le.PutUint32(b[60:], crc)
	return b
}
