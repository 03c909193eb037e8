// Package testbin builds the project's commands for end-to-end tests, once
// per test binary.
package testbin

import (
	"fmt"
	"os"
	"os/exec"
	"testing"
)

// Main builds github.com/fltk-go/fltk/cmd/... into a new temporary
// directory, stores its path in *dir, runs m and exits with its code,
// removing the directory: the body of an end-to-end package's TestMain.
// A failed build exits 1.
func Main(m *testing.M, dir *string) {
	d, err := os.MkdirTemp("", "fltk-bin")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	build := exec.Command("go", "build", "-o", d+"/", "github.com/fltk-go/fltk/cmd/...")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building the commands:", err)
		os.RemoveAll(d)
		os.Exit(1)
	}
	*dir = d
	code := m.Run()
	os.RemoveAll(d)
	os.Exit(code)
}
