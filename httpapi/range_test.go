package httpapi

import "testing"

func TestParseRange(t *testing.T) {
	tests := []struct {
		h                string
		off, n           int64
		partial, invalid bool
	}{
		{h: "", off: 0, n: 100},
		{h: "bytes=0-", off: 0, n: 100, partial: true},
		{h: "bytes=40-", off: 40, n: 60, partial: true},
		{h: "bytes=40-49", off: 40, n: 10, partial: true},
		{h: "bytes=90-500", off: 90, n: 10, partial: true},
		{h: "bytes=-10", off: 90, n: 10, partial: true},
		{h: "bytes=-500", off: 0, n: 100, partial: true},
		{h: "bytes=100-", invalid: true},
		{h: "bytes=50-40", invalid: true},
		{h: "bytes=0-1,5-6", invalid: true},
		{h: "items=0-1", invalid: true},
		{h: "bytes=x-", invalid: true},
		{h: "bytes=-0", invalid: true},
	}
	for _, tt := range tests {
		off, n, partial, err := parseRange(tt.h, 100)
		if (err != nil) != tt.invalid {
			t.Errorf("parseRange(%q) err = %v, want invalid=%v", tt.h, err, tt.invalid)
			continue
		}
		if !tt.invalid && (off != tt.off || n != tt.n || partial != tt.partial) {
			t.Errorf("parseRange(%q) = %d, %d, %v; want %d, %d, %v", tt.h, off, n, partial, tt.off, tt.n, tt.partial)
		}
	}
}
