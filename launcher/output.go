package launcher

import (
	"bytes"
	"fmt"
	"io"
	"strings"
	"sync"
	"unicode/utf8"
)

const (
	// maxLineLen is the longest line written as one; longer lines are
	// split into pieces of maxLineLen bytes.
	maxLineLen = 1 << 20
	// maxTailLineLen caps the length of one line kept in a tail, so that
	// a failing worker printing huge lines cannot hold on to megabytes.
	maxTailLineLen = 4 << 10
	// maxIdleBuf is the capacity above which a line buffer is released
	// after use instead of being kept for the next line.
	maxIdleBuf = 64 << 10
)

// output serializes the tagged lines of all workers onto the launcher's
// stdout and stderr.
type output struct {
	mu       sync.Mutex // guards writes to stdout and stderr, err and status
	stdout   io.Writer
	stderr   io.Writer
	err      error      // first write error, reported once by Run
	terminal bool       // stdout is a terminal: pin status below the output
	width    func() int // the terminal's width in columns; nil: defaultWidth
	status   []byte     // the pinned status line, without newline; nil if none
}

// defaultWidth is the terminal width assumed when none is known.
const defaultWidth = 80

// cols returns the terminal's width in columns.
func (o *output) cols() int {
	if o.width != nil {
		if w := o.width(); w > 0 {
			return w
		}
	}
	return defaultWidth
}

// clip returns line cut to fit in width columns without reaching the
// last one (where a terminal may wrap), ending in "…" when cut. It counts
// one column per rune (an invalid byte counts as one) and never splits a
// multibyte character.
func clip(line []byte, width int) []byte {
	limit := width - 1
	if limit < 1 {
		return nil
	}
	n, cut := 0, -1 // runes seen; byte offset after limit−1 runes
	for i := 0; i < len(line); {
		if n == limit-1 {
			cut = i
		}
		_, size := utf8.DecodeRune(line[i:])
		i += size
		n++
		if n > limit {
			out := make([]byte, 0, cut+len("…"))
			out = append(out, line[:cut]...)
			return append(out, "…"...)
		}
	}
	return line
}

// eraseLine moves to the start of the terminal line and clears it.
const eraseLine = "\r\x1b[K"

// writeLine writes b to dst in one Write. A write error is remembered, not
// returned: a worker must never block because nobody reads its output. On
// a terminal with a status line, the status is erased first and redrawn
// after b.
func (o *output) writeLine(dst io.Writer, b []byte) {
	o.mu.Lock()
	defer o.mu.Unlock()
	pinned := o.terminal && o.status != nil
	if pinned {
		o.write(o.stdout, []byte(eraseLine))
	}
	o.write(dst, b)
	if pinned {
		o.write(o.stdout, clip(o.status, o.cols()))
	}
}

// write writes b to dst, remembering the first error. o.mu must be held.
func (o *output) write(dst io.Writer, b []byte) {
	if _, err := dst.Write(b); err != nil && o.err == nil {
		o.err = err
	}
}

