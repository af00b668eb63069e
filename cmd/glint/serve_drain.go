package main

import "context"

// drainBeforeShutdown runs the drain of --drain-period when the node is told to stop: new
// sessions are refused, viewers are told to move to another node, and the node's sessions
// end when the period is over (docs/cluster.md). A period of 0 shuts down at once.
func (n *node) drainBeforeShutdown() {
	period := n.cfg.Failover.DrainPeriod
	if period <= 0 {
		return
	}
	info, done := n.signaling.Drain(context.Background(), period)
	n.log.Info("draining before shutdown", "period", period, "until", info.Until, "other_nodes", len(info.Nodes))
	<-done
}
