package ingest

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/av1"

	"github.com/glint-video/glint/media"
)

// packAV1PES is the muxer's side of unpackAV1PES (AOM's start-code format): each OBU (as
// given: with or without obu_size) after a start code, escaped so that no 0x0000 followed by
// 0x00…0x03 is left in it.
func packAV1PES(obus [][]byte) []byte {
	var b []byte
	for _, obu := range obus {
		b = media.AppendEscaped(append(b, 0, 0, 1), obu)
	}
	return b
}

// withOBUSize returns obu (without obu_size) with its obu_size field added.
func withOBUSize(obu []byte) []byte {
	head := 1 + int(obu[0]&obuExtensionFlag>>2)
	size := av1.LEB128(len(obu) - head)
	out := append([]byte{}, obu[:head]...)
	out[0] |= obuHasSizeField
	out = append(out, make([]byte, size.MarshalSize())...)
	size.MarshalTo(out[head:])
	return append(out, obu[head:]...)
}

// splitOBUs splits a temporal unit in AV1's low-overhead format (every OBU with obu_size, as
// libaom writes it) into its OBUs, each with its header and obu_size as they are.
func splitOBUs(tu []byte) ([][]byte, error) {
	var obus [][]byte
	for len(tu) > 0 {
		head := 1 + int(tu[0]&obuExtensionFlag>>2)
		if tu[0]&obuHasSizeField == 0 || len(tu) <= head {
			return nil, fmt.Errorf("OBU without obu_size in a low-overhead temporal unit")
		}
		var size av1.LEB128
		n, err := size.Unmarshal(tu[head:])
		if err != nil || len(tu) < head+n+int(size) {
			return nil, fmt.Errorf("bad obu_size")
		}
		obus, tu = append(obus, tu[:head+n+int(size)]), tu[head+n+int(size):]
	}
	return obus, nil
}

func TestUnpackAV1PES(t *testing.T) {
	seq := []byte{0x0a, 0x0b, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x01, 0x00, 0x00, 0x03, 0x7f} // 0x0a: sequence header with obu_size 11
	for _, tc := range []struct {
		name string
		pes  []byte
		want [][]byte
		err  string
	}{
		{"sized OBUs, escaped", packAV1PES([][]byte{{0x12, 0x00}, seq}), [][]byte{{0x10}, {0x08, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x01, 0x00, 0x00, 0x03, 0x7f}}, ""},
		{"unsized OBUs, 4-byte start codes, stuffing", []byte{0, 0, 0, 1, 0x10, 0, 0, 0, 1, 0x30, 0xaa, 0x00, 0x00, 0x03, 0x01, 0xbb, 0, 0},
			[][]byte{{0x10}, {0x30, 0xaa, 0x00, 0x00, 0x01, 0xbb}}, ""},
		{"extension header with obu_size", []byte{0, 0, 1, 0x36, 0x28, 0x02, 0xaa, 0xbb}, [][]byte{{0x34, 0x28, 0xaa, 0xbb}}, ""},
		{"empty start-code unit skipped", []byte{0, 0, 1, 0, 0, 1, 0x12, 0x00}, [][]byte{{0x10}}, ""},
		{"zero bytes only", []byte{0, 0, 0, 0}, nil, ""},
		{"empty", nil, nil, ""},
		{"junk before the first start code", []byte{0x47, 0, 0, 1, 0x12, 0x00}, nil, "before the first OBU start code"},
		{"no start code", []byte{0x12, 0x00}, nil, "before the first OBU start code"},
		{"forbidden bit", []byte{0, 0, 1, 0x92, 0x00}, nil, "forbidden bit"},
		{"obu_size beyond the unit", []byte{0, 0, 1, 0x12, 0x05, 0xaa, 0, 0, 1, 0x10}, nil, "obu_size 5 beyond"},
		{"bytes after the OBU", []byte{0, 0, 1, 0x12, 0x00, 0xaa}, nil, "1 bytes after an OBU"},
		{"truncated obu_size", []byte{0, 0, 1, 0x12, 0x80}, nil, "obu_size"},
		{"extension header cut", []byte{0, 0, 1, 0x14}, nil, "OBU header of 1 bytes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := unpackAV1PES(tc.pes)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err %v, want one with %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !slices.EqualFunc(got, tc.want, bytes.Equal) {
				t.Fatalf("OBUs % x, want % x", got, tc.want)
			}
		})
	}
}

func TestParseAV1VideoDescriptor(t *testing.T) {
	d, err := parseAV1VideoDescriptor([]byte{0x81, 0x08, 0x4c, 0x00})
	if err != nil || !d.described || d.profile != 0 || d.level != 8 || d.tier != 0 || d.bitDepth != 10 || d.mono || d.hdrWCG != 0 {
		t.Fatalf("main 4.0 10-bit 4:2:0: %+v, %v", d, err)
	}
	d, err = parseAV1VideoDescriptor([]byte{0x81, 0x53, 0xf0, 0x90})
	if err != nil || d.profile != 2 || d.level != 19 || d.tier != 1 || d.bitDepth != 12 || !d.mono || d.hdrWCG != 2 {
		t.Fatalf("professional 12-bit monochrome HDR: %+v, %v", d, err)
	}
	for _, bad := range [][]byte{{0x81, 0x08, 0x0c}, {0x01, 0x08, 0x0c, 0x00}, {0x80, 0x08, 0x0c, 0x00}, {0x81, 0x68, 0x0c, 0x00}} {
		if _, err := parseAV1VideoDescriptor(bad); err == nil {
			t.Errorf("% x: no error", bad)
		}
	}
}

// FuzzAV1PES: any PES payload either fails or gives OBUs without obu_size fields that, with
// obu_size added back, pack and unpack to themselves.
func FuzzAV1PES(f *testing.F) {
	f.Add(packAV1PES([][]byte{{0x12, 0x00}, {0x0a, 0x03, 0x00, 0x00, 0x00}, {0x32, 0x04, 0x10, 0x00, 0x00, 0x01}}))
	f.Add([]byte{0, 0, 0, 1, 0x10, 0, 0, 0, 1, 0x36, 0x28, 0x02, 0xaa, 0xbb, 0, 0})
	f.Fuzz(func(t *testing.T, pes []byte) {
		obus, err := unpackAV1PES(pes)
		if err != nil {
			if errors.Is(err, errNoOBUStartCode) || strings.HasPrefix(err.Error(), "av1 pes: OBU ") {
				return
			}
			t.Fatalf("unexpected error %v", err)
		}
		for _, obu := range obus {
			if len(obu) == 0 || obu[0]&(obuHasSizeField|obuForbiddenBit) != 0 {
				t.Fatalf("OBU % x: empty, or with obu_has_size_field or the forbidden bit", obu)
			}
		}
		sized := make([][]byte, len(obus))
		for i, obu := range obus {
			sized[i] = withOBUSize(obu)
		}
		again, err := unpackAV1PES(packAV1PES(sized))
		if err != nil || !slices.EqualFunc(again, obus, bytes.Equal) {
			t.Fatalf("repacked: % x, %v; want % x", again, err, obus)
		}
	})
}
