// Package e2e holds the end-to-end tests: real fltk and fltk-launch
// binaries, real worker processes, a real NATS server. It has no code of
// its own.
package e2e