// setStatus pins line (without its newline) as the status line. It is
// drawn now if redraw is set, else after the next line written.
func (o *output) setStatus(line []byte, redraw bool) {
	if !o.terminal {
		return
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if redraw && o.status != nil && bytes.Equal(o.status, line) {
		return // drawn already
	}
	o.status = append(o.status[:0], line...)
	if redraw {
		o.write(o.stdout, []byte(eraseLine))
		o.write(o.stdout, clip(o.status, o.cols()))
	}
}

// clearStatus erases the status line from the terminal, at the end.
func (o *output) clearStatus() {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.terminal && o.status != nil {
		o.write(o.stdout, []byte(eraseLine))
		o.status = nil
	}
}

// writeErr returns the first error of a write to stdout or stderr.
func (o *output) writeErr() error {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.err
}

// rankPrefix returns "[rank] " with rank padded to the width of the
// largest rank of an np-process job.
func rankPrefix(rank, np int) string {
	width := len(fmt.Sprint(np - 1))
	return fmt.Sprintf("[%*d] ", width, rank)
}

// lineWriter is the stdout or stderr of one worker. It splits what the
// worker writes into lines and hands each one, prefixed, to the output and
// to the worker's tail.
//
// Write is called by a single goroutine of exec.Cmd, and flush only after
// exec.Cmd.Wait returned, so lineWriter needs no lock of its own.
type lineWriter struct {
	out    *output
	dst    io.Writer
	prefix string
	tail   *tail
	status func(line []byte) ([]byte, bool) // the status of a line and whether to hide it ([StatusFunc]); nil: none
	sink   func(line []byte)                // if not nil, receives each line instead of out and dst

	pending []byte // start of the current line, at most maxLineLen bytes
	scratch []byte // prefix + line + "\n" being written
}

// Write implements io.Writer. It always consumes all of p.
func (w *lineWriter) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 {
		i := bytes.IndexByte(p, '\n')
		seg := p
		if i >= 0 {
			seg = p[:i]
		}
		for len(seg) > 0 {
			if len(w.pending) == maxLineLen {
				// More of an over-long line: write the full piece.
				w.emit()
			}
			k := min(len(seg), maxLineLen-len(w.pending))
			w.pending = append(w.pending, seg[:k]...)
			seg = seg[k:]
		}
		if i < 0 {
			break
		}
		w.emit()
		p = p[i+1:]
	}
	return n, nil
}

// flush writes a final line that did not end in a newline.
func (w *lineWriter) flush() {
	if len(w.pending) > 0 {
		w.emit()
	}
}

// emit writes the pending line and empties it.
func (w *lineWriter) emit() {
	if w.sink != nil {
		w.sink(w.pending)
		w.tail.add(w.pending)
		w.pending = w.pending[:0]
		return
	}
	if w.status != nil {
		status, hide := w.status(w.pending)
		if status != nil {
			w.out.setStatus(status, hide)
		}
		if hide {
			w.pending = w.pending[:0]
			return
		}
	}
	w.scratch = append(w.scratch[:0], w.prefix...)
	w.scratch = append(w.scratch, w.pending...)
	w.scratch = append(w.scratch, '\n')
	w.out.writeLine(w.dst, w.scratch)
	w.tail.add(w.pending)
	w.pending = w.pending[:0]
	if cap(w.pending) > maxIdleBuf {
		w.pending = nil
	}
	if cap(w.scratch) > maxIdleBuf {
		w.scratch = nil
	}
}

// tail keeps the last lines written by one worker on both its streams.
type tail struct {
	mu    sync.Mutex // guards lines, next and full
	lines []string   // ring buffer
	next  int        // index in lines of the next line to overwrite
	full  bool       // whether the ring has wrapped around
}

func newTail(n int) *tail {
	return &tail{lines: make([]string, n)}
}

// add records line, truncated to maxTailLineLen bytes.
func (t *tail) add(line []byte) {
	if len(t.lines) == 0 {
		return
	}
	s := truncate(line, maxTailLineLen)
	t.mu.Lock()
	defer t.mu.Unlock()
	t.lines[t.next] = s
	t.next++
	if t.next == len(t.lines) {
		t.next = 0
		t.full = true
	}
}

// get returns the recorded lines, oldest first.
func (t *tail) get() []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	if !t.full {
		return append([]string(nil), t.lines[:t.next]...)
	}
	out := make([]string, 0, len(t.lines))
	out = append(out, t.lines[t.next:]...)
	return append(out, t.lines[:t.next]...)
}

// truncate returns b as a string of at most limit bytes plus a "…" marker,
// cut at a UTF-8 character boundary.
func truncate(b []byte, limit int) string {
	if len(b) <= limit {
		return string(b)
	}
	cut := limit
	for cut > 0 && !utf8.RuneStart(b[cut]) {
		cut--
	}
	var sb strings.Builder
	sb.Grow(cut + len("…"))
	sb.Write(b[:cut])
	sb.WriteString("…")
	return sb.String()
}
