package transcoder

import (
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/asticode/go-astiav"
)

// h264Candidates are tried in this order; the first that opens and encodes a picture wins.
var h264Candidates = []EncoderInfo{
	{Name: "h264_nvenc", Hardware: true},
	{Name: "h264_vaapi", Hardware: true},
	{Name: "h264_qsv", Hardware: true},
	{Name: "libx264", Hardware: false},
}

var probeMu sync.Mutex

// ProbeH264Encoder returns the first usable H.264 encoder among h264_nvenc, h264_vaapi,
// h264_qsv and libx264, and logs the choice. Being compiled into libavcodec does not mean a
// device is present, so each candidate is opened and made to encode one picture; libav's own
// error lines are silenced meanwhile. h264_vaapi needs a hardware frames context that
// go-astiav v0.16 cannot attach, so it fails to open and is reported as unusable. Returns
// {Name: ""} when none works (no libx264 in libavcodec). Takes a few milliseconds per
// candidate; call it once at start-up.
func ProbeH264Encoder(log *slog.Logger) EncoderInfo {
	if log == nil {
		log = slog.Default()
	}
	probeMu.Lock()
	level := astiav.GetLogLevel()
	astiav.SetLogLevel(astiav.LogLevelQuiet)
	defer func() {
		astiav.SetLogLevel(level)
		probeMu.Unlock()
	}()
	for _, c := range h264Candidates {
		start := time.Now()
		if err := tryEncoder(c); err != nil {
			log.Debug("transcoder: H.264 encoder unusable", "encoder", c.Name, "err", err)
			continue
		}
		log.Info("transcoder: H.264 encoder chosen", "encoder", c.Name, "hardware", c.Hardware,
			"probe_ms", time.Since(start).Milliseconds())
		return c
	}
	log.Error("transcoder: no usable H.264 encoder")
	return EncoderInfo{}
}

// tryEncoder opens enc at 640x360 and encodes one black picture.
func tryEncoder(info EncoderInfo) error {
	if astiav.FindEncoderByName(info.Name) == nil {
		return fmt.Errorf("%w: %s not in libavcodec", ErrUnsupportedCodec, info.Name)
	}
	enc, err := openH264Encoder(encoderParams{info: info, width: 640, height: 360, kbps: 800, fps: 30,
		gop: 60, preset: "ultrafast", profile: "main", threads: 1})
	if err != nil {
		return err
	}
	defer enc.close()
	f := astiav.AllocFrame()
	defer f.Free()
	f.SetWidth(640)
	f.SetHeight(360)
	f.SetPixelFormat(enc.pixFmt)
	if err := f.AllocBuffer(0); err != nil {
		return fmt.Errorf("transcoder: probe frame: %w", err)
	}
	if err := f.ImageFillBlack(); err != nil {
		return fmt.Errorf("transcoder: probe frame: %w", err)
	}
	_, err = enc.encode(f, frameMeta{}, true)
	return err
}
