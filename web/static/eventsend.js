// eventsend.js: the publish page's "send test event" control. It posts a timed event of the
// chosen type to POST /api/rooms/{room}/events (with the page's ?token= as the bearer token);
// the server stamps it with the capture time of the frame on air and every viewer shows it
// on that frame (docs/events.md). A countdown gets {seconds: 10} and takes actions for 10 s.
import { apiURL, authHeaders, errorFrom } from './whx.js';

export function setupTestEvents({ room, token, form, type, text, status }) {
  if (!form) return;
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const body = { type: type.value };
    if (type.value === 'countdown') {
      body.payload = { seconds: 10, label: text.value || 'countdown' };
      body.close_in_ms = 10000;
    } else if (text.value) {
      body.payload = { message: text.value };
    }
    status.textContent = 'sending…';
    try {
      const res = await fetch(apiURL(`api/rooms/${room}/events`), {
        method: 'POST',
        headers: authHeaders(token, { 'Content-Type': 'application/json' }),
        body: JSON.stringify(body),
      });
      if (!res.ok) throw await errorFrom(res);
      const ev = await res.json();
      status.textContent = `sent ${ev.type} at capture ${new Date(ev.capture_ms).toISOString().slice(11, 23)}`;
    } catch (err) {
      status.textContent = `not sent: ${err.message || err}`;
    }
  });
}
