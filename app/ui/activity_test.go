package ui

import (
	"strings"
	"testing"
	"time"

	"github.com/berth-registry/berth/app/api"
)

func TestChartSVG(t *testing.T) {
	day := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	counts := []api.DayCount{{Start: day, Pushes: 2, Pulls: 4}, {Start: day.Add(24 * time.Hour)}}
	svg := chartSVG(counts, "day")
	if !strings.HasPrefix(svg, "<svg") || !strings.HasSuffix(svg, "</svg>") {
		t.Fatalf("not an svg: %s", svg)
	}
	if n := strings.Count(svg, `<rect class="bar `); n != 4+2 { // two bars a bucket plus the legend
		t.Errorf("%d bars", n)
	}
	// The tallest bar spans the plot (180 - 10 - 22 = 148 high); half of it is 74.
	if !strings.Contains(svg, `height="148.0"`) || !strings.Contains(svg, `height="74.0"`) {
		t.Errorf("bar heights not scaled to the maximum: %s", svg)
	}
	if empty := chartSVG(nil, "day"); !strings.Contains(empty, "</svg>") {
		t.Errorf("empty chart: %s", empty)
	}
}
