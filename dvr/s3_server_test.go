package dvr

import (
	"context"
	"fmt"
	"go/build"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The S3 tests run against a real S3 server: versitygw over a temporary directory, installed
// by scripts/install-deps.sh. A missing binary fails the tests; it never skips them.
const (
	testS3AccessKey = "glinttest"
	testS3SecretKey = "glinttestsecret"
	testS3Bucket    = "glint-dvr"
)

// s3Server is a versitygw process serving one temporary directory on a loopback port; it can
// be paused (SIGSTOP: requests hang), killed (connections refused) and started again on the
// same port and directory.
type s3Server struct {
	t    *testing.T
	bin  string
	dir  string
	addr string
	cmd  *exec.Cmd
}

// findVersityGW locates the versitygw binary: on PATH, else in GOBIN or GOPATH/bin.
func findVersityGW(t *testing.T) string {
	t.Helper()
	if p, err := exec.LookPath("versitygw"); err == nil {
		return p
	}
	dirs := []string{os.Getenv("GOBIN")}
	for _, gopath := range filepath.SplitList(build.Default.GOPATH) {
		dirs = append(dirs, filepath.Join(gopath, "bin"))
	}
	for _, d := range dirs {
		if d == "" {
			continue
		}
		p := filepath.Join(d, "versitygw")
		if st, err := os.Stat(p); err == nil && !st.IsDir() {
			return p
		}
	}
	t.Fatalf("versitygw not found on PATH, in GOBIN or in GOPATH/bin: run scripts/install-deps.sh")
	return ""
}

// startS3Server starts versitygw on a free 127.0.0.1 port over a fresh temporary directory
// holding the test bucket; it is stopped at cleanup.
func startS3Server(t *testing.T) *s3Server {
	t.Helper()
	s := &s3Server{t: t, bin: findVersityGW(t), dir: t.TempDir()}
	// versitygw's posix backend serves each directory under dir as a bucket.
	if err := os.Mkdir(filepath.Join(s.dir, testS3Bucket), 0o755); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s.addr = ln.Addr().String()
	ln.Close()
	s.start()
	t.Cleanup(s.kill)
	return s
}

// start runs versitygw and waits until it accepts connections.
func (s *s3Server) start() {
	s.t.Helper()
	s.cmd = exec.Command(s.bin, "--access", testS3AccessKey, "--secret", testS3SecretKey,
		"--port", s.addr, "posix", s.dir)
	var out strings.Builder
	s.cmd.Stdout, s.cmd.Stderr = &out, &out
	if err := s.cmd.Start(); err != nil {
		s.t.Fatalf("starting versitygw: %v", err)
	}
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		c, err := net.DialTimeout("tcp", s.addr, 200*time.Millisecond)
		if err == nil {
			c.Close()
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	s.kill()
	s.t.Fatalf("versitygw did not listen on %s within 15 s; its output:\n%s", s.addr, out.String())
}

// pause stops the process (SIGSTOP): connections are accepted by the kernel but never answered.
func (s *s3Server) pause() { s.signal(syscall.SIGSTOP) }

// resume continues a paused process.
func (s *s3Server) resume() { s.signal(syscall.SIGCONT) }

func (s *s3Server) signal(sig syscall.Signal) {
	s.t.Helper()
	if err := s.cmd.Process.Signal(sig); err != nil {
		s.t.Fatalf("versitygw: %v: %v", sig, err)
	}
}

// kill ends the process (connections are then refused); start brings it back.
func (s *s3Server) kill() {
	if s.cmd == nil {
		return
	}
	s.cmd.Process.Kill()
	s.cmd.Wait()
	s.cmd = nil
}

// options are the S3Options of a store on this server.
func (s *s3Server) options(prefix string, timeout time.Duration) S3Options {
	return S3Options{
		Endpoint: "http://" + s.addr, Bucket: testS3Bucket, AccessKey: testS3AccessKey,
		SecretKey: testS3SecretKey, Region: "us-east-1", Prefix: prefix, Timeout: timeout,
	}
}

// newStore opens an S3Store on this server.
func (s *s3Server) newStore(t *testing.T, prefix string, timeout time.Duration) *S3Store {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	st, err := NewS3Store(ctx, s.options(prefix, timeout))
	if err != nil {
		t.Fatalf("NewS3Store: %v", err)
	}
	return st
}

// String names the server in failures.
func (s *s3Server) String() string { return fmt.Sprintf("versitygw at %s over %s", s.addr, s.dir) }
