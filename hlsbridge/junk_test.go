package hlsbridge

import (
	"encoding/hex"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
)

// startJunkPublisher publishes a broken stream into room through an in-process publisher:
// valid SPS/PPS but garbage slices (some with the forbidden bit, some truncated
// aggregation packets, random payload types) and garbage Opus. Its bridge must log and
// drop what it cannot use without disturbing other rooms. stop ends it and waits.
func startJunkPublisher(t *testing.T, env *testEnv, room string) (stop func()) {
	t.Helper()
	video := &webrtc.RTPCodecParameters{PayloadType: 96, RTPCodecCapability: webrtc.RTPCodecCapability{
		MimeType: webrtc.MimeTypeH264, ClockRate: 90000, SDPFmtpLine: "packetization-mode=1;profile-level-id=42e01f"}}
	audio := &webrtc.RTPCodecParameters{PayloadType: 111, RTPCodecCapability: webrtc.RTPCodecCapability{
		MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2}}
	pub, err := env.SFU.PublishLocal(room, video, audio, nil)
	if err != nil {
		t.Fatal(err)
	}
	sps, _ := hex.DecodeString("6742c00cd90141fb0110000003001000000301e0f142a480")
	pps, _ := hex.DecodeString("68cb83cb20")
	rnd := rand.New(rand.NewPCG(1, 2))
	garbage := func(first byte, n int) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(rnd.Uint32())
		}
		b[0] = first
		return b
	}
	var vseq, aseq uint16
	var vts, ats uint32
	send := func(kind string, seq *uint16, ts uint32, marker bool, payload []byte) {
		*seq++
		b, _ := (&rtp.Packet{Header: rtp.Header{Version: 2, Marker: marker, SequenceNumber: *seq, Timestamp: ts,
			SSRC: 1234}, Payload: payload}).Marshal()
		_ = pub.WriteRTP(kind, b)
	}
	return runLocalPublisher(t, pub, func(done <-chan struct{}) {
		tick := time.NewTicker(time.Second / testFPS)
		defer tick.Stop()
		for n := 0; ; n++ {
			select {
			case <-done:
				return
			case <-tick.C:
			}
			switch {
			case n%15 == 0: // "keyframe": parameter sets, then a garbage IDR in FU-A fragments
				send("video", &vseq, vts, false, stapA(sps, pps))
				for i, p := range fuA(garbage(0x65, 3000), 3) {
					send("video", &vseq, vts, i == 2, p)
				}
			case n%7 == 0:
				send("video", &vseq, vts, true, garbage(0xc1, 500)) // forbidden bit set
			case n%11 == 0:
				send("video", &vseq, vts, true, stapA(sps, pps)[:10]) // truncated STAP-A
			case n%13 == 0:
				send("video", &vseq, vts, true, garbage(byte(rnd.Uint32()), 300))
			default:
				send("video", &vseq, vts, true, garbage(0x41, 600))
			}
			vts += 90000 / testFPS
			for range 3 {
				send("audio", &aseq, ats, false, garbage(0xfc, 80))
				ats += 960
			}
		}
	})
}
