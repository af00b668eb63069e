package metrics

import "github.com/prometheus/client_golang/prometheus"

// EncoderSource reports the H.264 encoder of the LL-HLS ladder: its libav name ("" before
// it has been probed, or when none is usable) and whether it is a hardware encoder.
type EncoderSource func() (name string, hardware bool)

// encoderCollector exposes glint_hls_encoder_info{encoder, hardware} = 1 for the encoder in use.
type encoderCollector struct {
	src  EncoderSource
	desc *prometheus.Desc
}

// NewEncoderCollector returns the collector of glint_hls_encoder_info, for Handler.
func NewEncoderCollector(src EncoderSource) prometheus.Collector {
	return &encoderCollector{src: src, desc: prometheus.NewDesc("glint_hls_encoder_info",
		"The H.264 encoder of the LL-HLS ladder (probed at start: h264_nvenc, h264_vaapi, h264_qsv, libx264); 1 for the one in use.",
		[]string{"encoder", "hardware"}, nil)}
}

func (c *encoderCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c *encoderCollector) Collect(ch chan<- prometheus.Metric) {
	name, hw := c.src()
	if name == "" {
		return
	}
	hardware := "false"
	if hw {
		hardware = "true"
	}
	ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, 1, name, hardware)
}
