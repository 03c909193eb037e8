// Command fltk-launch runs an fltk job on this machine: an embedded NATS
// server and N worker processes. See "fltk-launch -help".
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"

	"github.com/fltk-go/fltk/cmd/internal/cli"
)

var version string // set with -ldflags "-X main.version=…"

func main() {
	if version != "" {
		cli.Version = version
	}
	// Signals are forwarded to the workers by cli.Launch, not used to cancel.
	err := cli.Launch(context.Background(), os.Args[1:], os.Stdout, os.Stderr)
	if err != nil && !errors.Is(err, flag.ErrHelp) {
		fmt.Fprintln(os.Stderr, "fltk-launch:", err)
	}
	os.Exit(cli.ExitCode(err))
}
