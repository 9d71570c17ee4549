package procstat

import (
	"os"
	"testing"
)

func TestFigures(t *testing.T) {
	if _, err := os.Stat("/proc/self/status"); err != nil {
		t.Skip("no /proc here:", err)
	}
	big := make([]byte, 64<<20)
	for i := range big {
		big[i] = 1 // touched: resident
	}
	rss, peak := RSS(0), PeakRSS(os.Getpid())
	if rss < 64<<20 || peak < rss || MemAvailable() <= 0 {
		t.Errorf("RSS %d, peak %d, available %d; want at least the 64 MiB touched", rss, peak, MemAvailable())
	}
	if Status(0, "NoSuchField") != 0 || RSS(1<<30) != 0 {
		t.Error("a missing field or process is not 0")
	}
	_ = big[len(big)-1]
}
