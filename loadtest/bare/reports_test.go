package bare

import (
	"slices"
	"testing"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/srtp/v3"
)

// t0 is an arrival time in the Unix ns range the kernel stamps give.
const t0 = int64(1_700_000_000_000_000_000)

// feed counts sequence numbers seqs of one SSRC, 10 ms apart (RTP timestamps to match at
// 90 kHz), into a fresh streamStats.
func feed(seqs ...uint16) *streamStats {
	s := &streamStats{ssrc: 7}
	for i, seq := range seqs {
		arrived, ts := t0+int64(i)*int64(10*time.Millisecond), uint32(i*900)
		if i == 0 {
			s.start(seq, ts, arrived, 90000)
			continue
		}
		s.add(seq, ts, arrived)
	}
	return s
}

func seqRange(from uint16, n int) []uint16 {
	out := make([]uint16, n)
	for i := range out {
		out[i] = from + uint16(i)
	}
	return out
}

// TestReportSequenceWrap: counting through the 16-bit wrap-around extends the highest
// sequence number by one cycle, twice over, and loses nothing.
func TestReportSequenceWrap(t *testing.T) {
	s := feed(seqRange(65530, 16)...) // 65530..65535, 0..9
	r := s.report(t0)
	if r.LastSequenceNumber != 1<<16+9 || s.cycles != 1<<16 || r.TotalLost != 0 || r.FractionLost != 0 {
		t.Errorf("after one wrap: %+v, cycles %d; want extended highest %d, nothing lost", r, s.cycles, 1<<16+9)
	}
	for _, seq := range seqRange(10, 1<<16) { // to 9 again, a second wrap
		s.add(seq, 0, t0)
	}
	if r := s.report(t0); r.LastSequenceNumber != 2<<16+9 || r.TotalLost != 0 {
		t.Errorf("after two wraps: %+v, want extended highest %d, nothing lost", r, 2<<16+9)
	}
}

// TestReportLoss: a gap of 3 packets in 21 is cumulative loss 3 and fraction 3/21 (36/256);
// the next interval without loss keeps the cumulative count and reports fraction 0.
func TestReportLoss(t *testing.T) {
	seqs := append(seqRange(100, 11), seqRange(114, 7)...) // 100..110, 114..120: 111-113 lost
	s := feed(seqs...)
	if r := s.report(t0); r.TotalLost != 3 || r.FractionLost != 3*256/21 || r.LastSequenceNumber != 120 {
		t.Errorf("report %+v, want 3 lost, fraction %d, highest 120", r, 3*256/21)
	}
	for _, seq := range seqRange(121, 10) {
		s.add(seq, 0, t0)
	}
	if r := s.report(t0); r.TotalLost != 3 || r.FractionLost != 0 || r.LastSequenceNumber != 130 {
		t.Errorf("next report %+v, want 3 lost in all, fraction 0, highest 130", r)
	}
	// 69 of 70 lost: fraction 69*256/70.
	s.add(200, 0, t0)
	if r := s.report(t0); r.FractionLost != 69*256/70 || r.TotalLost != 3+69 {
		t.Errorf("after a gap of 69: %+v, want fraction %d, %d lost", r, 69*256/70, 3+69)
	}
}

// TestReportReorderAndDuplicates: reordering loses nothing; a late packet filling a gap
// already reported brings the cumulative loss back to 0 with fraction 0 (not negative);
// duplicates are not counted, so the loss never goes negative.
func TestReportReorderAndDuplicates(t *testing.T) {
	s := feed(1, 3, 2, 4, 6, 5, 7)
	if r := s.report(t0); r.TotalLost != 0 || r.FractionLost != 0 || r.LastSequenceNumber != 7 {
		t.Errorf("reordered: %+v, want nothing lost, highest 7", r)
	}
	s.add(9, 0, t0) // 8 missing
	if r := s.report(t0); r.TotalLost != 1 || r.FractionLost != 128 {
		t.Errorf("8 missing: %+v, want 1 lost, fraction 128", r)
	}
	for _, seq := range []uint16{8, 9, 9, 7, 1, 10, 10} { // 8 late, then duplicates
		s.add(seq, 0, t0)
	}
	r := s.report(t0)
	if lost := int32(r.TotalLost<<8) >> 8; lost != 0 || r.FractionLost != 0 || r.LastSequenceNumber != 10 {
		t.Errorf("after the late packet and duplicates: %+v (lost %d), want 0 lost, fraction 0, highest 10", r, lost)
	}
	if s.received != 10 {
		t.Errorf("received %d, want 10 (duplicates not counted)", s.received)
	}
}

