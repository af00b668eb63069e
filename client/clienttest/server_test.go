package clienttest

import (
	"slices"
	"testing"
)

func TestH264NALTypes(t *testing.T) {
	tests := []struct {
		name    string
		payload []byte
		want    []uint8
	}{
		{"empty", nil, nil},
		{"single IDR", []byte{0x65, 0x88}, []uint8{5}},
		{"single SPS", []byte{0x67, 0x42}, []uint8{7}},
		{"STAP-A SPS+PPS", []byte{0x78, 0, 2, 0x67, 0x42, 0, 2, 0x68, 0xce}, []uint8{7, 8}},
		{"STAP-A truncated", []byte{0x78, 0, 9, 0x67}, nil},
		{"FU-A start IDR", []byte{0x7c, 0x85, 0x01}, []uint8{5}},
		{"FU-A middle", []byte{0x7c, 0x05, 0x01}, nil},
		{"FU-A too short", []byte{0x7c}, nil},
	}
	for _, tt := range tests {
		if got := H264NALTypes(tt.payload); !slices.Equal(got, tt.want) {
			t.Errorf("%s: H264NALTypes = %v, want %v", tt.name, got, tt.want)
		}
	}
}
