package limits

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestReadiness(t *testing.T) {
	var r Readiness
	overloaded := false
	r.AddCheck(func() (bool, string) { return overloaded, "viewers at the maximum" })
	get := func() (int, string) {
		w := httptest.NewRecorder()
		r.ServeHTTP(w, httptest.NewRequest("GET", "/readyz", nil))
		return w.Code, w.Body.String()
	}
	if code, body := get(); code != http.StatusOK || body != "ready\n" {
		t.Fatalf("idle node: %d %q, want 200 ready", code, body)
	}
	overloaded = true
	if code, body := get(); code != http.StatusServiceUnavailable || !strings.Contains(body, "overloaded: viewers") {
		t.Fatalf("overloaded node: %d %q, want 503 with the reason", code, body)
	}
	overloaded = false
	r.Drain()
	if code, body := get(); code != http.StatusServiceUnavailable || body != "draining\n" {
		t.Fatalf("draining node: %d %q, want 503 draining", code, body)
	}
}

func TestLoadCheck(t *testing.T) {
	check := loadCheck(1.5, func() (float64, error) { return 7, nil }, 4) // 1.75 per CPU
	if over, why := check(); !over || !strings.Contains(why, "1.75") {
		t.Fatalf("load 7 on 4 CPUs with a limit of 1.5: %v %q", over, why)
	}
	if over, _ := loadCheck(2, func() (float64, error) { return 7, nil }, 4)(); over {
		t.Fatal("load 1.75 per CPU is over a limit of 2")
	}
	if over, _ := loadCheck(1, func() (float64, error) { return 0, errors.New("no /proc") }, 4)(); over {
		t.Fatal("an unreadable load average is overloaded")
	}
	if _, err := readLoadAvg(); err != nil {
		t.Fatalf("this Linux machine's /proc/loadavg: %v", err)
	}
}

func TestCounterFullCheck(t *testing.T) {
	c := NewCounter("event_watchers", "event streams", 0, 1)
	release, _ := c.Acquire("a")
	if over, why := CounterFull(c)(); !over || !strings.Contains(why, "event streams") {
		t.Fatalf("full counter: %v %q", over, why)
	}
	release()
	if over, _ := CounterFull(c)(); over {
		t.Fatal("empty counter is overloaded")
	}
	if over, _ := CounterFull(nil)(); over {
		t.Fatal("an unlimited counter is overloaded")
	}
}
