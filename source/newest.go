package source

import (
	"context"
	"github.com/vise-edge/vise/deviceapi"
	"sync/atomic"
	"time"
)

// Newest passes frames from in to out, the newest winning: a frame still
// waiting when a newer one arrives is dropped and counted, so a model
// slower than the camera always sees the latest picture and the camera
// reader never waits. It returns when in closes or ctx ends.
func Newest(ctx context.Context, in <-chan Frame, out chan<- Frame, dropped *atomic.Int64) {
	var pending *Frame
	for {
		var send chan<- Frame
		var f Frame
		if pending != nil {
			send, f = out, *pending
		}
		select {
		case g, ok := <-in:
			if !ok {
				return
			}
			if pending != nil {
				dropped.Add(1)
			}
			pending = &g
		case send <- f:
			pending = nil
		case <-ctx.Done():
			return
		}
	}
}

// Trigger asks for one frame of a part.
type Trigger struct {
	PartID string
	At     time.Time
}

// Triggered passes on one frame per trigger: the first frame captured at
// or after the trigger, carrying its part id. Frames nobody asked for are
// discarded (and not counted as dropped: the line did not want them).
func Triggered(ctx context.Context, in <-chan Frame, triggers <-chan Trigger, out chan<- Frame) {
	var waiting []Trigger
	for {
		select {
		case t := <-triggers:
			waiting = append(waiting, t)
		case f, ok := <-in:
			if !ok {
				return
			}
			// A trigger sent before the frame it caused (a camera's own
			// trigger fired by software) may still be queued: take it first.
			waiting = drain(triggers, waiting)
			if len(waiting) == 0 || f.CapturedAt.Before(waiting[0].At) {
				continue
			}
			f.PartID = waiting[0].PartID
			waiting = waiting[1:]
			select {
			case out <- f:
			case <-ctx.Done():
				return
			}
		case <-ctx.Done():
			return
		}
	}
}

func drain(triggers <-chan Trigger, waiting []Trigger) []Trigger {
	for {
		select {
		case t := <-triggers:
			waiting = append(waiting, t)
		default:
			return waiting
		}
	}
}

// TriggerMessage is what a trigger/<component> message on the local IPC
// endpoint carries.
type TriggerMessage = deviceapi.Trigger
