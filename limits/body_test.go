package limits

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// TestBodyDeadline: a body that trickles is cut at the deadline; a request without a body
// (an event stream) runs longer than the deadline untouched, and so does a handler that
// keeps working after reading its body.
func TestBodyDeadline(t *testing.T) {
	const deadline = 300 * time.Millisecond
	mux := http.NewServeMux()
	mux.HandleFunc("POST /body", func(w http.ResponseWriter, r *http.Request) {
		_, err := io.ReadAll(r.Body)
		if err != nil {
			w.WriteHeader(http.StatusRequestTimeout)
			return
		}
		time.Sleep(2 * deadline) // work after the body: the deadline must be gone
		if r.Context().Err() != nil {
			w.WriteHeader(http.StatusGone)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("GET /stream", func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-time.After(3 * deadline):
			w.WriteHeader(http.StatusNoContent)
		case <-r.Context().Done():
		}
	})
	srv := httptest.NewServer(BodyDeadline(mux, deadline))
	defer srv.Close()

	resp, err := http.Post(srv.URL+"/body", "text/plain", strings.NewReader("quick"))
	if err != nil || resp.StatusCode != http.StatusNoContent {
		t.Fatalf("a quick body with work after it: %v %v, want 204", resp, err)
	}
	resp.Body.Close()
	resp, err = http.Get(srv.URL + "/stream")
	if err != nil || resp.StatusCode != http.StatusNoContent {
		t.Fatalf("a long request without a body: %v %v, want 204", resp, err)
	}
	resp.Body.Close()

	conn, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "POST /body HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nab")
	start := time.Now()
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	got, _ := io.ReadAll(conn)
	if !strings.Contains(string(got), "408") && len(got) != 0 {
		t.Fatalf("slow body: answered %q", got)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Fatalf("slow body held the connection %v (deadline %v)", took, deadline)
	}
}
