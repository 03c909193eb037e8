package launcher

import (
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// TestShellJoin checks that /bin/sh turns shellJoin(argv) back into argv:
// what the remote shell does with the agent's command line.
func TestShellJoin(t *testing.T) {
	argv := []string{"/opt/fltk bin/fltk", "it's", `a"b`, "$HOME", "`x`", "back\\slash", "new\nline", "", "plain-arg_1.0", "a=b,c:d@e%f+g"}
	out, err := exec.Command("/bin/sh", "-c", `p() { for a in "$@"; do printf '%s\0' "$a"; done; }; p `+shellJoin(argv)).Output()
	if err != nil {
		t.Fatal(err)
	}
	got := strings.Split(strings.TrimSuffix(string(out), "\x00"), "\x00")
	if !slices.Equal(got, argv) {
		t.Errorf("sh split shellJoin(%q) into %q", argv, got)
	}
}

// FuzzSplitShellQuote checks that SplitCommand undoes shellQuote.
func FuzzSplitShellQuote(f *testing.F) {
	for _, s := range []string{"", "ssh", "it's", `a"b\c`, "a b\tc\nd", "'''"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := SplitCommand(shellQuote(s))
		if err != nil || !slices.Equal(got, []string{s}) {
			t.Errorf("SplitCommand(shellQuote(%q)) = %q, %v", s, got, err)
		}
	})
}

// FuzzReadMessages feeds arbitrary agent protocol streams to the decoder:
// it must return (an error or nil at EOF), never panic or hang.
func FuzzReadMessages(f *testing.F) {
	f.Add([]byte(`{"type":"hello","addr":"10.0.0.2"}` + "\n" + `{"type":"line","rank":3,"line":"x"}` + "\n"))
	f.Add([]byte(`{"type":"start","start":{"ranks":[1,2],"command":["a"],"rank_env":{"1":["A=B"]}}}`))
	f.Add([]byte("{\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		ch := make(chan message, 1)
		done := make(chan error, 1)
		go func() { done <- readMessages(strings.NewReader(string(b)), ch) }()
		for range ch {
		}
		<-done
	})
}
