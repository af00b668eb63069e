package stats

import (
	"testing"
	"time"
)

func TestQuantile(t *testing.T) {
	var d []time.Duration
	for i := range 20 {
		d = append(d, time.Duration(i+1))
	}
	for _, tt := range []struct {
		q    float64
		want time.Duration
	}{{0.5, 10}, {0.95, 19}, {0.99, 20}, {0.01, 1}, {1, 20}, {0, 1}, {-1, 1}, {2, 20}} {
		if got := Quantile(d, tt.q); got != tt.want {
			t.Errorf("q%v = %d, want %d", tt.q, got, tt.want)
		}
	}
	if Quantile([]time.Duration(nil), 0.5) != 0 {
		t.Error("quantile of nothing")
	}
	if got := Quantile([]float64{1.5, 2.5, 3.5}, 0.5); got != 2.5 {
		t.Errorf("median of three floats = %v", got)
	}
}
