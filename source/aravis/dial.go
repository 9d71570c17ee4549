package aravis

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/vise-edge/vise/source"
)

// Dial is a source.Dial for the camera id with these settings.
func Dial(id string, set Settings, stall time.Duration) source.Dial {
	return func(ctx context.Context, emit func(source.Frame) bool) error {
		cam, err := open(id, set)
		if err != nil {
			return err
		}
		defer cam.close()
		if err := cam.start(); err != nil {
			return err
		}
		if set.Fire != nil {
			stop, fired := make(chan struct{}), make(chan struct{})
			go func() { defer close(fired); cam.fire(set.Fire, stop, stall) }()
			defer func() { close(stop); <-fired }() // before the camera closes
		}
		return cam.read(ctx, set.Trigger != "", stall, emit)
	}
}

// read emits the camera's frames until ctx ends or the camera is lost:
// stall of silence in a row, or, for a triggered camera (silent until a
// part comes), a camera that no longer answers when asked after stall of
// silence. It waits in slices of at most a second so a cancelled ctx is
// noticed.
func (cam *camera) read(ctx context.Context, triggered bool, stall time.Duration, emit func(source.Frame) bool) error {
	var silent time.Duration
	for ctx.Err() == nil {
		wait := min(stall, time.Second)
		img, _, err := cam.next(wait)
		if e := cam.fireErr.Load(); e != nil {
			return *e
		}
		if errors.Is(err, source.ErrStalled) {
			if silent += wait; silent < stall {
				continue
			}
			if !triggered {
				return fmt.Errorf("%w for %s", source.ErrStalled, stall)
			}
			if err := cam.alive(); err != nil {
				return err
			}
			silent = 0
			continue
		}
		if err != nil {
			return err
		}
		silent = 0
		if !emit(source.Frame{Image: img, CapturedAt: time.Now()}) {
			return ctx.Err()
		}
	}
	return ctx.Err()
}
