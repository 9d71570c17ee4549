package aravis

/*
#cgo pkg-config: aravis-0.8
#include <arv.h>

static char *vise_take_error(GError *e) {
	char *m = g_strdup(e->message);
	g_error_free(e);
	return m;
}

// vise_fire executes the camera's TriggerSoftware command.
static char *vise_fire(ArvCamera *c) {
	GError *e = NULL;
	arv_camera_software_trigger(c, &e);
	return e ? vise_take_error(e) : NULL;
}

// vise_alive asks the camera for a register (its payload size): a camera
// waiting for a trigger answers, a lost one does not.
static char *vise_alive(ArvCamera *c) {
	GError *e = NULL;
	arv_camera_get_payload(c, &e);
	return e ? vise_take_error(e) : NULL;
}
*/
import "C"

import (
	"fmt"
	"time"
)

// This file is the camera's own trigger fired by software (TriggerSource
// Software): vise-infer sends TriggerSoftware once per trigger message.

// fireAttempts is how often one trigger is fired when the frame it asked
// for arrives incomplete (lost packets) or not within the stall timeout
// (the simulated camera now and then ignores the first trigger after
// acquisition starts): the part is still in place, waiting for its
// picture, and a lost frame would leave it uninspected. A frame later
// than the stall timeout may thus be taken twice.
const fireAttempts = 3

// fire triggers the camera once per value from fire until stop closes; a
// failing command ends the connection (read returns it). A camera ignores
// a trigger while it is still taking the last frame (the simulated one
// merged four quick triggers into one frame), so each trigger waits for
// its frame, or for the stall timeout, before the next is fired.
func (cam *camera) fire(fire <-chan struct{}, stop <-chan struct{}, stall time.Duration) {
	for {
		select {
		case <-fire:
			answered := false
			for range fireAttempts {
				select {
				case <-cam.frames: // a frame nobody waited for
				default:
				}
				if msg := C.vise_fire(cam.c); msg != nil {
					err := fmt.Errorf("aravis: TriggerSoftware: %s", take(msg))
					cam.fireErr.Store(&err)
					return
				}
				again, timedOut, stopped := cam.await(stop, stall)
				answered = answered || !timedOut
				if !again || stopped {
					break
				}
			}
			if !answered {
				// Acquisition that ignores triggers (a freshly started
				// simulated camera did, now and then): connect again.
				err := fmt.Errorf("aravis: no frame for %d software triggers", fireAttempts)
				cam.fireErr.Store(&err)
				return
			}
		case <-stop:
			return
		}
	}
}

// await waits for the next frame's end: again when it arrived with
// packets missing or not within the stall timeout.
func (cam *camera) await(stop <-chan struct{}, stall time.Duration) (again, timedOut, stopped bool) {
	t := time.NewTimer(stall)
	defer t.Stop()
	select {
	case ok := <-cam.frames:
		return !ok, false, false
	case <-t.C:
		return true, true, false
	case <-stop:
		return false, false, true
	}
}

// ended tells fire how a frame ended, never blocking.
func (cam *camera) ended(ok bool) {
	select {
	case cam.frames <- ok:
	default:
	}
}

// alive reports whether the camera still answers on its control channel.
func (cam *camera) alive() error {
	if msg := C.vise_alive(cam.c); msg != nil {
		return fmt.Errorf("aravis: camera does not answer: %s", take(msg))
	}
	return nil
}
