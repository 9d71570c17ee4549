package agent

import (
	"context"

	"github.com/eclipse/paho.golang/paho"

	"github.com/vise-edge/vise"
	"github.com/vise-edge/vise/deviceapi"
)

// PublishDirect sends a result, complete with its device and component,
// straight to the broker at QoS 1, past the store-and-forward queue, and
// waits for the acknowledgement: a nil error means the server stored it
// (or already had it). It is the fleet simulator's way to offer the server
// more results than the devices' disks could.
func (a *Agent) PublishDirect(ctx context.Context, component string, payload []byte) error {
	if !a.running.Load() {
		return vise.Errorf(vise.CodeUnavailable, "agent %s is not connected yet", a.cfg.Name)
	}
	_, err := a.mqtt.Publish(ctx, &paho.Publish{QoS: 1, Topic: deviceapi.ResultTopic(a.id.Device, component), Payload: payload})
	return err
}
