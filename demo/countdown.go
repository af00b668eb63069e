package demo

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// eventsURL turns the WHIP endpoint …/whip/{room} into the room's timed-events endpoint
// …/api/rooms/{room}/events.
func eventsURL(whip string) (string, error) {
	u, err := url.Parse(whip)
	if err != nil {
		return "", fmt.Errorf("WHIP URL %q: %w", whip, err)
	}
	prefix, room, ok := strings.Cut(u.Path, "/whip/")
	if !ok || room == "" || strings.Contains(room, "/") {
		return "", fmt.Errorf("WHIP URL %q: want …/whip/{room}", whip)
	}
	u.Path = prefix + "/api/rooms/" + room + "/events"
	return u.String(), nil
}

// runCountdown posts a countdown event to the room every `every` until ctx ends: each
// counts down `every` from its frame, and takes actions until it reaches zero. Posts that
// fail (the room is not live yet) are logged and tried again at the next tick.
func runCountdown(ctx context.Context, opts Options, log *slog.Logger) {
	target, err := eventsURL(opts.WHIPURL)
	if err != nil {
		log.Error("demo: no countdown events", "err", err)
		return
	}
	body, _ := json.Marshal(map[string]any{
		"type":        "countdown",
		"payload":     map[string]any{"seconds": opts.CountdownEvery.Seconds(), "label": "demo countdown"},
		"close_in_ms": opts.CountdownEvery.Milliseconds(),
	})
	client := &http.Client{Timeout: 5 * time.Second}
	t := time.NewTicker(opts.CountdownEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if err := postEvent(ctx, client, target, opts.Token, body); err != nil {
			log.Info("demo: countdown event not posted", "err", err)
			continue
		}
		log.Debug("demo: countdown event posted")
	}
}

func postEvent(ctx context.Context, client *http.Client, target, token string, body []byte) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	if resp.StatusCode != http.StatusCreated {
		return fmt.Errorf("%s: %s", resp.Status, bytes.TrimSpace(msg))
	}
	return nil
}
