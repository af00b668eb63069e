package media

import (
	"bytes"
	"encoding/binary"
	"testing"
	"time"
)

func TestCaptureSEIRoundTrip(t *testing.T) {
	cases := []struct {
		name string
		at   time.Time
	}{
		{"now", time.Unix(1764100000, 123456789)},
		{"zero bytes need emulation prevention", time.Unix(0, 0x0000000300000001)},
		{"epoch", time.Unix(0, 0)},
		{"all 0xff", time.Unix(0, 0x7fffffffffffffff)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			nal := AppendCaptureSEI(nil, c.at)
			if nal[0]&0x1f != H264NALSEI {
				t.Fatalf("NAL type %d, want 6", nal[0]&0x1f)
			}
			for i := 0; i+2 < len(nal); i++ {
				if nal[i] == 0 && nal[i+1] == 0 && nal[i+2] <= 3 && (i+2 >= len(nal) || nal[i+2] != 3) {
					t.Fatalf("start-code emulation at %d in % x", i, nal)
				}
			}
			got, ok := ParseCaptureSEI(nal)
			if !ok || !got.Equal(c.at) {
				t.Fatalf("ParseCaptureSEI = %v, %v; want %v", got, ok, c.at)
			}
		})
	}
}

func TestParseCaptureSEIRejects(t *testing.T) {
	good := AppendCaptureSEI(nil, time.Unix(5, 6))
	otherUUID := bytes.Clone(good)
	otherUUID[5] ^= 0x40
	cases := map[string][]byte{
		"empty":        nil,
		"not SEI":      {0x65, 0x88, 0x84},
		"truncated":    good[:len(good)-5],
		"other UUID":   otherUUID,
		"only header":  {0x06},
		"huge size":    {0x06, 0x05, 0xff, 0xff, 0x10, 0x00},
		"other SEI pt": {0x06, 0x01, 0x02, 0xaa, 0xbb, 0x80},
	}
	for name, nal := range cases {
		if got, ok := ParseCaptureSEI(nal); ok {
			t.Errorf("%s: parsed %v, want no stamp", name, got)
		}
	}
}

func TestCaptureSEIAfterAnotherMessage(t *testing.T) {
	at := time.Unix(1700000000, 42)
	stamp := AppendCaptureSEI(nil, at)
	// A recovery point SEI (payload type 6, 1 byte) before ours in the same NAL unit.
	nal := append([]byte{0x06, 0x06, 0x01, 0x84}, stamp[1:]...)
	if got, ok := ParseCaptureSEI(nal); !ok || !got.Equal(at) {
		t.Fatalf("got %v, %v; want %v", got, ok, at)
	}
}

func TestFindCaptureTime(t *testing.T) {
	at := time.Unix(1764100000, 987654321)
	sps := []byte{0x67, 0x42, 0xc0, 0x1f, 0x00}
	sei := AppendCaptureSEI(nil, at)
	idr := []byte{0x65, 0x88, 0x80, 0x00, 0x00, 0x03, 0x01}

	var annexB []byte
	for _, nal := range [][]byte{sps, sei, idr} {
		annexB = append(annexB, 0, 0, 0, 1)
		annexB = append(annexB, nal...)
	}
	if got, ok := FindCaptureTimeAnnexB(annexB); !ok || !got.Equal(at) {
		t.Fatalf("Annex B: got %v, %v", got, ok)
	}
	var n int
	for range SplitAnnexB(annexB) {
		n++
	}
	if n != 3 {
		t.Fatalf("SplitAnnexB found %d NAL units, want 3", n)
	}

	var avcc []byte
	for _, nal := range [][]byte{sps, sei, idr} {
		avcc = binary.BigEndian.AppendUint32(avcc, uint32(len(nal)))
		avcc = append(avcc, nal...)
	}
	if got, ok := FindCaptureTimeAVCC(avcc); !ok || !got.Equal(at) {
		t.Fatalf("AVCC: got %v, %v", got, ok)
	}
	if _, ok := FindCaptureTimeAVCC(avcc[:10]); ok {
		t.Fatal("AVCC: found a stamp in a truncated sample")
	}
}

func TestParseCaptureSEIAllocs(t *testing.T) {
	nal := AppendCaptureSEI(nil, time.Now())
	if n := testing.AllocsPerRun(100, func() { ParseCaptureSEI(nal) }); n != 0 {
		t.Fatalf("ParseCaptureSEI allocates %.0f times", n)
	}
}

func FuzzParseCaptureSEI(f *testing.F) {
	f.Add(AppendCaptureSEI(nil, time.Unix(1, 2)))
	f.Add([]byte{0x06, 0x05, 0x18})
	f.Fuzz(func(t *testing.T, nal []byte) {
		if at, ok := ParseCaptureSEI(nal); ok {
			again, ok2 := ParseCaptureSEI(AppendCaptureSEI(nil, at))
			if !ok2 || !again.Equal(at) {
				t.Fatalf("stamp %v does not round-trip", at)
			}
		}
		FindCaptureTimeAnnexB(nal)
		FindCaptureTimeAVCC(nal)
	})
}
