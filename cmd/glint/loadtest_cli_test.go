package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

// The flags and the run are package loadtest's (loadtest/cli_test.go); this checks the wiring.
func TestLoadtestCommandIsWired(t *testing.T) {
	var out, errOut bytes.Buffer
	if err := run(context.Background(), []string{"loadtest", "--help"}, &out, &errOut); err != nil {
		t.Fatalf("loadtest --help: %v", err)
	}
	if !strings.Contains(errOut.String(), "Usage: glint loadtest") || !strings.Contains(errOut.String(), "  -viewers ") {
		t.Errorf("loadtest --help printed %q", errOut.String())
	}
	err := run(context.Background(), []string{"loadtest", "--bogus"}, &out, &errOut)
	if err == nil || !strings.Contains(err.Error(), "loadtest: flag provided but not defined: -bogus") {
		t.Errorf("loadtest --bogus: %v", err)
	}
}
