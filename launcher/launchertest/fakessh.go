// Package launchertest provides what tests of multi-host launches share:
// an ssh stand-in that runs the "remote" command on this machine.
package launchertest

import (
	"os"
	"path/filepath"
	"testing"
)

// fakeSSH takes ssh's argv (options, host, command) and runs the remote
// command line with /bin/sh as a child (not exec, so that killing it is
// like a dropped connection: the remote side only sees EOF), with
// FLTK_HOST set to the host, and records its pid in DIR/ssh-HOST.pid.
// Host "bad" is unreachable (exit 255, as ssh); on host "nobin" the
// binaries' directory (DIR/bindir) does not exist, so the remote shell
// fails with "not found" (exit 127).
const fakeSSH = `#!/bin/sh
while [ $# -gt 2 ]; do shift; done
host=$1
cmd=$2
dir=$(dirname "$0")
case "$host" in
bad) echo "ssh: connect to host bad port 22: Connection refused" >&2; exit 255;;
nobin) cmd=$(printf '%s' "$cmd" | sed "s#$(cat "$dir/bindir")#/nonexistent#g");;
esac
echo $$ > "$dir/ssh-$host.pid"
FLTK_HOST=$host
export FLTK_HOST
/bin/sh -c "$cmd"
`

// FakeSSH writes the ssh stand-in into a new temporary directory of t and
// returns its path; binDir is the directory of the binaries the remote
// commands name, which host "nobin" lacks. The pid files ssh-HOST.pid go
// next to it (see PIDFile).
func FakeSSH(t testing.TB, binDir string) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "bindir"), []byte(binDir), 0o644); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, "ssh")
	if err := os.WriteFile(p, []byte(fakeSSH), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

// PIDFile returns the file in which the stand-in at ssh records the pid
// of its last connection to host.
func PIDFile(ssh, host string) string {
	return filepath.Join(filepath.Dir(ssh), "ssh-"+host+".pid")
}
