# Varnish 7.x caching edge in front of Glint's LL-HLS origin (docs/caching-edge.md).
#
# Template: replace @ORIGIN_HOST@ and @ORIGIN_PORT@ with Glint's HTTP address (its
# --http-addr), e.g.
#   sed -e 's/@ORIGIN_HOST@/10.0.0.5/' -e 's/@ORIGIN_PORT@/8080/' varnish.vcl > /etc/varnish/glint.vcl
#   varnishd -a :80 -f /etc/varnish/glint.vcl -s malloc,256m
# The listen address is varnishd's -a; nothing else needs changing.
#
# What it does for LL-HLS:
# - Caches only /hls/: WHIP, WHEP, the API and the pages go straight to Glint (pass); the
#   room events (GET /api/rooms/{room}/events, Server-Sent Events) pass streamed, with a
#   between-bytes timeout longer than Glint's 15 s keep-alive ping. LL-DASH (/dash/) passes
#   streamed too, so a segment Glint sends chunked while it is written reaches the player
#   chunk by chunk and no incomplete response is ever cached (docs/dash.md).
# - Keys on the full URL including the query, so each blocking reload
#   (?_HLS_msn=N&_HLS_part=P) is its own object; the query is sorted so that parameter
#   order does not split the key.
# - Honours Glint's Cache-Control: parts, segments and init segments are immutable (kept a
#   year), plain playlists 1 s, blocking reload answers 3 target durations.
# - Coalesces: concurrent misses for one object wait on Varnish's waiting list for the one
#   origin request and are all woken the moment its response headers arrive (no polling).
#   That covers blocking playlist requests and preload-hinted parts, which Glint holds open
#   until the part exists.
# - Errors (a hinted part that did not come, a blocking reload that timed out, a room that
#   is gone) are kept one second, never longer, instead of the built-in two-minute
#   hit-for-miss that would stop coalescing on that URL.
# - gzip: Varnish asks Glint for gzip, stores the gzipped playlist once and unzips it only
#   for the rare client without gzip support.
vcl 4.1;

import std;

backend glint {
	.host = "@ORIGIN_HOST@";
	.port = "@ORIGIN_PORT@";
	.connect_timeout = 2s;
	# Glint holds a blocking reload or a hinted part for at most 3 target durations (6 s
	# with 2 s segments) before it answers 503; wait longer than that.
	.first_byte_timeout = 15s;
	.between_bytes_timeout = 10s;
}

sub vcl_recv {
	if (req.url !~ "^/hls/") {
		return (pass);
	}
	if (req.method != "GET" && req.method != "HEAD") {
		return (pass); # CORS preflight (OPTIONS): Glint answers it
	}
	# LL-HLS needs neither cookies nor credentials; a browser that sends cookies for the
	# site must not bypass the cache.
	unset req.http.Cookie;
	unset req.http.Authorization;
	set req.url = std.querysort(req.url);
	return (hash);
	# vcl_hash stays the built-in one: the whole req.url (path and query) plus Host.
}

sub vcl_backend_fetch {
	if (bereq.url ~ "^/api/rooms/[^/?]+/events") {
		# A room's event stream stays open while the page does and is quiet between
		# events but for a ping every 15 s: the 10 s above would cut it.
		set bereq.between_bytes_timeout = 1h;
	}
}

sub vcl_backend_response {
	if (bereq.url !~ "^/hls/") {
		return (deliver);
	}
	if (beresp.status >= 400) {
		# Glint sends errors with Cache-Control: no-store. Keep them one second so that a
		# crowd asking for the same missing thing makes one origin request per second, and
		# skip the built-in 120 s hit-for-miss that would turn off coalescing for the URL.
		set beresp.ttl = 1s;
		set beresp.grace = 0s;
		set beresp.keep = 0s;
		return (deliver);
	}
	if (bereq.url ~ "\.m3u8(\?|$)") {
		# A live playlist is worth nothing stale: no grace, so an expired playlist is
		# fetched (once, coalesced) rather than served old while it refreshes.
		set beresp.grace = 0s;
	} else {
		# Parts, segments and init segments never change under their name: serve them
		# stale for a while if Glint is slow or gone.
		set beresp.grace = 1h;
	}
	# Varnish handles gzip itself (one gzipped copy, unzipped on delivery when needed), so
	# the Accept-Encoding variant split is not needed here; vcl_deliver puts Vary back.
	if (beresp.http.Vary == "Accept-Encoding") {
		unset beresp.http.Vary;
	}
	return (deliver);
}

sub vcl_deliver {
	if (req.url ~ "^/hls/.*\.m3u8(\?|$)") {
		set resp.http.Vary = "Accept-Encoding";
	}
	if (obj.hits > 0) {
		set resp.http.X-Cache = "HIT";
	} else {
		set resp.http.X-Cache = "MISS";
	}
}
