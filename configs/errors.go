package configs

import (
	"errors"
	"strconv"
	"strings"
)

// Sentinel errors. Every error returned by [Parse], [Load] (other than a
// failure to read the file) and [Config.Validate] is a join of [*Error]
// values, each wrapping exactly one of these.
var (
	// ErrSyntax is wrapped by errors for input that is not valid TOML.
	ErrSyntax = errors.New("configs: syntax error")

	// ErrUnknownKey is wrapped by errors for keys and tables that the
	// configuration does not define. Keys are case sensitive.
	ErrUnknownKey = errors.New("configs: unknown key")

	// ErrType is wrapped by errors for values of the wrong TOML type, such
	// as a string where an integer belongs or a malformed duration.
	ErrType = errors.New("configs: wrong type")

	// ErrInvalid is wrapped by errors for values that decoded but lie
	// outside the allowed range, as reported by [Config.Validate].
	ErrInvalid = errors.New("configs: invalid value")
)

// Error is one problem in a configuration, with its location.
//
// Its message has the form "file:line: message", where the file and line are
// left out when unknown (the line is unknown, for example, for a value that
// failed validation while keeping its default). The message names the dotted
// key, if any.
type Error struct {
	File string // file name given to Parse or Load; "" when from Validate
	Line int    // 1-based line in File; 0 if unknown
	Key  string // dotted key such as "runtime.liveness_timeout"; "" for syntax errors
	Err  error  // the message; wraps one of ErrSyntax, ErrUnknownKey, ErrType, ErrInvalid
}

// Error returns "file:line: message".
func (e *Error) Error() string {
	var b strings.Builder
	switch {
	case e.File != "" && e.Line > 0:
		b.WriteString(e.File)
		b.WriteByte(':')
		b.WriteString(strconv.Itoa(e.Line))
		b.WriteString(": ")
	case e.File != "":
		b.WriteString(e.File)
		b.WriteString(": ")
	case e.Line > 0:
		b.WriteString("line ")
		b.WriteString(strconv.Itoa(e.Line))
		b.WriteString(": ")
	}
	if e.Err != nil {
		b.WriteString(e.Err.Error())
	}
	return b.String()
}

// Unwrap returns e.Err, so that errors.Is(e, ErrInvalid) and friends work.
func (e *Error) Unwrap() error { return e.Err }

// kindError is a message that wraps a sentinel without repeating the
// sentinel's text: errors.Is sees the sentinel, the reader sees msg.
type kindError struct {
	kind error
	msg  string
}

func (e *kindError) Error() string { return e.msg }
func (e *kindError) Unwrap() error { return e.kind }

// newError returns an *Error for key whose message is msg and whose kind is
// one of the sentinels.
func newError(kind error, key, msg string) *Error {
	return &Error{Key: key, Err: &kindError{kind: kind, msg: msg}}
}
