package testkit

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

// ProcOptions configures StartProc.
type ProcOptions struct {
	Name  string   // label in messages; the program's base name when empty
	Env   []string // added to os.Environ()
	Stdin bool     // give the process a stdin pipe, for Send (otherwise /dev/null)
}

// Proc is a child process of a test. It runs in a process group of its own (so that Kill and
// cleanup reach whatever it started, such as a shell pipeline) and dies with the test
// process. Its stdout is kept as lines (clients print JSON lines) and its stderr in a buffer;
// both go to the test log when the test fails, or always when GLINT_TEST_LOG or
// GLINT_E2E_LOG is set. Cleanup kills the process group unless the process has exited.
type Proc struct {
	t      testing.TB
	name   string
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	stdout lineBuffer
	stderr LogSink

	done    chan struct{} // closed when the process has exited and its output is in
	waitErr error         // cmd.Wait's result, set before done is closed
}

// StartProc starts argv; a program name without a slash is looked up with RequireTool.
func StartProc(t testing.TB, o ProcOptions, argv ...string) *Proc {
	t.Helper()
	path := argv[0]
	if !strings.Contains(path, "/") {
		path = RequireTool(t, path)
	}
	if o.Name == "" {
		o.Name = argv[0][strings.LastIndex(argv[0], "/")+1:]
	}
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, path, argv[1:]...)
	cmd.Env = append(os.Environ(), o.Env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second // grandchildren holding stdout must not hang Wait
	p := &Proc{t: t, name: o.Name, cmd: cmd, stdout: newLineBuffer(), done: make(chan struct{})}
	cmd.Stdout = &p.stdout
	cmd.Stderr = &p.stderr
	if o.Stdin {
		var err error
		if p.stdin, err = cmd.StdinPipe(); err != nil {
			cancel()
			t.Fatalf("stdin pipe for %s: %v", o.Name, err)
		}
	}
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatalf("start %s (%s): %v", o.Name, strings.Join(argv, " "), err)
	}
	go func() {
		err := cmd.Wait()
		p.stdout.flush()
		p.waitErr = err
		close(p.done)
	}()
	t.Cleanup(func() {
		cancel() // kills the process group unless the process has exited
		p.reap()
		if t.Failed() || os.Getenv("GLINT_TEST_LOG") != "" || os.Getenv("GLINT_E2E_LOG") != "" {
			p.logOutput()
		}
	})
	return p
}

// StartShell runs script under sh -c (for pipelines such as ffmpeg | srt-live-transmit).
func StartShell(t testing.TB, o ProcOptions, script string) *Proc {
	t.Helper()
	return StartProc(t, o, "sh", "-c", script)
}

// reap waits for the process after a SIGKILL to its group and kills stragglers of an exited
// leader.
func (p *Proc) reap() {
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		p.t.Errorf("%s (pid %d) did not exit after SIGKILL", p.name, p.cmd.Process.Pid)
	}
	_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
}

// Kill sends SIGKILL to the process group and waits for the process.
func (p *Proc) Kill() {
	if !p.Exited() {
		_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
	}
	p.reap()
}

// WaitLine returns the first stdout line for which match is true, waiting up to timeout. It
// fails the test when the process exits or the time runs out without such a line.
func (p *Proc) WaitLine(timeout time.Duration, what string, match func(line string) bool) string {
	p.t.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	next := 0
	for {
		fresh, notify := p.stdout.since(next)
		for _, line := range fresh {
			next++
			if match(line) {
				return line
			}
		}
		select {
		case <-notify:
		case <-p.done:
			if fresh, _ := p.stdout.since(next); len(fresh) == 0 {
				p.t.Fatalf("%s exited (%v) before %s; last output: %s", p.name, p.waitErr, what, p.LastLine())
			}
		case <-deadline.C:
			p.t.Fatalf("%s: no %s within %v; last output: %s", p.name, what, timeout, p.LastLine())
		}
	}
}

