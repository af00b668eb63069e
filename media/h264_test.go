package media

import (
	"bytes"
	"slices"
	"testing"
)

func TestSplitAVCC(t *testing.T) {
	sample := []byte{0, 0, 0, 2, 0x67, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0x68, 0, 0, 0, 9, 0x65}
	var got [][]byte
	for nal := range SplitAVCC(sample) {
		got = append(got, nal)
	}
	want := [][]byte{{0x67, 1}, {}, {0x68}} // the last length runs past the end: it stops
	if !slices.EqualFunc(got, want, bytes.Equal) {
		t.Errorf("NAL units %x, want %x", got, want)
	}
}

func TestH264ParameterSets(t *testing.T) {
	au := []byte{0, 0, 0, 1, 0x09, 0xf0, 0, 0, 1, 0x67, 1, 0, 0, 1, 0x68, 2, 0, 0, 1, 0x67, 3, 0, 0, 1, 0x65, 4}
	sps, pps := H264ParameterSets(SplitAnnexB(au))
	if !bytes.Equal(sps, []byte{0x67, 1}) || !bytes.Equal(pps, []byte{0x68, 2}) {
		t.Errorf("SPS %x PPS %x, want the first of each", sps, pps)
	}
	if sps, pps := H264ParameterSets(SplitAVCC([]byte{0, 0, 0, 0, 0, 0, 0, 1, 0x41})); sps != nil || pps != nil {
		t.Errorf("a P slice has SPS %x PPS %x", sps, pps)
	}
}

func TestH264ParamSets(t *testing.T) {
	sps, pps, idr, slice := []byte{0x67, 1}, []byte{0x68, 2}, []byte{0x65, 3}, []byte{0x41, 4}
	var p H264ParamSets
	if pre, key := p.Missing(nil, [][]byte{idr}); !key || len(pre) != 0 {
		t.Errorf("nothing kept yet: %x, idr %v", pre, key)
	}
	p.Keep(sps)
	p.Keep(pps)
	p.Keep(slice)
	p.Keep(nil)
	sps[1] = 9 // Keep copied it
	tests := []struct {
		name string
		au   [][]byte
		want [][]byte
		idr  bool
	}{
		{"IDR alone gets both", [][]byte{idr}, [][]byte{{0x67, 1}, {0x68, 2}}, true},
		{"IDR with its SPS gets the PPS", [][]byte{{0x67, 5}, idr}, [][]byte{{0x68, 2}}, true},
		{"IDR with both gets none", [][]byte{{0x67, 5}, {0x68, 6}, idr}, nil, true},
		{"P slice gets none", [][]byte{slice, nil}, nil, false},
	}
	for _, tt := range tests {
		got, key := p.Missing(nil, tt.au)
		if key != tt.idr || !slices.EqualFunc(got, tt.want, bytes.Equal) {
			t.Errorf("%s: %x idr %v, want %x idr %v", tt.name, got, key, tt.want, tt.idr)
		}
	}
}
