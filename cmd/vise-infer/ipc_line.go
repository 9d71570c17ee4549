package main

import (
	"context"
	"encoding/json"
	"log/slog"
	"time"

	"github.com/eclipse/paho.golang/paho"

	"github.com/vise-edge/vise/source"
	"github.com/vise-edge/vise/verdict"
)

// verdictSender is the mqtt output: verdicts/<component> on the agent's
// local IPC endpoint, which forwards them to the server like results.
type verdictSender struct{ p *publisher }

func (s verdictSender) Send(ctx context.Context, v *verdict.Verdict) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return s.p.ipc.publish(ctx, "verdicts", b)
}

func (s verdictSender) Close() error { return nil }

// subscribeTriggers passes trigger/<component> messages on as triggers,
// stamped with their arrival: the frame taken is the first captured after.
func (c *ipcClient) subscribeTriggers(ctx context.Context, out chan<- source.Trigger, log *slog.Logger) error {
	topic := "trigger/" + c.comp
	c.cl.AddOnPublishReceived(func(pr paho.PublishReceived) (bool, error) {
		if pr.Packet.Topic != topic {
			return false, nil
		}
		at := time.Now()
		var m source.TriggerMessage
		if err := json.Unmarshal(pr.Packet.Payload, &m); err != nil {
			log.Warn("trigger ignored: not a JSON object with part_id", "err", err)
			return true, nil
		}
		select {
		case out <- source.Trigger{PartID: m.PartID, At: at}:
		default:
			log.Warn("trigger ignored: 64 triggers already wait for frames", "part_id", m.PartID)
		}
		return true, nil
	})
	sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	_, err := c.cl.Subscribe(sctx, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: topic, QoS: 1}}})
	return err
}
