package media

import (
	"bytes"
	"testing"
)

// FuzzEscape: escaping leaves no 0x000000, 0x000001 or 0x000002 (nor 0x000003 other than an
// emulation prevention byte before 0x00…0x03), and unescaping gives the input back.
func FuzzEscape(f *testing.F) {
	f.Add([]byte{0, 0, 0, 0, 1, 0, 0, 2, 0, 0, 3, 0, 0})
	f.Add([]byte{0x7f, 0, 0, 3, 3})
	f.Fuzz(func(t *testing.T, b []byte) {
		esc := AppendEscaped(nil, b)
		for i := 0; i+2 < len(esc); i++ {
			if esc[i] == 0 && esc[i+1] == 0 && esc[i+2] <= 2 {
				t.Fatalf("start-code emulation at %d in % x", i, esc)
			}
		}
		if got := AppendUnescaped(nil, esc); !bytes.Equal(got, b) {
			t.Fatalf("unescaped % x, want % x", got, b)
		}
	})
}
