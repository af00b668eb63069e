package dvr

import (
	"fmt"
	"path"
	"regexp"
	"strings"
	"time"
)

// idTimeLayout is the start time in a recording id: UTC, to the second.
const idTimeLayout = "20060102T150405Z"

var (
	// keyComponent is one element of a key: the layout's characters, not starting with a dot
	// (so that ".", ".." and the disk store's temporary files are never keys).
	keyComponent = regexp.MustCompile(`^[A-Za-z0-9_-][A-Za-z0-9._-]{0,127}$`)
	// recordingID is "{room}.{start}", with "-N" when two recordings of a room start in the
	// same second.
	recordingID = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_-]{0,63}\.[0-9]{8}T[0-9]{6}Z(-[0-9]{1,4})?$`)
	// renditionName is an LL-HLS rendition (hls's rendition names).
	renditionName = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)
)

// ValidKey reports whether key is a well-formed store key: slash-separated components of
// [A-Za-z0-9._-], none empty or starting with a dot, no leading or trailing slash.
func ValidKey(key string) bool {
	if key == "" || len(key) > 1024 {
		return false
	}
	for c := range strings.SplitSeq(key, "/") {
		if !keyComponent.MatchString(c) {
			return false
		}
	}
	return true
}

// checkKey returns an error wrapping ErrBadID for a malformed key.
func checkKey(key string) error {
	if !ValidKey(key) {
		return fmt.Errorf("%w: key %q", ErrBadID, key)
	}
	return nil
}

// checkPrefix accepts "" (everything) or a key with an optional trailing slash.
func checkPrefix(prefix string) error {
	if p := strings.TrimSuffix(prefix, "/"); p != "" && !ValidKey(p) {
		return fmt.Errorf("%w: prefix %q", ErrBadID, prefix)
	}
	return nil
}

// ValidRecordingID reports whether id is a well-formed recording id.
func ValidRecordingID(id string) bool { return recordingID.MatchString(id) }

// newRecordingID returns the id of a recording of room starting at start; n > 1 makes it
// unique among recordings of the same second.
func newRecordingID(room string, start time.Time, n int) string {
	id := room + "." + start.UTC().Format(idTimeLayout)
	if n > 1 {
		id += fmt.Sprintf("-%d", n)
	}
	return id
}

// roomOf returns the room of a well-formed recording id.
func roomOf(id string) string {
	room, _, _ := strings.Cut(id, ".")
	return room
}

// recordingDir is the key prefix of a recording: {room}/{recording}.
func recordingDir(id string) string { return path.Join(roomOf(id), id) }

// renditionDir is the key prefix of a rendition: {room}/{recording}/{rendition}.
func renditionDir(id, rendition string) string { return path.Join(recordingDir(id), rendition) }

func segmentKey(id, rendition string, msn uint64) string {
	return fmt.Sprintf("%s/seg-%d.m4s", renditionDir(id, rendition), msn)
}

func initKey(id, rendition string, initID uint64) string {
	return fmt.Sprintf("%s/init-%d.mp4", renditionDir(id, rendition), initID)
}

const (
	indexFile     = "index.jsonl"
	recordingFile = "recording.json"
	// dateRangesFile, beside recording.json, lists the recording's timed events.
	dateRangesFile = "dateranges.jsonl"
)

// objectTypes are the MIME types of stored objects by their key's extension.
var objectTypes = map[string]string{
	".mp4":   "video/mp4",
	".m4s":   "video/iso.segment",
	".json":  "application/json",
	".jsonl": "application/jsonl",
}

// contentType is the MIME type an object is stored and served with, from its key's (or
// file name's) extension.
func contentType(key string) string {
	if t, ok := objectTypes[path.Ext(key)]; ok {
		return t
	}
	return "application/octet-stream"
}
