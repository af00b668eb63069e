// Package gcc is Glint's send-side bandwidth estimator for WebRTC viewers: Google congestion
// control (draft-ietf-rmcat-gcc-02, as libwebrtc implements it) driven by the viewer's
// transport-wide congestion control feedback (draft-holmer-rmcat-transport-wide-cc-
// extensions-01).
//
// It is a pion interceptor (NewInterceptorFactory), one Estimator per peer connection. The
// send path numbers each outgoing packet with the connection's transport-wide sequence
// (sequence.go: one counter for all the connection's streams, the extension written from a
// per-stream buffer, nothing allocated; it replaces pion's twcc.HeaderExtensionInterceptor)
// and records its sequence number, size and send time in a fixed ring indexed by the
// sequence number (history.go: one short lock, nothing allocated); the RTCP path reads transport-cc feedback in place (feedback.go) and passes
// every packet on unchanged. The estimate is the lower of two:
//
//   - delay-based: packets grouped into 5 ms bursts by send time (interarrival.go), the
//     trend of the groups' one-way delay variation (trendline.go: window 20, smoothing 0.9,
//     gain 4) compared with an adaptive threshold (k_up 0.0087, k_down 0.039), driving an
//     AIMD rate controller (aimd.go: 0.85 × the acknowledged rate on overuse; multiplicative
//     increase far from the last congestion point, additive near it; never above 1.5 × the
//     acknowledged rate), which reads the acknowledged bitrate (ackedrate.go);
//   - loss-based (lossbased.go): cut on more than 10 % loss, held at 2–10 %, grown below 2 %.
//
// Pion's gcc.SendSideBWE does the same work with a mutex, a list element, a boxed
// acknowledgment and a map entry per packet sent, and a full unmarshal of every feedback
// packet; at 300 viewers that was a fifth of the server's CPU.
package gcc
