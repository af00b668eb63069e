package sfu

import (
	"bytes"
	"testing"

	"github.com/glint-video/glint/media"
)

// FuzzVP8Rewrite: any payload (the publisher's, outside input) is rewritten without a panic,
// and only inside its payload descriptor.
func FuzzVP8Rewrite(f *testing.F) {
	f.Add([]byte{0x90, 0xf0, 0x81, 0x02, 0x07, 0x43, 0x9d, 0x01})
	f.Add([]byte{0x90, 0x80, 0x05})
	f.Add([]byte{0x80, 0x20})
	f.Fuzz(func(t *testing.T, p []byte) {
		var v vp8Munger
		orig := append([]byte(nil), p...)
		d, err := media.ParseVP8Descriptor(p)
		ok, end := err == nil, d.Size
		v.rewrite(p)
		v.rebase()
		if ok {
			v.skip(d)
		}
		v.rewrite(p)
		if len(p) != len(orig) || (ok && end < len(p) && !bytes.Equal(p[end:], orig[end:])) {
			t.Fatalf("rewrite of % x changed bytes after the descriptor: % x", orig, p)
		}
		if !ok && !bytes.Equal(p, orig) {
			t.Fatalf("rewrite changed an unparsable descriptor % x → % x", orig, p)
		}
	})
}
