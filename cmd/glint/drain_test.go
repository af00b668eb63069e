package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestDrainCommand(t *testing.T) {
	var gotAuth, gotBody string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.URL.Path != "/api/drain" {
			http.NotFound(w, r)
			return
		}
		gotAuth = r.Header.Get("Authorization")
		b, _ := io.ReadAll(r.Body)
		gotBody = string(b)
		if gotAuth != "Bearer adm" {
			http.Error(w, `{"error":"admin credential required"}`, http.StatusUnauthorized)
			return
		}
		w.WriteHeader(http.StatusAccepted)
		_, _ = io.WriteString(w, `{"draining":true,"nodes":[]}`)
	}))
	defer srv.Close()

	var out, errOut bytes.Buffer
	if err := run(context.Background(), []string{"drain", "--url", srv.URL + "/", "--token", "adm", "--period", "3s"}, &out, &errOut); err != nil {
		t.Fatalf("glint drain: %v", err)
	}
	if gotBody != `{"period":"3s"}` || !strings.Contains(out.String(), `"draining":true`) {
		t.Errorf("glint drain sent %q and printed %q", gotBody, out.String())
	}
	err := run(context.Background(), []string{"drain", "--url", srv.URL, "--admin-key", "wrong"}, &out, &errOut)
	if err == nil || !strings.Contains(err.Error(), "401") || !strings.Contains(err.Error(), "admin credential required") {
		t.Errorf("glint drain with a wrong key: %v, want the 401 and its reason", err)
	}
	if gotBody != "" {
		t.Errorf("glint drain without --period sent %q, want no body (the node's own period)", gotBody)
	}
	if err := run(context.Background(), []string{"drain", "extra"}, &out, &errOut); err == nil {
		t.Error("glint drain extra: no error")
	}
}
