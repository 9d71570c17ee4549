package agent

import (
	"context"
	"encoding/json"
	"sync"
	"time"

	"github.com/eclipse/paho.golang/paho"

	"github.com/vise-edge/vise/deviceapi"
)

// statusSender sends the device's status one report at a time, so the
// server never gets an older state after a newer one, and sends it again
// while the server does not take it.
type statusSender struct {
	mu    sync.Mutex
	fails int         // reports not taken in a row
	retry *time.Timer // the pending resend, if any
}

// publishStatus reports the generation, the deployment's state and the
// components on the device's status topic. A report the server does not
// take (the link down, "not stored now" while it is busy, no answer) is
// sent again, with the state as it is then, after a jittered backoff (3 s
// doubling to 2 minutes): the deployment's outcome travels in it, and the
// next tick may be minutes away.
func (a *Agent) publishStatus(ctx context.Context) {
	s := &a.status
	s.mu.Lock()
	defer s.mu.Unlock()
	a.mu.Lock()
	st := a.state
	a.mu.Unlock()
	b, _ := json.Marshal(deviceapi.Status{Schema: deviceapi.StatusSchema, Generation: st.Generation, Deployment: st.Deployment,
		State: st.DeploymentState, Message: st.Message, Components: st.Components, Health: a.componentHealth(), Telemetry: a.telemetry()})
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	_, err := a.mqtt.Publish(pctx, &paho.Publish{QoS: 1, Topic: deviceapi.StatusTopic(a.id.Device), Payload: b})
	if err == nil {
		s.fails = 0
		return
	}
	if ctx.Err() != nil {
		return
	}
	a.log.Warn("publish status; sending it again", "err", err, "attempt", s.fails+1)
	if s.retry == nil {
		s.retry = time.AfterFunc(newBackoff().delay(s.fails), func() {
			s.mu.Lock()
			s.retry = nil
			s.mu.Unlock()
			a.publishStatus(ctx)
		})
	}
	s.fails++
}
