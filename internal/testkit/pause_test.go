package testkit

import (
	"testing"
	"time"
)

// TestPauseProcessStopsEveryThread: once PauseProcess returns, a busy process is stopped
// (every thread in state T) and its output stops; ResumeProcess lets it go on.
func TestPauseProcessStopsEveryThread(t *testing.T) {
	p := StartProc(t, ProcOptions{}, "sh", "-c", `i=0; while :; do i=$((i+1)); echo $i; sleep 0.01; done`)
	p.WaitLine(5*time.Second, "the first count", func(string) bool { return true })
	if err := PauseProcess(p.Pid()); err != nil {
		t.Fatal(err)
	}
	if !allThreadsStopped(p.Pid()) {
		t.Fatal("PauseProcess returned with a thread still running")
	}
	n := len(p.Output())
	time.Sleep(200 * time.Millisecond)
	if got := len(p.Output()); got != n {
		t.Fatalf("a paused process wrote %d lines", got-n)
	}
	if err := ResumeProcess(p.Pid()); err != nil {
		t.Fatal(err)
	}
	p.WaitLine(5*time.Second, "a count after resuming", func(string) bool { return len(p.Output()) > n })
	if allThreadsStopped(p.Pid()) {
		t.Fatal("the process is still stopped after ResumeProcess")
	}
	if err := PauseProcess(1 << 30); err == nil {
		t.Fatal("PauseProcess of a process that does not exist: no error")
	}
}
