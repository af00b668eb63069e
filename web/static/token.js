// The page's access token (docs/auth.md): ?token=T in the page's own URL. WHIP/WHEP and
// API requests send it as "Authorization: Bearer T" (whx.js authHeaders); URLs a browser
// fetches without headers (hls.js playlists, EventSource) carry it as ?token=T, and the
// server answers those playlists with signed URLs, so the token goes no further.
export const pageToken = new URLSearchParams(location.search).get('token') || undefined;

// withToken returns url (a URL) with ?token= set when there is a token.
export function withToken(url, token = pageToken) {
  if (token) url.searchParams.set('token', token);
  return url;
}
