package metrics

import (
	"io"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/glint-video/glint/sfu"
)

func TestEncoderInfo(t *testing.T) {
	cases := []struct {
		name     string
		encoder  string
		hardware bool
		want     string // "" = no glint_hls_encoder_info sample
	}{
		{"not probed yet", "", false, ""},
		{"software", "libx264", false, `glint_hls_encoder_info{encoder="libx264",hardware="false"} 1`},
		{"hardware", "h264_nvenc", true, `glint_hls_encoder_info{encoder="h264_nvenc",hardware="true"} 1`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			src := func() (string, bool) { return tc.encoder, tc.hardware }
			rec := httptest.NewRecorder()
			Handler(fixedTotals(sfu.Totals{}), NewEncoderCollector(src)).ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
			body, _ := io.ReadAll(rec.Body)
			has := strings.Contains(string(body), "glint_hls_encoder_info{")
			switch {
			case tc.want == "" && has:
				t.Errorf("an encoder sample before probing:\n%s", body)
			case tc.want != "" && !strings.Contains(string(body), tc.want+"\n"):
				t.Errorf("/metrics lacks %q", tc.want)
			}
		})
	}
}
