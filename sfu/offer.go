package sfu

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/pion/sdp/v3"

	"github.com/glint-video/glint/media"
)

// offeredCodec is one payload type of an offer's media section.
type offeredCodec struct {
	PayloadType uint8
	MimeType    string // "video/H264"
	ClockRate   uint32
	Channels    uint16
	Fmtp        string
	Feedback    []string // "nack", "nack pli", "transport-cc", ...
}

// offeredMedia is one m-section of an offer.
type offeredMedia struct {
	Kind      string // "audio" or "video"
	Mid       string
	Direction string // sendonly, recvonly, sendrecv, inactive
	Codecs    []offeredCodec
	rtxFor    map[uint8]uint8 // apt → rtx payload type
}

// offer is a parsed and checked SDP offer.
type offer struct {
	Media []offeredMedia
}

// SDPError is a malformed or unacceptable offer; the signaling layer answers 400.
type SDPError struct{ Reason string }

func (e *SDPError) Error() string { return "bad SDP: " + e.Reason }

// maxOfferMedia bounds the m-sections an offer may carry.
const maxOfferMedia = 16

// parseOffer parses an SDP offer and checks what every WebRTC offer must have.
func parseOffer(raw string) (*offer, error) {
	if strings.TrimSpace(raw) == "" {
		return nil, &SDPError{"empty offer"}
	}
	var sd sdp.SessionDescription
	if err := sd.UnmarshalString(raw); err != nil {
		return nil, &SDPError{firstLine(err.Error())}
	}
	if len(sd.MediaDescriptions) == 0 {
		return nil, &SDPError{"no media sections"}
	}
	if len(sd.MediaDescriptions) > maxOfferMedia {
		return nil, &SDPError{fmt.Sprintf("%d media sections (max %d)", len(sd.MediaDescriptions), maxOfferMedia)}
	}
	_, sessionFP := sd.Attribute("fingerprint")
	_, sessionUfrag := sd.Attribute("ice-ufrag")
	o := &offer{}
	for i, md := range sd.MediaDescriptions {
		kind := md.MediaName.Media
		if kind == "application" {
			continue
		}
		if kind != "audio" && kind != "video" {
			return nil, &SDPError{fmt.Sprintf("media section %d: unsupported media %.40q", i, kind)}
		}
		if _, ok := md.Attribute("fingerprint"); !ok && !sessionFP {
			return nil, &SDPError{fmt.Sprintf("media section %d: no DTLS fingerprint", i)}
		}
		if _, ok := md.Attribute("ice-ufrag"); !ok && !sessionUfrag {
			return nil, &SDPError{fmt.Sprintf("media section %d: no ICE ufrag", i)}
		}
		m, err := parseMedia(md)
		if err != nil {
			return nil, &SDPError{firstLine(fmt.Sprintf("media section %d: %v", i, err))}
		}
		o.Media = append(o.Media, m)
	}
	if len(o.Media) == 0 {
		return nil, &SDPError{"no audio or video section"}
	}
	return o, nil
}

func parseMedia(md *sdp.MediaDescription) (offeredMedia, error) {
	m := offeredMedia{Kind: md.MediaName.Media, Direction: "sendrecv", rtxFor: map[uint8]uint8{}}
	m.Mid, _ = md.Attribute("mid")
	byPT := map[uint8]*offeredCodec{}
	var order []uint8
	for _, f := range md.MediaName.Formats {
		pt, err := strconv.ParseUint(f, 10, 7)
		if err != nil {
			return m, fmt.Errorf("bad payload type %.20q", f)
		}
		byPT[uint8(pt)] = &offeredCodec{PayloadType: uint8(pt)}
		order = append(order, uint8(pt))
	}
	for _, a := range md.Attributes {
		switch a.Key {
		case "sendonly", "recvonly", "sendrecv", "inactive":
			m.Direction = a.Key
		case "rtpmap", "fmtp", "rtcp-fb":
			ptStr, rest, _ := strings.Cut(a.Value, " ")
			pt, err := strconv.ParseUint(ptStr, 10, 7)
			if err != nil {
				if a.Key == "rtcp-fb" && ptStr == "*" {
					continue
				}
				return m, fmt.Errorf("bad %s %.80q", a.Key, a.Value)
			}
			c := byPT[uint8(pt)]
			if c == nil {
				continue // attribute for a format not in the m= line
			}
			if err := applyAttribute(c, m.Kind, a.Key, rest); err != nil {
				return m, err
			}
		}
	}
	for _, pt := range order {
		c := byPT[pt]
		if strings.EqualFold(c.MimeType, m.Kind+"/rtx") {
			if apt, err := strconv.ParseUint(media.ParseFmtp(c.Fmtp)["apt"], 10, 7); err == nil {
				m.rtxFor[uint8(apt)] = pt
			}
			continue
		}
		if c.MimeType != "" {
			m.Codecs = append(m.Codecs, *c)
		}
	}
	return m, nil
}

func applyAttribute(c *offeredCodec, kind, key, value string) error {
	switch key {
	case "rtpmap":
		name, rest, _ := strings.Cut(value, "/")
		rate, channels, _ := strings.Cut(rest, "/")
		r, err := strconv.ParseUint(rate, 10, 32)
		if err != nil || name == "" {
			return fmt.Errorf("bad rtpmap %.80q", value)
		}
		c.MimeType, c.ClockRate = kind+"/"+name, uint32(r)
		if channels != "" {
			ch, err := strconv.ParseUint(channels, 10, 16)
			if err != nil {
				return fmt.Errorf("bad rtpmap channels %.80q", value)
			}
			c.Channels = uint16(ch)
		}
	case "fmtp":
		c.Fmtp = value
	case "rtcp-fb":
		c.Feedback = append(c.Feedback, value)
	}
	return nil
}

// firstLine keeps error messages to one short line (they may quote client input).
func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return s
}

// errNoMedia is returned when nothing in an offer can be used.
var errNoMedia = errors.New("no usable media")
