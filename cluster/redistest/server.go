// Package redistest starts a real Redis for tests: a redis-server process (Debian's, installed
// by scripts/install-deps.sh) on a free loopback port, without persistence (--save "",
// --appendonly no), so that a restart starts it empty, as a crashed cache-only Redis does.
// A test fails, never skips, when redis-server is missing.
package redistest

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/glint-video/glint/internal/testkit"
)

// Server is a redis-server of one test. It can be killed and restarted on the same port,
// and paused; cleanup stops it.
type Server struct {
	Addr     string // 127.0.0.1:port
	Password string // requirepass; empty: none

	t    testing.TB
	proc *testkit.Proc
}

// Start starts a Server for the test; password, when not empty, is required of clients.
func Start(t testing.TB, password string) *Server {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &Server{t: t, Addr: ln.Addr().String(), Password: password}
	ln.Close()
	s.Restart()
	return s
}

// URL is the redis:// URL of the server, with its password.
func (s *Server) URL() string {
	if s.Password != "" {
		return "redis://:" + s.Password + "@" + s.Addr + "/0"
	}
	return "redis://" + s.Addr + "/0"
}

// Restart starts redis-server (the first time, or after Kill) and waits until it answers.
func (s *Server) Restart() {
	s.t.Helper()
	_, port, _ := net.SplitHostPort(s.Addr)
	args := []string{"redis-server", "--bind", "127.0.0.1", "--port", port, "--save", "", "--appendonly", "no",
		"--dir", s.t.TempDir()}
	if s.Password != "" {
		args = append(args, "--requirepass", s.Password)
	}
	s.proc = testkit.StartProc(s.t, testkit.ProcOptions{Name: "redis-server:" + port}, args...)
	for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if s.ping() == nil {
			return
		}
		if s.proc.Exited() {
			break
		}
	}
	s.t.Fatalf("redis-server did not answer on %s within 15 s: %v; its output:\n%s", s.Addr, s.ping(), strings.Join(s.proc.Output(), "\n"))
}

func (s *Server) ping() error {
	c := s.Client()
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	return c.Ping(ctx).Err()
}

// Client returns a client of the server (close it).
func (s *Server) Client() *redis.Client {
	return redis.NewClient(&redis.Options{Addr: s.Addr, Password: s.Password, MaxRetries: -1})
}

// Kill ends the process (SIGKILL; it loses everything, having no persistence).
func (s *Server) Kill() { s.proc.Kill() }

// Pause stops the process (SIGSTOP): connections are accepted, nothing answers. It returns
// once every thread of it is stopped.
func (s *Server) Pause() {
	s.t.Helper()
	if err := testkit.PauseProcess(s.proc.Pid()); err != nil {
		s.t.Fatalf("redis-server: %v", err)
	}
}

// Resume continues a paused process.
func (s *Server) Resume() {
	s.t.Helper()
	if err := testkit.ResumeProcess(s.proc.Pid()); err != nil {
		s.t.Fatalf("redis-server: %v", err)
	}
}

// CommandStats returns the calls of each command since the server started or the last
// ResetStats (INFO commandstats; commands run inside scripts included).
func (s *Server) CommandStats(ctx context.Context) (map[string]int64, error) {
	c := s.Client()
	defer c.Close()
	info, err := c.Info(ctx, "commandstats").Result()
	if err != nil {
		return nil, fmt.Errorf("redis INFO commandstats: %w", err)
	}
	out := map[string]int64{}
	for line := range strings.Lines(info) {
		// cmdstat_get:calls=12,usec=...
		name, rest, ok := strings.Cut(strings.TrimSpace(line), ":")
		if !ok || !strings.HasPrefix(name, "cmdstat_") {
			continue
		}
		for kv := range strings.SplitSeq(rest, ",") {
			if v, ok := strings.CutPrefix(kv, "calls="); ok {
				out[strings.TrimPrefix(name, "cmdstat_")], _ = strconv.ParseInt(v, 10, 64)
			}
		}
	}
	return out, nil
}

// ResetStats zeroes the command statistics (CONFIG RESETSTAT).
func (s *Server) ResetStats(ctx context.Context) error {
	c := s.Client()
	defer c.Close()
	return c.ConfigResetStat(ctx).Err()
}
