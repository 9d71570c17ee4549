package source

import (
	"context"
	"testing"
	"time"
)

// collect runs a stream until want frames arrived or the deadline passed.
func collect(t *testing.T, s *Stream, want int, within time.Duration) []Frame {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	ch := make(chan Frame)
	done := make(chan struct{})
	go func() { defer close(done); s.Run(ctx, ch) }()
	var got []Frame
	for len(got) < want {
		select {
		case f := <-ch:
			got = append(got, f)
		case <-ctx.Done():
			t.Fatalf("%d of %d frames within %s; status %+v", len(got), want, within, s.Status())
		}
	}
	cancel()
	<-done
	return got
}