// Send writes one line to the process's stdin (ProcOptions.Stdin).
func (p *Proc) Send(line string) {
	p.t.Helper()
	if p.stdin == nil {
		p.t.Fatalf("%s: no stdin pipe (start it with ProcOptions.Stdin)", p.name)
	}
	if _, err := io.WriteString(p.stdin, line+"\n"); err != nil {
		p.t.Fatalf("%s: write %q to stdin: %v", p.name, line, err)
	}
}

// Terminate sends SIGTERM to the process without waiting; Stop or Wait collect it.
func (p *Proc) Terminate() {
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
		p.t.Errorf("SIGTERM %s: %v", p.name, err)
	}
}

// Stop sends SIGTERM to the process (not its group: clients end their children themselves)
// and waits up to timeout for it to exit; it returns the exit error (nil for status 0).
func (p *Proc) Stop(timeout time.Duration) error {
	p.t.Helper()
	if p.Exited() {
		return p.waitErr
	}
	p.Terminate()
	return p.Wait(timeout)
}

// Wait waits up to timeout for the process to exit by itself and returns its exit error
// (nil for status 0); it fails the test if the process does not exit.
func (p *Proc) Wait(timeout time.Duration) error {
	p.t.Helper()
	select {
	case <-p.done:
		return p.waitErr
	case <-time.After(timeout):
		p.t.Fatalf("%s did not exit within %v; last output: %s", p.name, timeout, p.LastLine())
		return nil
	}
}

// Done is closed when the process has exited.
func (p *Proc) Done() <-chan struct{} { return p.done }

// Exited reports whether the process has exited.
func (p *Proc) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Output returns the stdout lines so far.
func (p *Proc) Output() []string {
	lines, _ := p.stdout.since(0)
	return lines
}

// Stderr returns what the process wrote to stderr so far.
func (p *Proc) Stderr() string { return p.stderr.String() }

// LastLine returns the last stdout line, or the end of stderr when there is none.
func (p *Proc) LastLine() string {
	lines := p.Output()
	if len(lines) == 0 {
		return "(no stdout; stderr ends: " + Tail(p.stderr.String(), 600) + ")"
	}
	return Tail(lines[len(lines)-1], 1500)
}

func (p *Proc) logOutput() {
	p.t.Helper()
	lines := p.Output()
	if len(lines) > 40 {
		lines = append([]string{fmt.Sprintf("... %d lines left out", len(lines)-40)}, lines[len(lines)-40:]...)
	}
	p.t.Logf("----- %s (%s) exit: %v\n----- stdout:\n%s\n----- stderr:\n%s", p.name,
		strings.Join(p.cmd.Args, " "), p.waitErr, strings.Join(lines, "\n"), Tail(p.stderr.String(), 20000))
}

// lineBuffer is a child's stdout as complete lines, with a channel that is closed (and
// replaced) when lines arrive.
type lineBuffer struct {
	mu      sync.Mutex
	lines   []string
	partial []byte
	notify  chan struct{}
}

func newLineBuffer() lineBuffer { return lineBuffer{notify: make(chan struct{})} }

func (b *lineBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.partial = append(b.partial, p...)
	added := false
	for {
		i := bytes.IndexByte(b.partial, '\n')
		if i < 0 {
			break
		}
		b.lines = append(b.lines, strings.TrimRight(string(b.partial[:i]), "\r"))
		b.partial = b.partial[i+1:]
		added = true
	}
	if added {
		close(b.notify)
		b.notify = make(chan struct{})
	}
	return len(p), nil
}

// flush keeps a last line without a newline, once the process has exited.
func (b *lineBuffer) flush() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.partial) > 0 {
		b.lines = append(b.lines, string(b.partial))
		b.partial = nil
	}
}

// since returns the lines from index n on, and the channel that announces the next ones.
func (b *lineBuffer) since(n int) ([]string, chan struct{}) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.lines[min(n, len(b.lines)):]...), b.notify
}
