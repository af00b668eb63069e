package llhls

import (
	"bytes"
	"testing"
	"time"

	"github.com/Eyevinn/mp4ff/mp4"
)

// BenchmarkPlayPart measures what a viewer spends on one downloaded 10-frame part: moof
// parsing, the sample walk and the capture-time SEI lookup of every frame. Allocations
// per part are mp4ff's moof decode; none are per sample.
func BenchmarkPlayPart(b *testing.B) {
	init := mp4.CreateEmptyInit()
	init.AddEmptyTrack(90000, "video", "und")
	if err := init.Moov.Trak.SetAVCDescriptor("avc1", [][]byte{sps320}, [][]byte{ppsX}, true); err != nil {
		b.Fatal(err)
	}
	var ib bytes.Buffer
	if err := init.Encode(&ib); err != nil {
		b.Fatal(err)
	}
	vi, err := parseInit(ib.Bytes())
	if err != nil {
		b.Fatal(err)
	}
	frag, err := mp4.CreateFragment(1, 1)
	if err != nil {
		b.Fatal(err)
	}
	now := time.Now()
	for i := range 10 {
		au, _ := accessUnit(i, i == 0, sps320, now)
		flags := mp4.NonSyncSampleFlags
		if i == 0 {
			flags = mp4.SyncSampleFlags
		}
		frag.AddFullSample(mp4.FullSample{Sample: mp4.NewSample(flags, 3000, uint32(len(au)), 0),
			DecodeTime: uint64(i * 3000), Data: au})
	}
	var part bytes.Buffer
	if err := frag.Encode(&part); err != nil {
		b.Fatal(err)
	}
	frames := 0
	v := &viewer{init: vi, have: true, joined: true, cfg: Config{OnFrame: func(Frame) { frames++ }}}
	seg := &segment{msn: 1, pdt: now}
	b.ReportAllocs()
	for b.Loop() {
		v.track.haveLast = false
		if err := v.play(seg, 0, part.Bytes(), now); err != nil {
			b.Fatal(err)
		}
	}
	if frames != 10*b.N {
		b.Fatalf("%d frames for %d parts", frames, b.N)
	}
}