// TestReportLargeJump: a jump beyond maxDropout is not counted until the next packet
// follows it; then counting restarts there (RFC 3550 A.1).
func TestReportLargeJump(t *testing.T) {
	s := feed(10, 11, 30000)
	if r := s.report(t0); r.LastSequenceNumber != 11 || r.TotalLost != 0 {
		t.Errorf("one packet after a jump: %+v, want it ignored", r)
	}
	s.add(30001, 0, t0)
	s.add(30002, 0, t0)
	if r := s.report(t0); r.LastSequenceNumber != 30002 || r.TotalLost != 0 || s.received != 2 {
		t.Errorf("restarted: %+v, received %d; want highest 30002, 0 lost, 2 received", r, s.received)
	}
}

// TestReportJitter checks RFC 3550 A.8 against a hand computation: 10 ms packets (900
// ticks at 90 kHz) arriving at 0, 10, 30 and 40 ms have transits 0, 0, 900, 900, so D is
// 0, 900, 0 and J = 0, 900/16 = 56.25, 56.25 + (0 − 56.25)/16 = 52.73: reported 52.
func TestReportJitter(t *testing.T) {
	s := &streamStats{}
	s.start(1, 5000, t0, 90000)
	for i, ms := range []int64{10, 30, 40} {
		s.add(uint16(2+i), 5000+uint32(900*(i+1)), t0+ms*int64(time.Millisecond))
	}
	if r := s.report(t0); r.Jitter != 52 {
		t.Errorf("jitter %d, want 52", r.Jitter)
	}
	// Audio at 48 kHz, 20 ms packets each 1 ms later than the last: D = 48 each time, and
	// J converges on 48 (J_n = 48(1 − (15/16)^n)).
	a := &streamStats{}
	a.start(1, 0, t0, 48000)
	for i := 1; i <= 200; i++ {
		a.add(uint16(1+i), uint32(960*i), t0+int64(i)*int64(21*time.Millisecond))
	}
	if r := a.report(t0); r.Jitter < 46 || r.Jitter > 48 {
		t.Errorf("audio jitter %d, want about 48", r.Jitter)
	}
}

// reporterPair is a receiver with receiver reports on, fed by a testStream, and the
// context that decrypts its reports (the server's side of the viewer's keys).
func reporterPair(t *testing.T, profile srtp.ProtectionProfile) (*testStream, *receiver, *srtp.Context) {
	t.Helper()
	s, r := newTestPair(t, profile, nil)
	rep, err := newReporter(time.Second, [128]uint32{testVideoPT: 90000, testAudioPT: 48000})
	if err != nil {
		t.Fatal(err)
	}
	keyLen, _ := profile.KeyLen()
	saltLen, _ := profile.SaltLen()
	key, salt := make([]byte, keyLen), make([]byte, saltLen)
	key[0], salt[0] = 3, 4
	if rep.enc, err = srtp.CreateContext(key, salt, profile); err != nil {
		t.Fatal(err)
	}
	dec, err := srtp.CreateContext(key, salt, profile)
	if err != nil {
		t.Fatal(err)
	}
	r.rep = rep
	return s, r, dec
}

