package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// proc is a child process of a test: it runs in a process group of its own (so that cleanup
// also kills whatever it started), its stdout is kept as lines (the clients print JSON lines)
// and its stderr in a buffer; both go to the test log when the test fails (always when the
// environment has GLINT_E2E_LOG=1).
type proc struct {
	t      *testing.T
	name   string
	cmd    *exec.Cmd
	stderr lockedBuffer
	stdin  io.WriteCloser // nil unless started by startProcStdin

	mu      sync.Mutex
	lines   []string      // complete stdout lines
	partial []byte        // stdout after the last newline
	notify  chan struct{} // closed (and replaced) when a line arrives

	done    chan struct{} // closed when the process has exited and its output is in
	waitErr error         // cmd.Wait's result, set before done is closed
}

// startProc starts name (a label for messages) as argv; env entries are added to os.Environ().
// Its stdin is /dev/null. Cleanup kills its process group unless it has exited, and logs its
// output if the test failed.
func startProc(t *testing.T, name string, env []string, argv ...string) *proc {
	t.Helper()
	return launch(t, name, env, false, argv)
}

// startProcStdin is startProc with a pipe to the process's stdin, for send.
func startProcStdin(t *testing.T, name string, env []string, argv ...string) *proc {
	t.Helper()
	return launch(t, name, env, true, argv)
}

func launch(t *testing.T, name string, env []string, withStdin bool, argv []string) *proc {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(), env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second // grandchildren holding stdout must not hang Wait
	p := &proc{t: t, name: name, cmd: cmd, notify: make(chan struct{}), done: make(chan struct{})}
	cmd.Stdout = (*stdoutLines)(p)
	cmd.Stderr = &p.stderr
	if withStdin {
		var err error
		if p.stdin, err = cmd.StdinPipe(); err != nil {
			cancel()
			t.Fatalf("stdin pipe for %s: %v", name, err)
		}
	}
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatalf("start %s (%s): %v", name, strings.Join(argv, " "), err)
	}
	go func() {
		err := cmd.Wait()
		p.mu.Lock()
		if len(p.partial) > 0 {
			p.lines = append(p.lines, string(p.partial))
			p.partial = nil
		}
		p.waitErr = err
		p.mu.Unlock()
		close(p.done)
	}()
	t.Cleanup(func() {
		cancel() // kills the process group unless the process has exited
		select {
		case <-p.done:
		case <-time.After(10 * time.Second):
			t.Errorf("%s (pid %d) did not exit after SIGKILL", name, cmd.Process.Pid)
		}
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) // stragglers of an exited leader
		if t.Failed() || os.Getenv("GLINT_E2E_LOG") != "" {
			p.logOutput()
		}
	})
	return p
}

// stdoutLines is the proc as the io.Writer of the child's stdout.
type stdoutLines proc

func (w *stdoutLines) Write(b []byte) (int, error) {
	p := (*proc)(w)
	p.mu.Lock()
	defer p.mu.Unlock()
	p.partial = append(p.partial, b...)
	added := false
	for {
		i := bytes.IndexByte(p.partial, '\n')
		if i < 0 {
			break
		}
		p.lines = append(p.lines, string(bytes.TrimRight(p.partial[:i], "\r")))
		p.partial = p.partial[i+1:]
		added = true
	}
	if added {
		close(p.notify)
		p.notify = make(chan struct{})
	}
	return len(b), nil
}

// waitLine returns the first stdout line for which match is true, waiting up to timeout. It
// fails the test when the process exits or the time runs out without such a line.
func (p *proc) waitLine(timeout time.Duration, what string, match func(line string) bool) string {
	p.t.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	next := 0
	for {
		p.mu.Lock()
		fresh, notify := p.lines[next:], p.notify
		p.mu.Unlock()
		for _, line := range fresh {
			next++
			if match(line) {
				return line
			}
		}
		select {
		case <-notify:
		case <-p.done:
			p.mu.Lock()
			more := len(p.lines) > next
			p.mu.Unlock()
			if !more {
				p.t.Fatalf("%s exited (%v) before %s; last output: %s", p.name, p.waitErr, what, p.lastLine())
			}
		case <-deadline.C:
			p.t.Fatalf("%s: no %s within %v; last output: %s", p.name, what, timeout, p.lastLine())
		}
	}
}

// send writes one line to the process's stdin (startProcStdin).
func (p *proc) send(line string) {
	p.t.Helper()
	if p.stdin == nil {
		p.t.Fatalf("%s: no stdin pipe (start it with startProcStdin)", p.name)
	}
	if _, err := io.WriteString(p.stdin, line+"\n"); err != nil {
		p.t.Fatalf("%s: write %q to stdin: %v", p.name, line, err)
	}
}

// terminate sends SIGTERM to the process without waiting; stop or finish collect it.
func (p *proc) terminate() {
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
		p.t.Errorf("SIGTERM %s: %v", p.name, err)
	}
}

// stop sends SIGTERM to the process (not its group: the clients end their children themselves)
// and waits up to timeout for it to exit; it returns the exit error (nil for status 0).
func (p *proc) stop(timeout time.Duration) error {
	p.t.Helper()
	select {
	case <-p.done:
		return p.waitErr
	default:
	}
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
		p.t.Errorf("SIGTERM %s: %v", p.name, err)
	}
	return p.wait(timeout)
}

// wait waits up to timeout for the process to exit by itself; it fails the test if it does not.
func (p *proc) wait(timeout time.Duration) error {
	p.t.Helper()
	select {
	case <-p.done:
		return p.waitErr
	case <-time.After(timeout):
		p.t.Fatalf("%s did not exit within %v; last output: %s", p.name, timeout, p.lastLine())
		return nil
	}
}

// exited reports whether the process has exited.
func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

func (p *proc) output() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.lines...)
}

func (p *proc) lastLine() string {
	lines := p.output()
	if len(lines) == 0 {
		return "(no stdout; stderr ends: " + tail(p.stderr.String(), 600) + ")"
	}
	return tail(lines[len(lines)-1], 1500)
}

func (p *proc) logOutput() {
	p.t.Helper()
	lines := p.output()
	if len(lines) > 40 {
		lines = append([]string{fmt.Sprintf("... %d lines left out", len(lines)-40)}, lines[len(lines)-40:]...)
	}
	p.t.Logf("----- %s (%s) exit: %v\n----- stdout:\n%s\n----- stderr:\n%s", p.name,
		strings.Join(p.cmd.Args, " "), p.waitErr, strings.Join(lines, "\n"), tail(p.stderr.String(), 20000))
}

// tail returns the last n bytes of s, marked when cut.
func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "..." + s[len(s)-n:]
}

// lockedBuffer is a bytes.Buffer safe for the exec copier and readers.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
