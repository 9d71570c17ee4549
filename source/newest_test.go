package source

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestNewest(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	in, out := make(chan Frame), make(chan Frame)
	var dropped atomic.Int64
	go Newest(ctx, in, out, &dropped)
	for i := range uint64(5) { // nobody takes: each newer frame replaces the last
		in <- Frame{Seq: i + 1}
	}
	if got := (<-out).Seq; got != 5 {
		t.Errorf("took frame %d, want the newest, 5", got)
	}
	if dropped.Load() != 4 {
		t.Errorf("dropped = %d, want 4", dropped.Load())
	}
	in <- Frame{Seq: 6}
	if got := (<-out).Seq; got != 6 || dropped.Load() != 4 {
		t.Errorf("took %d with %d dropped, want 6 with 4: a consumer keeping up loses nothing", got, dropped.Load())
	}
}

func TestTriggered(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	in, out := make(chan Frame), make(chan Frame, 4)
	triggers := make(chan Trigger, 4)
	go Triggered(ctx, in, triggers, out)
	t0 := time.Now()
	in <- Frame{Seq: 1, CapturedAt: t0} // nobody asked
	triggers <- Trigger{PartID: "P-1", At: t0.Add(time.Second)}
	triggers <- Trigger{PartID: "P-2", At: t0.Add(time.Second)}
	for i := range 5 {
		in <- Frame{Seq: uint64(i + 2), CapturedAt: t0.Add(time.Duration(i) * time.Second)}
	}
	got := []Frame{<-out, <-out}
	want := []Frame{{Seq: 3, CapturedAt: t0.Add(time.Second), PartID: "P-1"}, {Seq: 4, CapturedAt: t0.Add(2 * time.Second), PartID: "P-2"}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("frames (-want +got):\n%s", diff)
	}
	if len(out) != 0 {
		t.Errorf("%d frames passed on without a trigger", len(out))
	}
}
