package loadtest

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

func TestProgressPlainAndBar(t *testing.T) {
	var plain bytes.Buffer
	p := newProgress(&plain, false, 2)
	p.status("joining %d", 5)
	stop := p.measuring("5 viewers", time.Second)
	stop()
	p.line("step done")
	p.finish()
	if got, want := plain.String(), "  joining 5\n  5 viewers: measuring for 1s\nstep done\n"; got != want || strings.Contains(got, "\r") {
		t.Errorf("plain progress %q, want %q", got, want)
	}

	var bar bytes.Buffer
	p = newProgress(&bar, true, 2)
	p.status("joining")
	stop = p.measuring("5 viewers", 500*time.Millisecond)
	time.Sleep(600 * time.Millisecond)
	stop()
	p.line("step done")
	p.finish()
	out := bar.String()
	if !strings.Contains(out, "\r\033[K[") || !strings.Contains(out, "measuring") || !strings.Contains(out, "\r\033[Kstep done\n") ||
		!strings.Contains(out, "[###############...............] step 2/2") || !strings.HasSuffix(out, "\r\033[K") {
		t.Errorf("bar progress %q", out)
	}
}
