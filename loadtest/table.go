package loadtest

import (
	"fmt"
	"io"
	"slices"
	"text/tabwriter"
	"time"
)

// WriteTable writes the steps as an aligned text table (a row per step and client kind),
// the machine and parameters above it and the capacity result below.
func (r *Report) WriteTable(w io.Writer) error {
	m, p := r.Machine, r.Params
	fmt.Fprintf(w, "glint loadtest %s on %s: %s, %d CPUs (%s/%s), load generator on %d (GOMAXPROCS %d), %s\n",
		r.Date.Format(time.RFC3339), m.Hostname, orUnknown(m.CPUModel), m.CPUs, m.OS, m.Arch, m.NumCPU, m.GOMAXPROCS, m.GoVersion)
	fmt.Fprintf(w, "%s: %d %s publisher(s), H.264 %dx%d %d kbit/s %d fps + Opus; %s viewers; %gs per step after %gs warm-up\n",
		p.WHIPURL, p.Publishers, p.PublisherMode, p.Width, p.Height, p.BitrateKbps, p.FPS, p.ViewerMode, p.StepSeconds, p.WarmupSeconds)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "viewers\tclient\tlatency p50\tp95\tp99\tmax\tjoin p50\tp95\tframes rx/sent\tfreezes\tloss\trx/viewer\tserver CPU\tRSS\ttransit p99\tloadgen CPU\t")
	fmt.Fprintln(tw, "\t\tms\tms\tms\tms\tms\tms\t%\t/min\t%\tkbit/s\t%\tMB\tms\t%\t")
	rows := r.Steps
	if r.Baseline != nil {
		rows = append([]Step{*r.Baseline}, rows...)
	}
	footnote := false
	for _, s := range rows {
		server := fmt.Sprintf("%s\t%s\t%s\t", orDash(s.ServerCPUPercent, "%.1f"), orDash(mb(s.ServerRSSBytes), "%.1f"), s.transit(0.99))
		loadgen := fmt.Sprintf("%.1f", s.LoadgenCPUPercent)
		if s.LoadgenSaturated {
			loadgen, footnote = loadgen+"*", true
		}
		if s.WebRTC == nil && s.LLHLS == nil {
			fmt.Fprintf(tw, "0\t-\t-\t-\t-\t-\t-\t-\t-\t-\t-\t-\t%s%s\t\n", server, loadgen)
			continue
		}
		for _, k := range []struct {
			name string
			c    *ClientStats
		}{{KindWebRTC, s.WebRTC}, {KindLLHLS, s.LLHLS}} {
			c := k.c
			if c == nil {
				continue
			}
			held := ""
			if s.Held != nil && !*s.Held && k.name == KindWebRTC {
				held = " (over)"
			}
			fmt.Fprintf(tw, "%d%s\t%s\t%.1f\t%.1f\t%.1f\t%.1f\t%.0f\t%.0f\t%.1f\t%.2f\t%.2f\t%.0f\t%s%s\t\n",
				c.Viewers, held, k.name, c.LatencyP50Ms, c.LatencyP95Ms, c.LatencyP99Ms, c.LatencyMaxMs, c.JoinP50Ms, c.JoinP95Ms,
				c.FramesPercent, c.FreezesPerMinute, c.LossPercent, c.BitrateKbps, server, loadgen)
		}
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("write table: %w", err)
	}
	if footnote {
		fmt.Fprintln(w, "* load generator saturated: its own queueing is part of latency and loss")
	}
	if err := writeNodeTable(w, rows); err != nil {
		return err
	}
	for _, s := range r.Steps {
		if c := s.LLHLS; c != nil && c.PartsMeasured > 0 {
			fmt.Fprintf(w, "LL-HLS, %d viewers: capture -> part available p50 %.0f ms, p95 %.0f ms (%d parts)\n",
				c.Viewers, c.PartLatencyP50Ms, c.PartLatencyP95Ms, c.PartsMeasured)
		}
	}
	if c := r.Capacity; c != nil {
		fmt.Fprintf(w, "capacity: %d WebRTC viewers held (latency p95 <= %.0f ms, loss <= %.2f%%); %s\n",
			c.MaxViewersHeld, c.MaxLatencyP95Ms, c.MaxLossPercent, c.Reason)
	}
	if r.Error != "" {
		_, err := fmt.Fprintf(w, "stopped early: %s\n", r.Error)
		return err
	}
	return nil
}

// transit formats Glint's transit q-quantile ("-" on other servers), as ">X" when it lies
// above the last bucket.
func (s *Step) transit(q float64) string {
	if s.TransitSamples == 0 {
		return "-"
	}
	v := s.TransitP50Ms
	if q > 0.5 {
		v = s.TransitP99Ms
	}
	if s.TransitOverflowPercent > 0 && s.TransitOverflowPercent >= 100*(1-q) {
		return fmt.Sprintf(">%.0f", v)
	}
	return fmt.Sprintf("%.2f", v)
}

func orDash(v float64, format string) string {
	if v == 0 {
		return "-"
	}
	return fmt.Sprintf(format, v)
}

// writeNodeTable writes a cluster run's nodes, a row per step and node (nothing for a run
// against one server).
func writeNodeTable(w io.Writer, rows []Step) error {
	if !slices.ContainsFunc(rows, func(s Step) bool { return len(s.Nodes) > 0 }) {
		return nil
	}
	fmt.Fprintln(w, "per node (server CPU per viewer over the node's own baseline; relays in = rooms it relays, out = relays of its rooms):")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "viewers\tnode\tits viewers\talive\tlatency p50\tp95\tframes rx/sent\tloss\tserver CPU\tper viewer\tRSS\tglint viewers\trelays in/out\t")
	fmt.Fprintln(tw, "\t\t\t\tms\tms\t%\t%\t%\t%\tMB\t\t\t")
	for _, s := range rows {
		for _, n := range s.Nodes {
			name := n.URL
			if n.Publish {
				name += " (publish)"
			}
			client := "-\t-\t-\t-\t-\t"
			if c := n.WebRTC; c != nil {
				client = fmt.Sprintf("%d\t%.1f\t%.1f\t%.1f\t%.2f\t", c.Alive, c.LatencyP50Ms, c.LatencyP95Ms, c.FramesPercent, c.LossPercent)
			}
			glintViewers := "-"
			if n.ServerViewers != nil {
				glintViewers = fmt.Sprint(*n.ServerViewers)
			}
			fmt.Fprintf(tw, "%d\t%s\t%d\t%s%s\t%s\t%s\t%s\t%d/%d\t\n", s.Viewers, name, n.Viewers, client,
				orDash(n.ServerCPUPercent, "%.1f"), orDash(n.ServerCPUPerViewerPercent, "%.3f"), orDash(mb(n.ServerRSSBytes), "%.1f"),
				glintViewers, n.RelaysIn, n.RelaysOut)
		}
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("write node table: %w", err)
	}
	for _, n := range rows[len(rows)-1].Nodes {
		if len(n.RelayUpstreams) > 0 {
			fmt.Fprintf(w, "relays on %s: %s\n", n.URL, n.relaySummary())
		}
	}
	return nil
}
