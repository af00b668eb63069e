package sfu

import (
	"reflect"
	"runtime"
	"sync"
	"testing"
	"unsafe"

	"github.com/pion/interceptor"
	"github.com/pion/rtp"
)

// TestAttrLenderLendsAClearedMapPerWrite: a write without attributes reaches the next writer
// with an empty map of its own (concurrent writes never share one, and nothing set by one
// packet is seen by the next); a write with attributes passes them on unchanged.
func TestAttrLenderLendsAClearedMapPerWrite(t *testing.T) {
	var mu sync.Mutex
	inUse := map[unsafe.Pointer]bool{}
	next := interceptor.RTPWriterFunc(func(h *rtp.Header, p []byte, a interceptor.Attributes) (int, error) {
		if a == nil {
			t.Error("no attributes lent")
			return 0, nil
		}
		if len(a) != 0 {
			t.Errorf("lent attributes hold %v", a)
		}
		a["seen"] = h.SequenceNumber // what an interceptor records; must not leak to the next packet
		id := reflect.ValueOf(a).UnsafePointer()
		mu.Lock()
		if inUse[id] {
			t.Error("two writes share one attributes map")
		}
		inUse[id] = true
		mu.Unlock()
		runtime.Gosched() // let another write run while this one holds its map
		mu.Lock()
		delete(inUse, id)
		mu.Unlock()
		return len(p), nil
	})
	w := (&attrLender{}).BindLocalStream(&interceptor.StreamInfo{}, next)
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := range 500 {
				if n, err := w.Write(&rtp.Header{SequenceNumber: uint16(g*1000 + i)}, make([]byte, 10), nil); n != 10 || err != nil {
					t.Errorf("write: %d %v", n, err)
					return
				}
			}
		})
	}
	wg.Wait()
	own := interceptor.Attributes{"mine": 1}
	passed := interceptor.RTPWriterFunc(func(_ *rtp.Header, p []byte, a interceptor.Attributes) (int, error) {
		if a["mine"] != 1 {
			t.Errorf("given attributes not passed on: %v", a)
		}
		return len(p), nil
	})
	if _, err := (&attrLender{}).BindLocalStream(&interceptor.StreamInfo{}, passed).Write(&rtp.Header{}, nil, own); err != nil {
		t.Fatal(err)
	}
}
