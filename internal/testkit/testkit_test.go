package testkit

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestLogSinkFindsTheFirstLineWithEveryPart(t *testing.T) {
	ctx := Context(t, 5*time.Second)
	log, sink := NewLogger(t)
	go func() {
		time.Sleep(50 * time.Millisecond)
		log.Info("session up", "room", "a")
		log.Info("session up", "room", "b")
	}()
	line := sink.WaitFor(t, ctx, "session up", "room=b")
	if !strings.Contains(line, "room=b") || strings.Contains(line, "room=a") {
		t.Fatalf("WaitFor returned %q", line)
	}
	if !sink.Contains("room=a") || sink.Contains("room=c") {
		t.Fatal("Contains does not match what was written")
	}
	if tail := sink.Tail(1); !strings.Contains(tail, "room=b") || strings.Contains(tail, "room=a") {
		t.Fatalf("Tail(1) = %q, want the last line only", tail)
	}
}

func TestProcLinesStdinAndExit(t *testing.T) {
	p := StartProc(t, ProcOptions{Stdin: true, Env: []string{"GREETING=hello"}},
		"sh", "-c", `echo "$GREETING"; read line; echo "got $line"; echo oops >&2; exit 3`)
	p.WaitLine(5*time.Second, "the greeting", func(l string) bool { return l == "hello" })
	p.Send("ping")
	p.WaitLine(5*time.Second, "the echo", func(l string) bool { return l == "got ping" })
	err := p.Wait(5 * time.Second)
	if err == nil || !strings.Contains(err.Error(), "exit status 3") {
		t.Fatalf("Wait = %v, want exit status 3", err)
	}
	if !p.Exited() || p.LastLine() != "got ping" || strings.TrimSpace(p.Stderr()) != "oops" {
		t.Fatalf("exited %v, last line %q, stderr %q", p.Exited(), p.LastLine(), p.Stderr())
	}
	if got := fmt.Sprint(p.Output()); got != "[hello got ping]" {
		t.Fatalf("Output = %s", got)
	}
}

func TestProcKillReachesItsChildren(t *testing.T) {
	p := StartShell(t, ProcOptions{Name: "pipeline"}, "echo started; sleep 60 | cat")
	p.WaitLine(5*time.Second, "the start", func(l string) bool { return l == "started" })
	start := time.Now()
	p.Kill()
	if !p.Exited() || time.Since(start) > 5*time.Second {
		t.Fatalf("Kill took %v, exited %v", time.Since(start), p.Exited())
	}
}

func TestProcStopSendsSIGTERM(t *testing.T) {
	p := StartShell(t, ProcOptions{}, `trap 'echo terminated; exit 0' TERM; echo ready; while :; do sleep 0.05; done`)
	p.WaitLine(5*time.Second, "ready", func(l string) bool { return l == "ready" })
	if err := p.Stop(5 * time.Second); err != nil {
		t.Fatalf("Stop = %v, want a clean exit", err)
	}
	if p.LastLine() != "terminated" {
		t.Fatalf("last line %q, want the TERM trap's", p.LastLine())
	}
}
