package config

import (
	"flag"
	"fmt"
	"regexp"
	"time"
)

// DefaultEventTypes are the timed-event types a room accepts when none are configured:
// a countdown, the opening and closing of bets, a lot sold at auction, and a free message.
var DefaultEventTypes = []string{"countdown", "bets-open", "bets-closed", "lot-sold", "message"}

// EventSettings configure the clock and event channel (/ws/rooms/{room}), timed events and
// fair actions (package events).
type EventSettings struct {
	// EventTypes are the accepted event types (--event-types, comma-separated).
	EventTypes []string `yaml:"event_types"`
	// EventRate is the sustained number of events per second a room accepts; EventBurst
	// how many may come at once.
	EventRate  float64 `yaml:"event_rate"`
	EventBurst int     `yaml:"event_burst"`
	// ActionTolerance is how far an action's claimed on-screen instant may be from what the
	// viewer's measured delay says it had on screen.
	ActionTolerance time.Duration `yaml:"action_tolerance"`
	// EventSockets bounds the clock and event WebSockets of one room.
	EventSockets int `yaml:"event_sockets"`
}

func defaultEventSettings() EventSettings {
	return EventSettings{
		EventTypes:      append([]string(nil), DefaultEventTypes...),
		EventRate:       5,
		EventBurst:      20,
		ActionTolerance: 150 * time.Millisecond,
		EventSockets:    10000,
	}
}

// bindEvents binds the event channel's flags.
func (c *Config) bindEvents(fs *flag.FlagSet, layer *int) {
	fs.Var(&listValue{items: &c.Events.EventTypes, layer: layer, setIn: -1}, "event-types", "comma-separated timed-event types POST /api/rooms/{room}/events accepts (default countdown,bets-open,bets-closed,lot-sold,message)")
	fs.Float64Var(&c.Events.EventRate, "event-rate", c.Events.EventRate, "timed events per second a room accepts over time (more: 429)")
	fs.IntVar(&c.Events.EventBurst, "event-burst", c.Events.EventBurst, "timed events a room accepts at once above --event-rate")
	fs.DurationVar(&c.Events.ActionTolerance, "action-tolerance", c.Events.ActionTolerance, "how far a viewer action's on-screen instant may be from the one its measured delay implies")
	fs.IntVar(&c.Events.EventSockets, "event-sockets", c.Events.EventSockets, "clock and event WebSockets per room (more: 503)")
}

var eventTypePattern = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,31}$`)

// validateEvents checks the event channel's settings.
func (c *Config) validateEvents() error {
	e := c.Events
	if len(e.EventTypes) == 0 {
		return fmt.Errorf("event-types: at least one type is needed")
	}
	for _, t := range e.EventTypes {
		if !eventTypePattern.MatchString(t) {
			return fmt.Errorf("event-types %q: a type is 1-32 of a-z 0-9 _ -, starting with a letter or digit", t)
		}
	}
	if e.EventRate <= 0 || e.EventBurst < 1 {
		return fmt.Errorf("event-rate %g, event-burst %d: the rate must be positive and the burst at least 1", e.EventRate, e.EventBurst)
	}
	if e.ActionTolerance <= 0 || e.ActionTolerance > 5*time.Second {
		return fmt.Errorf("action-tolerance %s: must be above 0 and at most 5s", e.ActionTolerance)
	}
	if e.EventSockets < 1 {
		return fmt.Errorf("event-sockets %d: must be at least 1", e.EventSockets)
	}
	return nil
}
