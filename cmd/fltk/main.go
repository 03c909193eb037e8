// Command fltk runs one rank of an fltk job (fltk run, fltk single), spawns
// a local job (fltk spawn) or benchmarks the collectives (fltk bench).
// See "fltk help".
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/fltk-go/fltk/cmd/internal/cli"
)

var version string // set with -ldflags "-X main.version=…"

func main() {
	if version != "" {
		cli.Version = version
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := cli.Fltk(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil && !errors.Is(err, flag.ErrHelp) {
		fmt.Fprintln(os.Stderr, "fltk:", err)
	}
	os.Exit(cli.ExitCode(err))
}
