package testkit

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// PauseProcess stops the process pid (SIGSTOP) and returns once every one of its threads is
// stopped, so that a test which pauses a server to make its requests hang can rely on it:
// kill(2) returns before a thread running on another core has taken the signal, and such a
// thread may still answer a request (CI saw an S3 List answered 2 ms after the signal).
func PauseProcess(pid int) error {
	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		return fmt.Errorf("SIGSTOP to pid %d: %w", pid, err)
	}
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		if allThreadsStopped(pid) {
			return nil
		}
	}
	return fmt.Errorf("pid %d: threads still running 5 s after SIGSTOP", pid)
}

// ResumeProcess continues a paused process (SIGCONT).
func ResumeProcess(pid int) error {
	if err := syscall.Kill(pid, syscall.SIGCONT); err != nil {
		return fmt.Errorf("SIGCONT to pid %d: %w", pid, err)
	}
	return nil
}

// allThreadsStopped reports whether every thread of pid is in state T (stopped), read from
// /proc/pid/task/*/stat, whose third field is the state (the second, the name in
// parentheses, may hold spaces: the state follows the last ')').
func allThreadsStopped(pid int) bool {
	stats, err := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/stat", pid))
	if err != nil || len(stats) == 0 {
		return false
	}
	for _, p := range stats {
		b, err := os.ReadFile(p)
		if err != nil {
			return false
		}
		i := strings.LastIndexByte(string(b), ')')
		if i < 0 || i+2 >= len(b) || (b[i+2] != 'T' && b[i+2] != 't') {
			return false
		}
	}
	return true
}
