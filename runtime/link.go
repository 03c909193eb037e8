package runtime

import (
	"bufio"
	"context"
	"crypto/subtle"
	"crypto/tls"
	"crypto/x509"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// Direct links carry the point-to-point frames between ranks on different
// hosts over one TCP connection per ordered pair of ranks, instead of
// through the sender's host server, a cluster route and the receiver's
// host server: one store-and-forward process per hop instead of three
// (bench-multihost.sh, the 1 MiB cells at 1 Gbit/s). Fan-out frames,
// heartbeats, goodbyes and control messages stay on NATS.
//
// A rank listens on Config.LinkAddr and names its listener in its hello;
// rank 0's verdict hands every rank the roster of listeners. The sender
// dials lazily, on its first frame to a peer, and every later
// point-to-point frame to that peer takes the link, so frames between two
// ranks stay in order. A dial that fails sends the frames through the
// server instead, for the rest of the world's life (logged once). With
// Config.LinkCertFile the connection is mutual TLS under the job's CA; the
// handshake names the job, both ranks and the job's token either way, and
// the listener refuses anything else (logged, nothing delivered).
//
// Wire format: the dialer writes linkMagic, its rank and the receiver's
// (uint16 each), the job id and the token (a length byte each); the
// listener answers one byte, 0 for welcome, else a length byte and why.
// Then frames: a uint32 length, the bytes.

const (
	linkMagic     = "FLTKLNK1"
	linkDialWait  = 5 * time.Second // bounds the dial and the handshake
	linkFlushWait = 5 * time.Second // bounds Close's wait for queued frames
)

// links is a rank's direct links: its listener, the peers' addresses, the
// connections.
type links struct {
	ln    net.Listener
	tls   *tls.Config // nil: plain TCP
	addrs []string    // by rank, from the verdict ("" = none)

	mu     sync.Mutex
	out    []*linkOut          // by rank, created on first use
	in     map[net.Conn]int    // accepted connections and their senders
	bad    map[string]struct{} // refusals already logged, by reason
	closed bool                // closeLinks ran: no connection is taken in

	frames atomic.Int64 // frames sent over links
}

// listenLinks opens the listener of cfg.LinkAddr ("" = no links).
func listenLinks(cfg Config) (*links, error) {
	if cfg.LinkAddr == "" {
		return nil, nil
	}
	var tc *tls.Config
	if cfg.LinkCertFile != "" {
		cert, err := tls.LoadX509KeyPair(cfg.LinkCertFile, cfg.LinkKeyFile)
		if err != nil {
			return nil, fmt.Errorf("runtime: direct links: %w", err)
		}
		pem, err := os.ReadFile(cfg.CAFile)
		if err != nil {
			return nil, fmt.Errorf("runtime: direct links: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("runtime: direct links: no certificate in %s", cfg.CAFile)
		}
		tc = &tls.Config{
			Certificates: []tls.Certificate{cert},
			RootCAs:      pool,
			ClientCAs:    pool,
			ClientAuth:   tls.RequireAndVerifyClientCert,
			MinVersion:   tls.VersionTLS13,
		}
	}
	ln, err := net.Listen("tcp", net.JoinHostPort(cfg.LinkAddr, "0"))
	if err != nil {
		return nil, fmt.Errorf("runtime: direct links: %w", err)
	}
	return &links{ln: ln, tls: tc, in: map[net.Conn]int{}, bad: map[string]struct{}{}}, nil
}

// addr is the listener's address, as the hello names it.
func (l *links) addr() string {
	if l == nil {
		return ""
	}
	return l.ln.Addr().String()
}

// LinkFrames returns how many frames this rank sent over direct links.
func (w *World) LinkFrames() int64 {
	if w.links == nil {
		return 0
	}
	return w.links.frames.Load()
}

// setLinks records the roster of listeners from rank 0's verdict; without
// a listener here, or with a roster missing, there are no links.
func (w *World) setLinks(addrs []string) {
	if w.links == nil {
		return
	}
	if len(addrs) != w.size || w.rejoined {
		w.closeLinks()
		w.links = nil
		return
	}
	w.links.addrs = addrs
	w.links.out = make([]*linkOut, w.size)
}

// linked reports whether point-to-point frames to r take a direct link.
func (w *World) linked(r int) bool {
	l := w.links
	return l != nil && l.addrs[r] != "" && w.hostOf[r] != w.hostOf[w.rank] && !w.cut[r].Load()
}

// closeLinks closes the listener and every connection (the goroutines
// reading or writing them end).
func (w *World) closeLinks() {
	l := w.links
	if l == nil {
		return
	}
	_ = l.ln.Close()
	l.mu.Lock()
	defer l.mu.Unlock()
	l.closed = true
	for c := range l.in {
		_ = c.Close()
	}
	for _, o := range l.out {
		if o != nil {
			o.close()
		}
	}
}

// flushLinks waits until every queued frame was written, at most
// linkFlushWait, so that a goodbye's counts do not outrun the frames.
func (w *World) flushLinks() {
	l := w.links
	if l == nil {
		return
	}
	deadline := time.Now().Add(linkFlushWait)
	l.mu.Lock()
	outs := append([]*linkOut(nil), l.out...)
	l.mu.Unlock()
	w.mu.Lock()
	down := maps.Clone(w.down)
	w.mu.Unlock()
	for _, o := range outs {
		if o == nil {
			continue
		}
		if _, gone := down[o.to]; gone {
			continue // nobody reads: the frames are lost anyway
		}
		if !o.flush(deadline) {
			w.log.Warn("direct link: frames still queued at close", LogKeyPeer, o.to)
		}
	}
}

// refuseLink logs why a connection was refused, once per reason.
func (w *World) refuseLink(l *links, c net.Conn, why string) {
	l.mu.Lock()
	_, seen := l.bad[why]
	l.bad[why] = struct{}{}
	l.mu.Unlock()
	if !seen {
		w.log.Warn("direct link refused", "remote", c.RemoteAddr().String(), "why", why)
	}
	if len(why) > 255 { // the answer's length is one byte
		why = why[:255]
	}
	_ = c.SetWriteDeadline(time.Now().Add(time.Second))
	_, _ = c.Write(append([]byte{1, byte(len(why))}, why...))
	_ = c.Close()
}

// acceptLinks accepts connections until the listener closes. It runs
// from the listener's opening, before the rendezvous ends, so that a peer
// whose Join ended first does not wait for this one's.
func (w *World) acceptLinks(l *links) {
	for {
		c, err := l.ln.Accept()
		if err != nil {
			return // closed
		}
		if !w.trackIn(l, c, -1) {
			_ = c.Close()
			return
		}
		w.wg.Go(func() { w.readLink(l, c) })
	}
}

// trackIn records c (from rank from, -1 until the handshake); false when
// the world is closing.
func (w *World) trackIn(l *links, c net.Conn, from int) bool {
	select {
	case <-w.done:
		return false
	default:
	}
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return false
	}
	defer l.mu.Unlock()
	l.in[c] = from
	return true
}

// readLink runs the listener's side of one connection: the handshake, then
// every frame to w.deliver.
func (w *World) readLink(l *links, c net.Conn) {
	raw := c // closing it ends a TLS connection on top too
	defer func() {
		l.mu.Lock()
		delete(l.in, raw)
		l.mu.Unlock()
		_ = raw.Close()
	}()
	if l.tls != nil {
		tc := tls.Server(c, l.tls)
		_ = tc.SetDeadline(time.Now().Add(linkDialWait))
		if err := tc.Handshake(); err != nil {
			w.refuseLink(l, c, "TLS: "+err.Error())
			return
		}
		c = tc
	}
	_ = c.SetDeadline(time.Now().Add(linkDialWait))
	br := bufio.NewReaderSize(c, 256<<10)
	from, why := w.linkHandshake(br)
	if why != "" {
		w.refuseLink(l, c, why)
		return
	}
	if !w.trackIn(l, raw, from) {
		return
	}
	_ = c.SetDeadline(time.Time{})
	if _, err := c.Write([]byte{0}); err != nil {
		return
	}
	var hdr [4]byte
	var buf []byte
	for {
		if _, err := io.ReadFull(br, hdr[:]); err != nil {
			return // EOF at a frame boundary: the sender closed, or the world is closing
		}
		n := int(binary.BigEndian.Uint32(hdr[:]))
		if n > w.maxFrame {
			w.reportDown(from, fmt.Errorf("%w: a %d-byte frame on the direct link from rank %d (the limit is %d)", ErrProtocol, n, from, w.maxFrame))
			return
		}
		if cap(buf) < n {
			buf = make([]byte, n)
		}
		if _, err := io.ReadFull(br, buf[:n]); err != nil {
			if w.linkClosing() {
				return
			}
			w.reportDown(from, fmt.Errorf("%w: the direct link from rank %d broke within a frame: %w", ErrDisconnected, from, err))
			return
		}
		w.deliver(from, buf[:n], false)
	}
}

// linkClosing reports whether this world is closing.
func (w *World) linkClosing() bool {
	select {
	case <-w.done:
		return true
	default:
		return false
	}
}

// linkHandshake reads a dialer's greeting and returns its rank, or why it
// is refused.
func (w *World) linkHandshake(br *bufio.Reader) (int, string) {
	var fixed [len(linkMagic) + 4]byte
	if _, err := io.ReadFull(br, fixed[:]); err != nil {
		return 0, "no greeting: " + err.Error()
	}
	if string(fixed[:len(linkMagic)]) != linkMagic {
		return 0, "not an fltk link"
	}
	from := int(binary.BigEndian.Uint16(fixed[len(linkMagic):]))
	to := int(binary.BigEndian.Uint16(fixed[len(linkMagic)+2:]))
	job, err1 := readShort(br)
	token, err2 := readShort(br)
	switch {
	case err1 != nil || err2 != nil:
		return 0, "truncated greeting"
	case job != w.cfg.JobID:
		return 0, fmt.Sprintf("job %q, this is job %q", job, w.cfg.JobID)
	case subtle.ConstantTimeCompare([]byte(token), []byte(w.cfg.Token)) != 1:
		return 0, "wrong token"
	case to != w.rank:
		return 0, fmt.Sprintf("meant for rank %d, this is rank %d", to, w.rank)
	case from < 0 || from >= w.size || from == w.rank:
		return 0, fmt.Sprintf("sender rank %d out of range", from)
	case w.cut[from].Load():
		return 0, fmt.Sprintf("rank %d was readmitted: its frames go through the server", from)
	}
	return from, ""
}

func readShort(br *bufio.Reader) (string, error) {
	n, err := br.ReadByte()
	if err != nil {
		return "", err
	}
	b := make([]byte, n)
	_, err = io.ReadFull(br, b)
	return string(b), err
}

// linkSend queues frame for the direct link to rank to.
func (w *World) linkSend(to int, frame []byte) error {
	l := w.links
	l.mu.Lock()
	o := l.out[to]
	if o == nil {
		o = &linkOut{w: w, to: to, kick: make(chan struct{}, 1)}
		l.out[to] = o
		w.wg.Go(o.run)
	}
	l.mu.Unlock()
	w.sent[to].Add(1)
	return o.queue(frame)
}

// linkOut is the sending side of the link to one rank: Send queues a copy
// of each frame, run writes them (a Send never blocks on a slow link;
// collectives bound what is in flight with credits).
type linkOut struct {
	w    *World
	to   int
	kick chan struct{}

	mu      sync.Mutex
	q       [][]byte // frames with their length headers
	writing bool     // run holds frames taken from q
	conn    net.Conn
	viaNATS bool  // the dial failed: frames go through the server
	err     error // the link broke: Send fails
	closed  bool
}

var linkBufs sync.Pool // *[]byte

func (o *linkOut) queue(frame []byte) error {
	var b []byte
	if p, _ := linkBufs.Get().(*[]byte); p != nil && cap(*p) >= len(frame)+4 {
		b = (*p)[:len(frame)+4]
	} else {
		b = make([]byte, len(frame)+4)
	}
	binary.BigEndian.PutUint32(b, uint32(len(frame)))
	copy(b[4:], frame)
	o.mu.Lock()
	if o.err != nil {
		o.mu.Unlock()
		return o.err
	}
	o.q = append(o.q, b)
	o.mu.Unlock()
	select {
	case o.kick <- struct{}{}:
	default:
	}
	return nil
}

// run dials, then writes what is queued until the world closes.
func (o *linkOut) run() {
	w := o.w
	for {
		select {
		case <-w.done:
			o.close()
			return
		case <-o.kick:
		}
		o.mu.Lock()
		if o.conn == nil && !o.viaNATS && o.err == nil && !o.closed {
			o.mu.Unlock()
			c, err := w.dialLink(o.to)
			o.mu.Lock()
			switch {
			case o.closed:
				if c != nil {
					_ = c.Close()
				}
			case err != nil:
				o.viaNATS = true
				w.log.Warn("direct link failed: frames go through the NATS server", LogKeyPeer, o.to, "addr", w.links.addrs[o.to], "err", err)
			default:
				o.conn = c
			}
		}
		q := o.q
		o.q = nil
		o.writing = true
		conn, viaNATS := o.conn, o.viaNATS
		o.mu.Unlock()
		err := o.write(conn, viaNATS, q)
		o.mu.Lock()
		o.writing = false
		report := err != nil && o.err == nil && !o.closed
		if report {
			o.err = fmt.Errorf("%w: direct link to rank %d: %w", ErrDisconnected, o.to, err)
		}
		o.mu.Unlock()
		if report {
			w.reportDown(o.to, o.err)
		}
	}
}

// write sends q over conn, or through the server when viaNATS, and
// recycles the buffers.
func (o *linkOut) write(conn net.Conn, viaNATS bool, q [][]byte) error {
	var err error
	switch {
	case len(q) == 0:
	case viaNATS:
		subject := o.w.prefix + ".p." + strconv.Itoa(o.to) + "." + strconv.Itoa(o.w.rank)
		for _, b := range q {
			if err == nil {
				err = o.w.nc.Publish(subject, b[4:])
			}
		}
	case conn == nil:
		err = ErrClosed
	default:
		bufs := net.Buffers(append([][]byte(nil), q...))
		_, err = bufs.WriteTo(conn)
		if b, ok := conn.(*batchTLS); ok && err == nil {
			err = b.bc.flush()
		}
		if err == nil {
			o.w.links.frames.Add(int64(len(q)))
		}
	}
	for _, b := range q {
		linkBufs.Put(&b)
	}
	return err
}

// flush waits until the queue is written, or deadline; false on timeout.
func (o *linkOut) flush(deadline time.Time) bool {
	for {
		o.mu.Lock()
		idle := (len(o.q) == 0 && !o.writing) || o.err != nil || o.closed
		o.mu.Unlock()
		if idle {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(time.Millisecond)
	}
}

// close closes the connection (after a flush, the receiver reads EOF at a
// frame boundary).
func (o *linkOut) close() {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.closed = true
	if o.conn != nil {
		_ = o.conn.Close()
	}
}

// dialLink connects to rank to's listener and greets it.
func (w *World) dialLink(to int) (net.Conn, error) {
	addr := w.links.addrs[to]
	ctx, cancel := context.WithTimeout(context.Background(), linkDialWait)
	defer cancel()
	go func() { // ends with the dial: cancel runs on return
		select {
		case <-w.done:
			cancel()
		case <-ctx.Done():
		}
	}()
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetNoDelay(true)
	}
	dl, _ := ctx.Deadline()
	_ = c.SetDeadline(dl)
	if w.links.tls != nil {
		host, _, _ := net.SplitHostPort(addr)
		cfg := w.links.tls.Clone()
		cfg.ServerName = host
		bc := newBatchConn(c)
		tc := tls.Client(bc, cfg)
		if err := tc.HandshakeContext(ctx); err != nil {
			_ = c.Close()
			return nil, fmt.Errorf("TLS: %w", err)
		}
		c = &batchTLS{Conn: tc, bc: bc}
	}
	hello := append([]byte(linkMagic), 0, 0, 0, 0)
	binary.BigEndian.PutUint16(hello[len(linkMagic):], uint16(w.rank))
	binary.BigEndian.PutUint16(hello[len(linkMagic)+2:], uint16(to))
	hello = append(append(hello, byte(len(w.cfg.JobID))), w.cfg.JobID...)
	hello = append(append(hello, byte(len(w.cfg.Token))), w.cfg.Token...)
	if _, err := c.Write(hello); err != nil {
		_ = c.Close()
		return nil, err
	}
	var ack [2]byte
	if _, err := io.ReadFull(c, ack[:1]); err != nil {
		_ = c.Close()
		return nil, fmt.Errorf("no answer to the greeting: %w", err)
	}
	if ack[0] != 0 {
		why := "refused"
		if _, err := io.ReadFull(c, ack[1:]); err == nil {
			b := make([]byte, ack[1])
			if _, err := io.ReadFull(c, b); err == nil {
				why = "refused: " + string(b)
			}
		}
		_ = c.Close()
		return nil, errors.New(why)
	}
	_ = c.SetDeadline(time.Time{})
	if b, ok := c.(*batchTLS); ok {
		b.bc.startBatching() // the frames' records; the greeting went at once
	}
	return c, nil
}

// cutLink closes the links to and from rank r, readmitted: its new process
// talks through the server (as over shared memory, see World.cut).
func (w *World) cutLink(r int) {
	l := w.links
	if l == nil {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.out != nil && l.out[r] != nil {
		l.out[r].close()
	}
	for c, from := range l.in {
		if from == r {
			_ = c.Close()
		}
	}
}

// linkBatchBytes is how much a TLS link gathers before it writes:
// crypto/tls writes each record (at most 16 KiB) with a write of its own,
// a syscall and a TCP push each; a batch of them fills segments and takes
// one (bench-multihost.sh, 1 MiB at 10gbit).
const linkBatchBytes = 256 << 10

// batchConn is the TCP connection under a link's TLS: once batching
// starts (after the handshake and greeting, which must go at once), it
// keeps the records written until flush or until linkBatchBytes are
// waiting. (Reading through a buffer as well saved nothing measurable:
// bench-multihost.sh, gather and reduce of 1 MiB at 10gbit.)
type batchConn struct {
	net.Conn

	mu    sync.Mutex // Write (under crypto/tls's lock) and flush (outside it)
	buf   []byte
	batch bool
}

func newBatchConn(c net.Conn) *batchConn { return &batchConn{Conn: c} }

func (b *batchConn) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.batch {
		return b.Conn.Write(p)
	}
	if len(b.buf)+len(p) > linkBatchBytes {
		if err := b.flushLocked(); err != nil {
			return 0, err
		}
		if len(p) >= linkBatchBytes {
			return b.Conn.Write(p)
		}
	}
	b.buf = append(b.buf, p...)
	return len(p), nil
}

func (b *batchConn) startBatching() {
	b.mu.Lock()
	b.batch = true
	b.mu.Unlock()
}

// flush writes what is waiting.
func (b *batchConn) flush() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.flushLocked()
}

func (b *batchConn) flushLocked() error {
	if len(b.buf) == 0 {
		return nil
	}
	_, err := b.Conn.Write(b.buf)
	b.buf = b.buf[:0]
	return err
}

// batchTLS is a dialled TLS link and the batchConn under it, which
// linkOut.write flushes after each batch of frames.
type batchTLS struct {
	net.Conn
	bc *batchConn
}
