package limits

import (
	"errors"
	"net/http"
	"testing"
)

func TestCounterPerKeyAndTotal(t *testing.T) {
	c := NewCounter("sessions_per_ip", "sessions", 2, 3)
	r1, err1 := c.Acquire("a")
	r2, err2 := c.Acquire("a")
	if err1 != nil || err2 != nil {
		t.Fatalf("within the limit: %v, %v", err1, err2)
	}
	_, err := c.Acquire("a")
	var ref *Refusal
	if !errors.As(err, &ref) || ref.Status != http.StatusTooManyRequests || ref.Kind != "sessions_per_ip" {
		t.Fatalf("3rd for one key: %v, want a 429 refusal", err)
	}
	r3, err := c.Acquire("b")
	if err != nil {
		t.Fatalf("another key: %v", err)
	}
	if !c.Full() {
		t.Error("3 of a total of 3: not Full")
	}
	if _, err := c.Acquire("c"); !errors.As(err, &ref) || ref.Status != http.StatusServiceUnavailable {
		t.Fatalf("over the node's total: %v, want a 503 refusal", err)
	}
	r1()
	r1() // a second release is a no-op
	if n, keys := c.Count(); n != 2 || keys != 2 {
		t.Fatalf("after one release (called twice): count %d keys %d, want 2 and 2", n, keys)
	}
	r2()
	r3()
	if n, keys := c.Count(); n != 0 || keys != 0 {
		t.Fatalf("all released: count %d keys %d, want an empty table", n, keys)
	}
	if got := c.Rejected(); got != 2 {
		t.Errorf("Rejected() = %d, want 2", got)
	}
}

func TestNilCounterAdmitsEverything(t *testing.T) {
	c := NewCounter("x", "things", 0, 0)
	if c != nil {
		t.Fatal("NewCounter with no limits is not nil")
	}
	release, err := c.Acquire("k")
	if err != nil {
		t.Fatal(err)
	}
	release()
	if c.Full() {
		t.Fatal("a nil counter is Full")
	}
}
