package auth

import (
	"regexp"
	"strings"
)

// mpdMediaAttr matches the SegmentTemplate attributes of Glint's MPD that name media: an
// init segment or the $Number$ segment template (relative URLs without a query).
var mpdMediaAttr = regexp.MustCompile(`\b(initialization|media)="([^"?]*\.(?:mp4|m4s))"`)

// signMPD returns a DASH manifest with s=mediaSig added to its init segment and segment
// template URLs, the way signPlaylist signs an LL-HLS playlist's parts: the live edge's
// short signature, shared by every viewer so that a CDN caches by URL. The MPD's own URL
// (reloaded every minimumUpdatePeriod) keeps the viewer's credential.
func signMPD(mpd []byte, mediaSig string) []byte {
	return mpdMediaAttr.ReplaceAll(mpd, []byte(`$1="$2?`+signedParam+`=`+mediaSig+`"`))
}

// isMPD reports whether a response's Content-Type is a DASH manifest.
func isMPD(contentType string) bool {
	return strings.Contains(contentType, "dash+xml")
}
