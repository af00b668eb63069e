// index.js: the list of rooms (GET /api/rooms, refreshed every 2 s) and the go-to-a-room form.
import { pageToken } from './token.js';
import { ROOM_RE, apiURL, authHeaders, link } from './whx.js';

const $ = (id) => document.getElementById(id);

function cell(...children) {
  const td = document.createElement('td');
  td.append(...children);
  return td;
}

function describeTracks(tracks) {
  if (!tracks || !tracks.length) return '–';
  return tracks
    .map((t) => t.codec + (t.layers && t.layers.length > 1 ? ` (${t.layers.join(',')})` : ''))
    .join(', ');
}

// ago formats an RFC 3339 time as a short duration until now ('42 s', '3 min', '2 h').
function ago(since) {
  const t = Date.parse(since);
  if (!since || Number.isNaN(t)) return '–';
  const s = Math.max(0, Math.round((Date.now() - t) / 1000));
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min`;
  return `${Math.floor(s / 3600)} h`;
}

function roomRow(r) {
  const tr = document.createElement('tr');
  const name = encodeURIComponent(r.name);
  const badge = document.createElement('span');
  badge.className = 'badge';
  badge.dataset.state = r.live ? 'live' : 'waiting';
  badge.textContent = r.live ? 'live' : 'offline';
  const actions = cell(link('watch', apiURL(`watch/${name}`)), ' ', link('publish', apiURL(`publish/${name}`)));
  actions.className = 'actions';
  tr.append(
    cell(link(r.name, apiURL(`watch/${name}`))),
    cell(badge),
    cell(String(r.viewers ?? 0)),
    cell(describeTracks(r.tracks)),
    cell(r.live ? ago(r.since) : '–'),
    actions,
  );
  return tr;
}

async function refresh() {
  const message = $('rooms-message');
  try {
    const res = await fetch(apiURL('api/rooms'), { cache: 'no-store', headers: authHeaders(pageToken) });
    if (!res.ok) throw new Error(`HTTP ${res.status}`);
    const rooms = await res.json();
    rooms.sort((a, b) => Number(b.live) - Number(a.live) || a.name.localeCompare(b.name));
    $('rooms').replaceChildren(...rooms.map(roomRow));
    message.textContent = rooms.length ? '' : 'No rooms yet: publish one with the form above.';
    message.className = 'muted';
  } catch (err) {
    message.textContent = `Cannot list rooms (${err.message}); retrying…`;
    message.className = 'error';
  }
}

function setupForm() {
  const form = $('go');
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    const name = $('name').value.trim();
    if (!ROOM_RE.test(name)) {
      $('form-error').textContent = 'Room names are 1-64 letters, digits, _ or -, starting with a letter or digit.';
      return;
    }
    const action = e.submitter && e.submitter.value === 'publish' ? 'publish' : 'watch';
    location.href = apiURL(`${action}/${name}`).href;
  });
  $('name').addEventListener('input', () => ($('form-error').textContent = ''));
}

setupForm();
refresh();
setInterval(refresh, 2000);
