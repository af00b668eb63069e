package sfu_test

import (
	"testing"

	"github.com/glint-video/glint/internal/testnode"
	"github.com/glint-video/glint/sfu"
)

// pionGCCPaths are the weak-network cells run with pion's estimator: the two rate limits
// and a path without one, which must settle on h.
var pionGCCPaths = []weakPath{weakPaths[0], weakPaths[1], {name: "unconstrained", fitting: "h"}}

// TestBWEPionGCC is the weak-network matrix's transport-cc viewer with Options.ViewerBWE
// transport-cc (pion's estimator in place of Glint's own, sfu/gcc, which the matrix runs by
// default), held to the targets of the matrix's cells.
func TestBWEPionGCC(t *testing.T) {
	opts := testnode.Options{SFU: func(o *sfu.Options) { o.ViewerBWE = sfu.ViewerBWETransportCC }}
	for _, path := range pionGCCPaths {
		t.Run(path.name, func(t *testing.T) { runWeakPath(t, path, opts, []string{"transport-cc"}) })
	}
}
