package media

import (
	"bytes"
	"errors"
	"slices"
	"testing"
	"time"
)

var timeForTest = time.Unix(1764100000, 123456789)

// nalOf returns a NAL unit of type typ (NRI 3) with n bytes of body counting up from seed.
func nalOf(typ byte, n int, seed byte) []byte {
	b := []byte{0x60 | typ}
	for i := range n {
		b = append(b, seed+byte(i))
	}
	return b
}

type rtpPayload struct {
	data   []byte
	marker bool
}

func packetizeAll(t *testing.T, p *H264Packetizer, au [][]byte) []rtpPayload {
	t.Helper()
	var out []rtpPayload
	err := p.Packetize(au, func(payload []byte, marker bool) error {
		out = append(out, rtpPayload{slices.Clone(payload), marker})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestH264Packetize(t *testing.T) {
	sei, sps, pps := []byte{H264NALSEI, 5, 1, 0x80}, nalOf(H264NALSPS, 10, 0), []byte{0x68, 0xce, 0x3c, 0x80}
	idr, slice := nalOf(H264NALIDR, 30, 1), nalOf(H264NALSlice, 8, 2)
	tests := []struct {
		name      string
		aggregate bool
		au        [][]byte
		want      []rtpPayload
	}{
		{"single NAL units, marker on the last", false, [][]byte{sps, pps, slice},
			[]rtpPayload{{sps, false}, {pps, false}, {slice, true}}},
		{"empty NAL units skipped, also at the end", false, [][]byte{nil, slice, {}},
			[]rtpPayload{{slice, true}}},
		{"FU-A over the limit", false, [][]byte{slice, idr}, []rtpPayload{
			{slice, false},
			{append([]byte{0x60 | H264NALFUA, 0x80 | H264NALIDR}, idr[1:14]...), false},
			{append([]byte{0x60 | H264NALFUA, H264NALIDR}, idr[14:27]...), false},
			{append([]byte{0x60 | H264NALFUA, 0x40 | H264NALIDR}, idr[27:]...), true}}},
		{"STAP-A of SEI and PPS, highest NRI", true, [][]byte{sei, pps, slice}, []rtpPayload{
			{slices.Concat([]byte{0x60 | H264NALSTAPA, 0, 4}, sei, []byte{0, 4}, pps), false}, {slice, true}}},
		{"STAP-A up to the limit, then alone", true, [][]byte{sei, pps, sei, sps}, []rtpPayload{
			{slices.Concat([]byte{0x60 | H264NALSTAPA, 0, 4}, sei, []byte{0, 4}, pps), false}, {sei, false}, {sps, true}}},
		{"one NAL unit over the limit of a STAP-A is not aggregated", true, [][]byte{sei, sps},
			[]rtpPayload{{sei, false}, {sps, true}}},
		{"a lone SEI is not aggregated", true, [][]byte{sei, slice},
			[]rtpPayload{{sei, false}, {slice, true}}},
		{"nothing", true, nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := H264Packetizer{MaxPayload: 15, Aggregate: tt.aggregate}
			got := packetizeAll(t, &p, tt.au)
			if len(got) != len(tt.want) {
				t.Fatalf("%d payloads %v, want %d %v", len(got), got, len(tt.want), tt.want)
			}
			for i := range got {
				if !bytes.Equal(got[i].data, tt.want[i].data) || got[i].marker != tt.want[i].marker {
					t.Errorf("payload %d = %x marker %v, want %x marker %v", i, got[i].data, got[i].marker, tt.want[i].data, tt.want[i].marker)
				}
			}
		})
	}
}

func TestH264PacketizeStopsAtError(t *testing.T) {
	p := H264Packetizer{MaxPayload: 4}
	stop := errors.New("stop")
	calls := 0
	err := p.Packetize([][]byte{nalOf(H264NALIDR, 20, 0)}, func([]byte, bool) error { calls++; return stop })
	if !errors.Is(err, stop) || calls != 1 {
		t.Errorf("err %v after %d calls, want stop after 1", err, calls)
	}
}

// depacketizeAll pushes payloads and returns the NAL units and errors in order.
func depacketizeAll(d *H264Depacketizer, payloads ...[]byte) (nals [][]byte, errs []error) {
	for _, p := range payloads {
		if err := d.Push(p, func(n []byte) { nals = append(nals, slices.Clone(n)) }); err != nil {
			errs = append(errs, err)
		}
	}
	return nals, errs
}

func TestH264Depacketize(t *testing.T) {
	slice := nalOf(H264NALSlice, 6, 1)
	fuStart := []byte{0x60 | H264NALFUA, 0x80 | H264NALIDR, 1, 2}
	fuMid := []byte{0x60 | H264NALFUA, H264NALIDR, 3}
	fuEnd := []byte{0x60 | H264NALFUA, 0x40 | H264NALIDR, 4}
	idr := []byte{0x60 | H264NALIDR, 1, 2, 3, 4}
	stap := []byte{H264NALSTAPA, 0, 2, 0x67, 9, 0, 1, 0x68}
	tests := []struct {
		name     string
		payloads [][]byte
		want     [][]byte
		errs     []error
		pending  bool
	}{
		{"single NAL unit", [][]byte{slice}, [][]byte{slice}, nil, false},
		{"padding only", [][]byte{{}}, nil, nil, false},
		{"STAP-A", [][]byte{stap}, [][]byte{{0x67, 9}, {0x68}}, nil, false},
		{"STAP-A truncated after a whole NAL unit", [][]byte{{H264NALSTAPA, 0, 1, 0x67, 0, 5, 1}},
			[][]byte{{0x67}}, []error{ErrH264Truncated}, false},
		{"STAP-A with a zero size", [][]byte{{H264NALSTAPA, 0, 0}}, nil, []error{ErrH264Truncated}, false},
		{"STAP-A with an odd byte", [][]byte{{H264NALSTAPA, 0, 1, 0x67, 1}}, [][]byte{{0x67}}, []error{ErrH264Truncated}, false},
		{"FU-A", [][]byte{fuStart, fuMid, fuEnd}, [][]byte{idr}, nil, false},
		{"FU-A start and end in one", [][]byte{{0x60 | H264NALFUA, 0xc0 | H264NALIDR, 7}},
			[][]byte{{0x60 | H264NALIDR, 7}}, nil, false},
		{"FU-A pending", [][]byte{fuStart, fuMid}, nil, nil, true},
		{"FU-A without its start", [][]byte{fuMid, fuEnd}, nil, []error{ErrH264FragmentLost, ErrH264FragmentLost}, false},
		{"FU-A restarted", [][]byte{fuStart, fuStart, fuMid, fuEnd}, [][]byte{idr}, []error{ErrH264FragmentLost}, false},
		{"FU-A cut by a single NAL unit", [][]byte{fuStart, slice}, [][]byte{slice}, []error{ErrH264FragmentLost}, false},
		{"FU-A too short", [][]byte{{H264NALFUA}}, nil, []error{ErrH264Truncated}, false},
		{"STAP-B", [][]byte{{25, 0, 0, 0, 1, 0x65}}, nil, []error{ErrH264UnsupportedPT}, false},
		{"type 0", [][]byte{{0, 1}}, nil, []error{ErrH264UnsupportedPT}, false},
		{"aggregation types inside are dropped", [][]byte{{H264NALSTAPA, 0, 1, H264NALSTAPA, 0, 1, 0x61}, {H264NALFUA, 0xc0 | H264NALFUA, 1}},
			[][]byte{{0x61}}, nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var d H264Depacketizer
			nals, errs := depacketizeAll(&d, tt.payloads...)
			if len(nals) != len(tt.want) {
				t.Fatalf("NAL units %x, want %x", nals, tt.want)
			}
			for i := range nals {
				if !bytes.Equal(nals[i], tt.want[i]) {
					t.Errorf("NAL unit %d = %x, want %x", i, nals[i], tt.want[i])
				}
			}
			if !slices.Equal(errs, tt.errs) {
				t.Errorf("errors %v, want %v", errs, tt.errs)
			}
			if d.Pending() != tt.pending {
				t.Errorf("pending %v, want %v", d.Pending(), tt.pending)
			}
			d.Reset()
			if d.Pending() {
				t.Error("pending after Reset")
			}
		})
	}
}

func TestH264RoundTrip(t *testing.T) {
	au := [][]byte{AppendCaptureSEI(nil, timeForTest), nalOf(H264NALSPS, 12, 3), nalOf(H264NALPPS, 3, 4),
		nalOf(H264NALIDR, 3000, 5), nalOf(H264NALIDR, 40, 6)}
	for _, aggregate := range []bool{false, true} {
		p := H264Packetizer{MaxPayload: 1188, Aggregate: aggregate}
		var d H264Depacketizer
		var got [][]byte
		markers := 0
		err := p.Packetize(au, func(payload []byte, marker bool) error {
			if len(payload) > p.MaxPayload {
				t.Errorf("payload of %d bytes over %d", len(payload), p.MaxPayload)
			}
			if marker {
				markers++
			}
			return d.Push(payload, func(n []byte) { got = append(got, slices.Clone(n)) })
		})
		if err != nil {
			t.Fatal(err)
		}
		if markers != 1 || !slices.EqualFunc(got, au, bytes.Equal) {
			t.Errorf("aggregate %v: %d markers, NAL units differ: got %d, want %d", aggregate, markers, len(got), len(au))
		}
	}
}

func BenchmarkH264Packetize(b *testing.B) {
	au := [][]byte{AppendCaptureSEI(nil, timeForTest), nalOf(H264NALSPS, 12, 3), nalOf(H264NALPPS, 3, 4), nalOf(H264NALIDR, 20000, 5)}
	p := H264Packetizer{MaxPayload: 1188, Aggregate: true}
	n := 0
	emit := func(payload []byte, _ bool) error { n += len(payload); return nil }
	b.ReportAllocs()
	for b.Loop() {
		if err := p.Packetize(au, emit); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkH264Depacketize(b *testing.B) {
	au := [][]byte{AppendCaptureSEI(nil, timeForTest), nalOf(H264NALSPS, 12, 3), nalOf(H264NALPPS, 3, 4), nalOf(H264NALIDR, 20000, 5)}
	p := H264Packetizer{MaxPayload: 1188, Aggregate: true}
	var payloads [][]byte
	if err := p.Packetize(au, func(payload []byte, _ bool) error { payloads = append(payloads, slices.Clone(payload)); return nil }); err != nil {
		b.Fatal(err)
	}
	var d H264Depacketizer
	n := 0
	nal := func(b []byte) { n += len(b) }
	b.ReportAllocs()
	for b.Loop() {
		for _, pl := range payloads {
			if err := d.Push(pl, nal); err != nil {
				b.Fatal(err)
			}
		}
	}
}

func TestH264STAPANALs(t *testing.T) {
	tests := []struct {
		name    string
		payload []byte
		want    [][]byte
	}{
		{"two", []byte{H264NALSTAPA, 0, 2, 0x67, 1, 0, 1, 0x68}, [][]byte{{0x67, 1}, {0x68}}},
		{"stops at a zero size", []byte{H264NALSTAPA, 0, 1, 0x67, 0, 0, 0x68}, [][]byte{{0x67}}},
		{"stops at a size past the end", []byte{H264NALSTAPA, 0, 1, 0x06, 0, 9, 0x68}, [][]byte{{0x06}}},
		{"header only", []byte{H264NALSTAPA}, nil},
		{"nothing", nil, nil},
	}
	for _, tt := range tests {
		var got [][]byte
		for nal := range H264STAPANALs(tt.payload) {
			got = append(got, nal)
		}
		if !slices.EqualFunc(got, tt.want, bytes.Equal) {
			t.Errorf("%s: %x, want %x", tt.name, got, tt.want)
		}
	}
	for range H264STAPANALs([]byte{H264NALSTAPA, 0, 1, 0x67, 0, 1, 0x68}) {
		break // stopping early must not panic
	}
}

func TestH264PayloadNALTypes(t *testing.T) {
	tests := []struct {
		name    string
		payload []byte
		want    []uint8
	}{
		{"empty", nil, nil},
		{"single IDR", []byte{0x65, 0x88}, []uint8{5}},
		{"single SPS", []byte{0x67, 0x42}, []uint8{7}},
		{"single non-IDR", []byte{0x41, 0x9a}, []uint8{1}},
		{"STAP-A SPS+PPS", []byte{0x78, 0, 2, 0x67, 0x42, 0, 2, 0x68, 0xce}, []uint8{7, 8}},
		{"STAP-A truncated first unit", []byte{0x78, 0, 9, 0x67}, nil},
		{"STAP-A truncated second unit", []byte{0x78, 0, 2, 0x67, 0x42, 0, 9, 0x68}, []uint8{7}},
		{"FU-A start of IDR", []byte{0x7c, 0x85, 0x01}, []uint8{5}},
		{"FU-A middle", []byte{0x7c, 0x05, 0x01}, nil},
		{"FU-A too short", []byte{0x7c}, nil},
		{"reserved type", []byte{0x1e}, nil},
	}
	for _, tt := range tests {
		if got := H264PayloadNALTypes(tt.payload); !slices.Equal(got, tt.want) {
			t.Errorf("%s: H264PayloadNALTypes(% x) = %v, want %v", tt.name, tt.payload, got, tt.want)
		}
	}
}
