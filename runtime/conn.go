package runtime

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io/fs"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
)

func (w *World) connect(ctx context.Context) (*nats.Conn, error) {
	opts := []nats.Option{
		nats.Name(fmt.Sprintf("fltk job %s rank %d", w.cfg.JobID, w.rank)),
		nats.NoEcho(),
		nats.NoReconnect(),
		nats.Timeout(2 * time.Second),
		nats.ReconnectBufSize(-1),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err == nil {
				err = errors.New("connection closed")
			}
			w.lost(err)
		}),
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
			w.lost(err)
		}),
	}
	if w.cfg.Token != "" {
		opts = append(opts, nats.Token(w.cfg.Token))
	}
	if w.cfg.CAFile != "" {
		opts = append(opts, nats.RootCAs(w.cfg.CAFile))
	}
	if w.cfg.CredsFile != "" {
		opts = append(opts, nats.UserCredentials(w.cfg.CredsFile))
	}
	url := w.cfg.URL
	if url == "" {
		opts = append(opts, nats.InProcessServer(w.cfg.Server.ns))
		url = "in-process"
	}
	backoff := 50 * time.Millisecond
	for {
		nc, err := nats.Connect(url, opts...)
		if err == nil {
			return nc, nil
		}
		if errors.Is(err, nats.ErrAuthorization) || strings.Contains(err.Error(), "Authorization") {
			what := "the token"
			switch {
			case w.cfg.Token == "" && w.cfg.CredsFile == "":
				what = "the connection without a token or credentials"
			case w.cfg.CredsFile != "":
				what = "the credentials in " + w.cfg.CredsFile
			}
			return nil, fmt.Errorf("runtime: rank %d: NATS server at %s rejected %s: %w", w.rank, url, what, err)
		}
		if fatalConnectError(err) {
			return nil, fmt.Errorf("runtime: rank %d: cannot connect to %s: %w", w.rank, url, err)
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("%w: rank %d could not connect to %s within %v: %w", ErrUnreachable, w.rank, url, w.cfg.RendezvousTimeout, err)
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, time.Second)
	}
}

// fatalConnectError reports whether retrying cannot help: TLS required or
// refused, a certificate that does not verify, unreadable credentials.
func fatalConnectError(err error) bool {
	var cve *tls.CertificateVerificationError
	var uae x509.UnknownAuthorityError
	var hne x509.HostnameError
	var pe *fs.PathError
	return errors.Is(err, nats.ErrSecureConnRequired) || errors.Is(err, nats.ErrSecureConnWanted) ||
		errors.As(err, &cve) || errors.As(err, &uae) || errors.As(err, &hne) || errors.As(err, &pe) ||
		strings.Contains(err.Error(), "nkey") || strings.Contains(err.Error(), "jwt")
}

// lost reports the connection or a subscription broke: every pending
// collective fails.
func (w *World) lost(err error) {
	w.mu.Lock()
	closing := w.closing
	w.mu.Unlock()
	if !closing {
		w.reportDown(-1, fmt.Errorf("%w: %w", ErrDisconnected, err))
	}
}

func (w *World) subscribe() error {
	sub := func(subject string, h nats.MsgHandler) (*nats.Subscription, error) {
		s, err := w.nc.Subscribe(subject, h)
		if err != nil {
			return nil, fmt.Errorf("runtime: subscribe %s: %w", subject, err)
		}
		// Collectives bound what is in flight with credits; never drop.
		if err := s.SetPendingLimits(-1, -1); err != nil {
			return nil, fmt.Errorf("runtime: subscribe %s: %w", subject, err)
		}
		w.subs = append(w.subs, s)
		return s, nil
	}
	me := strconv.Itoa(w.rank)
	for _, s := range []struct {
		subject string
		h       nats.MsgHandler
	}{
		{w.prefix + ".p." + me + ".*", w.handleData},
		{w.prefix + ".b.*", w.handleData},
		{w.prefix + ".hb.*", w.handleHeartbeat},
		{w.prefix + ".bye.*", w.handleBye},
	} {
		if _, err := sub(s.subject, s.h); err != nil {
			return err
		}
	}
	// One subscription per sender, so that setMutual can drop those of
	// the ranks sharing memory with this one: their h.* frames would only
	// cost the local server a copy each.
	w.remoteSubs = make([]*nats.Subscription, w.size)
	for r := range w.size {
		if r != w.rank {
			s, err := sub(w.prefix+".h."+strconv.Itoa(r), w.handleRemote)
			if err != nil {
				return err
			}
			w.remoteSubs[r] = s
		}
	}
	return nil
}

// senderOf parses the last token of a subject as a rank.
func (w *World) senderOf(subject string) (int, bool) {
	i := strings.LastIndexByte(subject, '.')
	r, err := strconv.Atoi(subject[i+1:])
	return r, err == nil && r >= 0 && r < w.size && r != w.rank
}
