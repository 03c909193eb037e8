package launcher

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// SplitCommand splits s into words as a POSIX shell would, without
// expansions: words are separated by blanks; single quotes keep
// everything up to the next single quote; double quotes keep everything
// up to the next unescaped double quote, where a backslash escapes ", \,
// $ and `; outside quotes a backslash escapes the next character. It is
// how fltk-launch reads --ssh ("ssh -p 2222 -i 'my key'").
func SplitCommand(s string) ([]string, error) {
	var words []string
	var cur strings.Builder
	inWord := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n':
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
				inWord = false
			}
		case c == '\'':
			j := strings.IndexByte(s[i+1:], '\'')
			if j < 0 {
				return nil, fmt.Errorf("launcher: unterminated single quote in %q", s)
			}
			cur.WriteString(s[i+1 : i+1+j])
			i += j + 1
			inWord = true
		case c == '"':
			i++
			for ; i < len(s) && s[i] != '"'; i++ {
				if s[i] == '\\' && i+1 < len(s) && strings.IndexByte("\"\\$`", s[i+1]) >= 0 {
					i++
				}
				cur.WriteByte(s[i])
			}
			if i >= len(s) {
				return nil, fmt.Errorf("launcher: unterminated double quote in %q", s)
			}
			inWord = true
		case c == '\\':
			if i+1 >= len(s) {
				return nil, fmt.Errorf("launcher: trailing backslash in %q", s)
			}
			i++
			cur.WriteByte(s[i])
			inWord = true
		default:
			cur.WriteByte(c)
			inWord = true
		}
	}
	if inWord {
		words = append(words, cur.String())
	}
	return words, nil
}

// shellQuote quotes s for a POSIX shell: unchanged if it is made of safe
// characters, else in single quotes.
func shellQuote(s string) string {
	if s != "" && strings.IndexFunc(s, func(r rune) bool {
		return !(isHostRune(r) || strings.ContainsRune("/:=+,@%", r))
	}) < 0 {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// shellJoin quotes and joins argv into one shell command line.
func shellJoin(argv []string) string {
	q := make([]string, len(argv))
	for i, a := range argv {
		q[i] = shellQuote(a)
	}
	return strings.Join(q, " ")
}

// IsLocalHost reports whether a host of --hosts is this machine, reached
// without ssh: "localhost" or "127.0.0.1".
func IsLocalHost(name string) bool {
	return name == "localhost" || name == "127.0.0.1"
}

// hostTag returns the name of a host in output tags and messages: its
// name without a user@ part.
func hostTag(name string) string {
	if _, h, ok := strings.Cut(name, "@"); ok {
		return h
	}
	return name
}

// remote runs shell command lines on hosts.
type remote struct {
	ssh            []string // ssh argv
	connectTimeout time.Duration
}

// argv returns the argv that runs the shell command line line on host:
// "sh -c line" for a local host, else ssh in batch mode with a connect
// timeout and no tty, then the host and the line.
func (r remote) argv(host, line string) []string {
	if IsLocalHost(host) {
		return []string{"/bin/sh", "-c", line}
	}
	argv := append([]string(nil), r.ssh...)
	secs := max(1, int(r.connectTimeout/time.Second))
	return append(argv, "-o", "BatchMode=yes", "-o", "ConnectTimeout="+strconv.Itoa(secs), "-T", host, line)
}

// command returns the command running line on host, in a process group
// of its own: a SIGINT from the terminal must reach the launcher only,
// which forwards it over the agent protocol instead of killing the
// connection.
func (r remote) command(host, line string) *exec.Cmd {
	argv := r.argv(host, line)
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	return cmd
}

// run runs line on host with stdin, and returns its trimmed stdout. Its
// errors name what failed: ssh itself (exit 255), a missing command
// (exit 127), with the last lines of stderr.
func (r remote) run(ctx context.Context, host, line string, stdin io.Reader) (string, error) {
	argv := r.argv(host, line)
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	var stdout, stderr bytes.Buffer
	cmd.Stdin, cmd.Stdout, cmd.Stderr = stdin, &stdout, &stderr
	err := cmd.Run()
	if err == nil {
		return strings.TrimSpace(stdout.String()), nil
	}
	msg := lastLines(stderr.String(), 3)
	var ee *exec.ExitError
	switch {
	case ctx.Err() != nil:
		return "", fmt.Errorf("%w (%s)", ctx.Err(), msg)
	case errors.As(err, &ee) && ee.ExitCode() == 255 && !IsLocalHost(host):
		return "", fmt.Errorf("ssh failed (exit 255): %s", msg)
	case errors.As(err, &ee) && ee.ExitCode() == 127:
		return "", fmt.Errorf("command not found (exit 127): %s", msg)
	case errors.As(err, &ee):
		return "", fmt.Errorf("exit status %d: %s", ee.ExitCode(), msg)
	}
	return "", err
}

// lastLines returns the last n non-empty lines of s joined with " | ",
// or "no output".
func lastLines(s string, n int) string {
	var lines []string
	for l := range strings.SplitSeq(s, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			lines = append(lines, l)
		}
	}
	if len(lines) == 0 {
		return "no output"
	}
	return strings.Join(lines[max(0, len(lines)-n):], " | ")
}

// copyFiles makes a per-job directory /tmp/fltk-<job>-XXXXXX on host and
// copies files into it, through "cat >" over the same connection options
// as the agent. It returns the directory; on error it has removed it.
func (r remote) copyFiles(ctx context.Context, host, job string, files []string) (string, error) {
	dir, err := r.run(ctx, host, "mktemp -d "+shellQuote("/tmp/fltk-"+safeName(job)+"-XXXXXX"), nil)
	if err != nil {
		return "", fmt.Errorf("making the job directory: %w", err)
	}
	if !isJobDir(dir) {
		return "", fmt.Errorf("making the job directory: mktemp printed %q", dir)
	}
	for _, f := range files {
		if err := r.copyFile(ctx, host, f, dir); err != nil {
			_ = r.removeDir(context.WithoutCancel(ctx), host, dir)
			return "", err
		}
	}
	return dir, nil
}

func (r remote) copyFile(ctx context.Context, host, file, dir string) error {
	in, err := os.Open(file)
	if err != nil {
		return fmt.Errorf("copying: %w", err)
	}
	defer in.Close()
	st, err := in.Stat()
	if err != nil {
		return fmt.Errorf("copying: %w", err)
	}
	dst := shellQuote(filepath.Join(dir, filepath.Base(file)))
	line := fmt.Sprintf("cat > %s && chmod %o %s", dst, st.Mode().Perm(), dst)
	if _, err := r.run(ctx, host, line, in); err != nil {
		return fmt.Errorf("copying %s to %s: %w", file, dir, err)
	}
	return nil
}

// removeDir removes a directory copyFiles made, and checks it is gone.
func (r remote) removeDir(ctx context.Context, host, dir string) error {
	if !isJobDir(dir) {
		return fmt.Errorf("refusing to remove %q", dir)
	}
	ctx, cancel := context.WithTimeout(ctx, r.connectTimeout+30*time.Second)
	defer cancel()
	q := shellQuote(dir)
	_, err := r.run(ctx, host, "rm -rf -- "+q+" && test ! -e "+q, nil)
	return err
}

// copiedArgv returns argv with every element that is one of files
// replaced by its copy in dir.
func copiedArgv(argv, files []string, dir string) []string {
	out := make([]string, len(argv))
	for i, a := range argv {
		out[i] = a
		for _, f := range files {
			if a == f {
				out[i] = filepath.Join(dir, filepath.Base(f))
			}
		}
	}
	return out
}
