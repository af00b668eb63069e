package sfu_test

import (
	"testing"

	"github.com/glint-video/glint/internal/testnode"
	"github.com/glint-video/glint/sfu"
)

// gccPaths are the weak-network cells run with Glint's own estimator: the two rate limits
// and a path without one, which must settle on h.
var gccPaths = []weakPath{weakPaths[0], weakPaths[1], {name: "unconstrained", fitting: "h"}}

// TestBWEOwnGCC is the weak-network matrix's transport-cc viewer with Options.ViewerBWE gcc
// (sfu/gcc in place of pion's estimator), held to the targets of pion's cells.
func TestBWEOwnGCC(t *testing.T) {
	opts := testnode.Options{SFU: func(o *sfu.Options) { o.ViewerBWE = sfu.ViewerBWEGCC }}
	for _, path := range gccPaths {
		t.Run(path.name, func(t *testing.T) { runWeakPath(t, path, opts, []string{"transport-cc"}) })
	}
}
