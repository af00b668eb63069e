// Package s3test starts a real S3 server for tests: versitygw (an Apache-2.0 S3 gateway over
// a local directory, installed by scripts/install-deps.sh) on a free loopback port, over a
// temporary directory. A test fails, never skips, when versitygw is missing.
package s3test

import (
	"go/build"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/glint-video/glint/internal/testkit"
)

// The credentials and the bucket of every Server.
const (
	AccessKey = "glinttest"
	SecretKey = "glinttestsecret"
	Bucket    = "glint-dvr"
)

// Server is a versitygw process serving Dir (each directory in it a bucket; Bucket exists)
// on Addr. It can be paused (SIGSTOP: requests hang), killed (connections refused) and
// started again on the same port and directory; cleanup stops it.
type Server struct {
	Addr string // 127.0.0.1:port
	Dir  string

	t   testing.TB
	bin string
	cmd *exec.Cmd
	out strings.Builder
}

// Start starts a Server for the test.
func Start(t testing.TB) *Server {
	t.Helper()
	s := &Server{t: t, bin: binary(t), Dir: t.TempDir()}
	if err := os.Mkdir(filepath.Join(s.Dir, Bucket), 0o755); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s.Addr = ln.Addr().String()
	ln.Close()
	s.Restart()
	t.Cleanup(s.Kill)
	return s
}

// binary locates versitygw: on PATH, else in GOBIN or GOPATH/bin (where go install puts it).
func binary(t testing.TB) string {
	t.Helper()
	if p, err := exec.LookPath("versitygw"); err == nil {
		return p
	}
	// Where scripts/install-deps.sh put it: `go env GOBIN`, else the first `go env GOPATH`'s
	// bin (go env also reads the settings of `go env -w`).
	gobin, gopath := os.Getenv("GOBIN"), build.Default.GOPATH
	if out, err := exec.Command("go", "env", "GOBIN", "GOPATH").Output(); err == nil {
		if lines := strings.Split(string(out), "\n"); len(lines) >= 2 {
			gobin, gopath = lines[0], lines[1]
		}
	}
	dirs := []string{gobin}
	for _, p := range filepath.SplitList(gopath) {
		dirs = append(dirs, filepath.Join(p, "bin"))
	}
	for _, d := range dirs {
		p := filepath.Join(d, "versitygw")
		if st, err := os.Stat(p); d != "" && err == nil && !st.IsDir() {
			return p
		}
	}
	t.Fatalf("versitygw is required (scripts/install-deps.sh installs it): not on PATH, in GOBIN or in GOPATH/bin")
	return ""
}

// Endpoint is the server's URL (plain HTTP).
func (s *Server) Endpoint() string { return "http://" + s.Addr }

// Restart starts versitygw (after Kill, or the first time) and waits until it accepts
// connections.
func (s *Server) Restart() {
	s.t.Helper()
	s.out.Reset()
	s.cmd = exec.Command(s.bin, "--access", AccessKey, "--secret", SecretKey, "--port", s.Addr, "posix", s.Dir)
	s.cmd.Stdout, s.cmd.Stderr = &s.out, &s.out
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL} // dies with the test binary
	if err := s.cmd.Start(); err != nil {
		s.t.Fatalf("starting versitygw: %v", err)
	}
	for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if c, err := net.DialTimeout("tcp", s.Addr, 200*time.Millisecond); err == nil {
			c.Close()
			return
		}
	}
	out := s.out.String()
	s.Kill()
	s.t.Fatalf("versitygw did not listen on %s within 15 s; its output:\n%s", s.Addr, out)
}

// Pause stops the process (SIGSTOP): the kernel still accepts connections, nothing answers.
// It returns once every thread of it is stopped.
func (s *Server) Pause() {
	s.t.Helper()
	if err := testkit.PauseProcess(s.cmd.Process.Pid); err != nil {
		s.t.Fatalf("versitygw: %v", err)
	}
}

// Resume continues a paused process; requests it had queued may then still run.
func (s *Server) Resume() {
	s.t.Helper()
	if err := testkit.ResumeProcess(s.cmd.Process.Pid); err != nil {
		s.t.Fatalf("versitygw: %v", err)
	}
}

// Kill ends the process (connections are then refused) and waits for it; Restart brings it
// back. Killing a killed server does nothing.
func (s *Server) Kill() {
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Kill()
	_ = s.cmd.Wait()
	s.cmd = nil
}
