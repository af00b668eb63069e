package metrics

import (
	"sort"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/glint-video/glint/sfu"
)

// RoomSource gives each room's counters (implemented by *sfu.SFU). When the Handler's
// source implements it, /metrics has per-room series.
type RoomSource interface {
	RoomTotals() map[string]sfu.RoomTotals
}

// MaxRoomSeries bounds the rooms that get their own series: past it, the rooms with the
// most viewers keep theirs and the rest are summed under room="_other", so that a node
// with thousands of tiny rooms cannot blow up a Prometheus server.
const MaxRoomSeries = 200

// otherRooms is the room label of the rooms past MaxRoomSeries.
const otherRooms = "_other"

type roomCollector struct {
	src                                 RoomSource
	publishers, viewers, layers, paused *prometheus.Desc
	packets, bytes                      *prometheus.Desc
}

func newRoomCollector(src RoomSource) *roomCollector {
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc("glint_room_"+name, help, append([]string{"room"}, labels...), nil)
	}
	return &roomCollector{
		src:        src,
		publishers: d("publishers", "Publisher sessions of the room (WHIP, or an RTMP/SRT connection)."),
		viewers:    d("viewers", "WebRTC (WHEP) viewer sessions of the room."),
		layers:     d("viewers_by_layer", "The room's video viewers per simulcast layer (layer=\"\" without simulcast).", "layer"),
		paused:     d("viewers_paused", "The room's video viewers whose bandwidth carries no layer (audio only)."),
		packets:    d("rtp_packets_total", "RTP packets of the room's live sessions: from its publisher (in) and to its viewers (out); restart with a session.", "direction"),
		bytes:      d("rtp_bytes_total", "RTP bytes of the room's live sessions: from its publisher (in) and to its viewers (out); rate() of in is the room's ingest bitrate.", "direction"),
	}
}

func (c *roomCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.publishers, c.viewers, c.layers, c.paused, c.packets, c.bytes} {
		ch <- d
	}
}

func (c *roomCollector) Collect(ch chan<- prometheus.Metric) {
	for room, t := range limitRooms(c.src.RoomTotals(), MaxRoomSeries) {
		gauge := func(d *prometheus.Desc, v int, labels ...string) {
			ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, float64(v), append([]string{room}, labels...)...)
		}
		counter := func(d *prometheus.Desc, v uint64, dir string) {
			ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), room, dir)
		}
		gauge(c.publishers, t.Publishers)
		gauge(c.viewers, t.Viewers)
		gauge(c.paused, t.PausedViewers)
		for layer, n := range t.ViewersByLayer {
			gauge(c.layers, n, layer)
		}
		counter(c.packets, t.PacketsIn, "in")
		counter(c.packets, t.PacketsOut, "out")
		counter(c.bytes, t.BytesIn, "in")
		counter(c.bytes, t.BytesOut, "out")
	}
}

// limitRooms keeps the max rooms with the most viewers (then by name) and sums the others
// under otherRooms.
func limitRooms(rooms map[string]sfu.RoomTotals, limit int) map[string]sfu.RoomTotals {
	if len(rooms) <= limit {
		return rooms
	}
	names := make([]string, 0, len(rooms))
	for name := range rooms {
		names = append(names, name)
	}
	sort.Slice(names, func(i, j int) bool {
		a, b := rooms[names[i]], rooms[names[j]]
		if a.Viewers != b.Viewers {
			return a.Viewers > b.Viewers
		}
		return names[i] < names[j]
	})
	out := make(map[string]sfu.RoomTotals, limit+1)
	other := sfu.RoomTotals{ViewersByLayer: map[string]int{}}
	for i, name := range names {
		t := rooms[name]
		if i < limit {
			out[name] = t
			continue
		}
		other.Publishers += t.Publishers
		other.Viewers += t.Viewers
		other.PausedViewers += t.PausedViewers
		other.PacketsIn += t.PacketsIn
		other.PacketsOut += t.PacketsOut
		other.BytesIn += t.BytesIn
		other.BytesOut += t.BytesOut
		for layer, n := range t.ViewersByLayer {
			other.ViewersByLayer[layer] += n
		}
	}
	out[otherRooms] = other
	return out
}
