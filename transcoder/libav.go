package transcoder

/*
#cgo pkg-config: libavcodec libavutil
#include <libavcodec/avcodec.h>
#include <libavutil/frame.h>
#include <string.h>
#include <time.h>

// glint_fill_packet replaces pkt's payload with a padded copy of data, as decoders require
// (go-astiav v0.16's Packet.FromData allocates no AV_INPUT_BUFFER_PADDING_SIZE).
static int glint_fill_packet(AVPacket *pkt, const void *data, int size) {
	av_packet_unref(pkt);
	int ret = av_new_packet(pkt, size);
	if (ret < 0) return ret;
	if (size > 0) memcpy(pkt->data, data, size);
	return 0;
}
static int glint_frame_make_writable(AVFrame *f) { return av_frame_make_writable(f); }
static long long glint_thread_cpu_ns(void) {
	struct timespec ts;
	if (clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts) != 0) return 0;
	return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}
*/
import "C"

import (
	"errors"
	"fmt"
	"math"
	"time"
	"unsafe"

	"github.com/asticode/go-astiav"
)

// cPacket returns the AVPacket behind an astiav.Packet. go-astiav v0.16.0 (pinned exactly in
// go.mod) declares Packet as a struct whose only field is that pointer.
func cPacket(p *astiav.Packet) *C.AVPacket {
	return *(**C.AVPacket)(unsafe.Pointer(p))
}

// fillPacket copies data into pkt with the zeroed padding libav decoders read past the end.
func fillPacket(pkt *astiav.Packet, data []byte) error {
	if len(data) > math.MaxInt32-64 {
		return fmt.Errorf("transcoder: packet of %d bytes too large", len(data))
	}
	var ptr unsafe.Pointer
	if len(data) > 0 {
		ptr = unsafe.Pointer(&data[0])
	}
	if ret := C.glint_fill_packet(cPacket(pkt), ptr, C.int(len(data))); ret < 0 {
		return fmt.Errorf("transcoder: packet alloc: %w", astiav.Error(ret))
	}
	return nil
}

// makeWritable makes sure f's buffers are not shared with an encoder before we overwrite them.
func makeWritable(f *astiav.Frame) error {
	if ret := C.glint_frame_make_writable((*C.AVFrame)(f.UnsafePointer())); ret < 0 {
		return fmt.Errorf("transcoder: frame make writable: %w", astiav.Error(ret))
	}
	return nil
}

// threadCPU is the CPU time of the calling OS thread; call it between runtime.LockOSThread
// and UnlockOSThread so that both readings come from the same thread.
func threadCPU() time.Duration { return time.Duration(C.glint_thread_cpu_ns()) }

// isAgain reports the "send more input" / "no more output" conditions of the send/receive API.
func isAgain(err error) bool {
	return errors.Is(err, astiav.ErrEagain) || errors.Is(err, astiav.ErrEof)
}

// Timestamps inside libav are microseconds; the exact time.Duration values travel beside them.
var microBase = astiav.NewRational(1, 1_000_000)

func toMicros(d time.Duration) int64 { return int64(d / time.Microsecond) }

func fromMicros(us int64) time.Duration { return time.Duration(us) * time.Microsecond }

// frameMeta is what an output carries from its input frame.
type frameMeta struct {
	pts, dur time.Duration
	boundary bool
}

// metaTable maps libav microsecond timestamps back to the exact input metadata. Entries the
// codec never returns (dropped frames) are pruned once the table grows.
type metaTable map[int64]frameMeta

func (t metaTable) put(us int64, m frameMeta) { t[us] = m }

// take returns and removes the metadata for us; unknown timestamps fall back to us itself.
func (t metaTable) take(us int64) frameMeta {
	m, ok := t[us]
	if !ok {
		return frameMeta{pts: fromMicros(us)}
	}
	delete(t, us)
	if len(t) > 64 {
		for k := range t {
			if k < us {
				delete(t, k)
			}
		}
	}
	return m
}

// freeAndClear frees the libav object *p points to, if any, and clears *p, so that a
// second close does nothing.
func freeAndClear[T interface {
	comparable
	Free()
}](p *T) {
	var none T
	if *p != none {
		(*p).Free()
		*p = none
	}
}