// encryptSR returns a sender report of ssrc with NTP time ntp, as the server sends it.
func (s *testStream) encryptSR(t testing.TB, ssrc uint32, ntp uint64) []byte {
	t.Helper()
	raw, err := rtcp.Marshal([]rtcp.Packet{&rtcp.SenderReport{SSRC: ssrc, NTPTime: ntp, RTPTime: 1, PacketCount: 2, OctetCount: 3}})
	if err != nil {
		t.Fatal(err)
	}
	b, err := s.enc.EncryptRTCP(nil, raw, nil)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestReportFromReceivePath runs packets and sender reports through the receive path and
// decrypts the report built 1.5 s after the video SR arrived: an RR from the viewer's SSRC
// with a block for the video (across the sequence wrap) and one for the audio, LSR the
// middle of the SR's NTP time and DLSR 1.5 s, then the SDES CNAME of the same SSRC. An
// SRTCP packet that does not decrypt is a decryption failure, not the end.
func TestReportFromReceivePath(t *testing.T) {
	for _, profile := range []srtp.ProtectionProfile{srtp.ProtectionProfileAes128CmHmacSha1_80, srtp.ProtectionProfileAeadAes128Gcm} {
		s, r, dec := reporterPair(t, profile)
		for range 100 { // 1000 video packets from 65000: across the wrap
			for _, b := range s.nextFrame(t, 10) {
				r.handle(b, t0)
			}
		}
		sr := s.encryptSR(t, 1, 0x0123_4567_89ab_cdef)
		r.handle(sr, t0+int64(time.Second))
		bad := slices.Clone(sr)
		bad[len(bad)-1] ^= 1
		r.handle(bad, t0+int64(2*time.Second)) // fails to decrypt: counted, no harm
		r.handle(s.encryptSR(t, 99, 1), t0)    // an SSRC never received: ignored
		pkt, err := r.rep.build(t0 + int64(2500*time.Millisecond))
		if err != nil {
			t.Fatal(err)
		}
		plain, err := dec.DecryptRTCP(nil, pkt, nil)
		if err != nil {
			t.Fatalf("%s: decrypt the report: %v", profile, err)
		}
		rr, cname := parseReport(t, plain)
		if rr.SSRC != r.rep.ssrc || cname.Source != rr.SSRC || len(cname.Items) != 1 || cname.Items[0].Type != rtcp.SDESCNAME || len(cname.Items[0].Text) == 0 {
			t.Fatalf("%s: RR from %d, SDES %+v; want the CNAME of the RR's sender", profile, rr.SSRC, cname)
		}
		want := map[uint32]rtcp.ReceptionReport{ // DLSR: 1.5 s is 98304/65536 s
			1: {SSRC: 1, LastSequenceNumber: 65000 + 1000 - 1, LastSenderReport: 0x4567_89ab, Delay: 98304},
			2: {SSRC: 2, LastSequenceNumber: 100 + 100 - 1},
		}
		if len(rr.Reports) != 2 {
			t.Fatalf("%s: %d report blocks, want 2", profile, len(rr.Reports))
		}
		for _, got := range rr.Reports {
			got.Jitter = 0 // all arrived at once: 0 for audio, frame spacing for video; checked above
			if got != want[got.SSRC] {
				t.Errorf("%s: block %+v, want %+v", profile, got, want[got.SSRC])
			}
		}
		if f := r.decryptFailure.Load(); f != 1 {
			t.Errorf("%s: %d decryption failures, want 1 (the damaged SR)", profile, f)
		}
	}
}

// parseReport reads a compound packet that must be an RR then an SDES of one chunk.
func parseReport(t *testing.T, b []byte) (*rtcp.ReceiverReport, rtcp.SourceDescriptionChunk) {
	t.Helper()
	pkts, err := rtcp.Unmarshal(b)
	if err != nil {
		t.Fatalf("report: %v", err)
	}
	if len(pkts) != 2 {
		t.Fatalf("report has %d packets, want RR and SDES: %v", len(pkts), pkts)
	}
	rr, ok := pkts[0].(*rtcp.ReceiverReport)
	sdes, ok2 := pkts[1].(*rtcp.SourceDescription)
	if !ok || !ok2 || len(sdes.Chunks) != 1 {
		t.Fatalf("report is %T, %T; want an RR then an SDES of one chunk", pkts[0], pkts[1])
	}
	return rr, sdes.Chunks[0]
}

// TestReceivePathWithReportsAllocatesNothing: with receiver reports on, a packet through
// the receive path still allocates nothing, sender reports included.
func TestReceivePathWithReportsAllocatesNothing(t *testing.T) {
	s, r, _ := reporterPair(t, srtp.ProtectionProfileAeadAes128Gcm)
	ring := ringOfFrames(t, s, 30, 10)
	var srs [][]byte
	for i := range 64 {
		srs = append(srs, s.encryptSR(t, 1, uint64(i+1)<<32))
	}
	r.handle(ring[0], t0) // the SSRC's state is made once
	r.handle(srs[0], t0)
	i, j := 1, 1
	allocs := testing.AllocsPerRun(len(ring)*2, func() {
		if i == len(ring) {
			i, r.frames = 0, frameStarts{}
		}
		r.handle(ring[i], t0)
		if i%10 == 0 && j < len(srs) {
			r.handle(srs[j], t0)
			j++
		}
		i++
	})
	if allocs != 0 {
		t.Errorf("%v allocations per packet, want 0", allocs)
	}
	if got := r.rep.find(1); got == nil || got.lastSR == 0 || r.decryptFailure.Load() != 0 {
		t.Errorf("sender reports not read: %+v, %d decryption failures", got, r.decryptFailure.Load())
	}
}
