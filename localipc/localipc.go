// Package localipc is a device's local IPC endpoint: an MQTT broker on
// loopback that components (vise-infer and others) publish their results,
// verdicts and health to, with a per-start token and a per-component ACL.
// The broker is a small MQTT 5 server of its own (conn.go) on paho's
// packet codec, which the agent already carries for its MQTT client: a
// general-purpose broker library would cost the device more memory than
// the handful of packets these components exchange.
package localipc

import (
	"crypto/rand"
	"crypto/subtle"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/eclipse/paho.golang/packets"

	"github.com/vise-edge/vise/deviceapi"
)

// Server is the local IPC endpoint. A component connects with username
// = its name and password = VISE_IPC_TOKEN, and may publish only
//
//	results/<component>   inference results, forwarded to the server
//	verdicts/<component>  pass/reject verdicts, forwarded to the server
//	status/<component>    {"ready": true, "state": "degraded", ...}, read by
//	                      the agent and reported with the device's status
//	trigger/<any>         {"part_id": ...}: asks a component for one frame
//
// and subscribe only to trigger/<component>. Everything it publishes on
// results/ and verdicts/ goes through the durable outbox.
type Server struct {
	ln                            net.Listener
	log                           *slog.Logger
	token                         string
	onResult, onVerdict, onStatus Handler
	wg                            sync.WaitGroup // the accept loop and one per connection

	mu     sync.Mutex
	closed bool
	conns  map[*conn]struct{} // every open connection, for Close
	byID   map[string]*conn   // the connected clients by client id
}

// Handler takes a message a component published on its own topic.
type Handler func(component string, payload []byte)

// Start serves the endpoint on listen ("127.0.0.1:0": a free port) and
// hands each component's results, verdicts and status reports to the
// handlers, on the publishing client's goroutine.
func Start(listen string, log *slog.Logger, onResult, onVerdict, onStatus Handler) (*Server, error) {
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return nil, fmt.Errorf("local IPC listener on %s: %w", listen, err)
	}
	s := &Server{ln: ln, log: log.With("part", "ipc"), token: rand.Text(),
		onResult: onResult, onVerdict: onVerdict, onStatus: onStatus,
		conns: map[*conn]struct{}{}, byID: map[string]*conn{}}
	s.wg.Go(s.accept)
	return s, nil
}

// Addr is what components get as VISE_IPC.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Token is what components get as VISE_IPC_TOKEN, their password.
func (s *Server) Token() string { return s.token }

// Close stops the endpoint, disconnects every component and waits until
// the endpoint's goroutines have returned (a handler running then is let
// finish).
func (s *Server) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	err := s.ln.Close()
	for c := range s.conns {
		c.nc.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
	if err != nil {
		return fmt.Errorf("closing the local IPC listener: %w", err)
	}
	return nil
}

func (s *Server) accept() {
	for {
		nc, err := s.ln.Accept()
		if errors.Is(err, net.ErrClosed) {
			return
		}
		if err != nil {
			// Out of file descriptors, say: the endpoint must outlast it.
			s.log.Warn("local IPC accept failed; retrying", "err", err)
			time.Sleep(100 * time.Millisecond)
			continue
		}
		c := newConn(s, nc)
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			nc.Close()
			return
		}
		s.conns[c] = struct{}{}
		s.wg.Go(c.serve)
		s.mu.Unlock()
	}
}

// admit returns the CONNACK reason code that refuses cp and why, or 0.
func (s *Server) admit(cp *packets.Connect) (byte, string) {
	switch {
	case cp.ProtocolName != "MQTT" || cp.ProtocolVersion != 5 && cp.ProtocolVersion != 4:
		return packets.ConnackUnsupportedProtocolVersion, "not MQTT 5 or 3.1.1" // [MQTT-3.1.2-2]
	case cp.ProtocolVersion == 4 && cp.ClientID == "" && !cp.CleanStart:
		return packets.ConnackInvalidClientID, "no client id and a session asked for" // [MQTT-3.1.3-8] (3.1.1)
	case cp.Properties.AuthMethod != "":
		return packets.ConnackBadAuthenticationMethod, "extended authentication is not supported"
	case subtle.ConstantTimeCompare(cp.Password, []byte(s.token)) != 1 || !validName(cp.Username):
		return packets.ConnackBadUsernameOrPassword, "wrong token or no component name"
	}
	return 0, ""
}

// validName: a component name is one topic level, so that the ACL's
// results/<name> means that component alone.
func validName(name string) bool {
	return name != "" && !strings.ContainsAny(name, "/+#")
}

// register makes c the connection of its client id and returns the one it
// takes over from, if any [MQTT-3.1.4-3].
func (s *Server) register(c *conn) (old *conn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	old = s.byID[c.id]
	s.byID[c.id] = c
	return old
}

// drop forgets c, which has ended.
func (s *Server) drop(c *conn) {
	s.mu.Lock()
	delete(s.conns, c)
	if s.byID[c.id] == c {
		delete(s.byID, c.id)
	}
	s.mu.Unlock()
	c.nc.Close()
}

// deliver takes a publish from a component: to the agent's handler if on
// one of its own topics, to the subscribers if a trigger. It is false if
// the ACL refuses the topic.
func (s *Server) deliver(from *conn, p *packets.Publish) bool {
	var h Handler
	switch p.Topic {
	case deviceapi.IPCResultTopic(from.user):
		h = s.onResult
	case deviceapi.IPCVerdictTopic(from.user):
		h = s.onVerdict
	case deviceapi.IPCStatusTopic(from.user):
		h = s.onStatus
	}
	switch {
	case h != nil:
		h(from.user, p.Payload) // the topic's last level: names are one level
	case isTrigger(p.Topic):
		s.route(from, p) // a line-side component triggers an inspecting one
	default:
		s.log.Warn("local IPC topic refused", "client_id", from.id, "user", from.user, "topic", p.Topic, "write", true)
		return false
	}
	return true
}

// isTrigger: trigger/<one level>, which any component may publish to.
func isTrigger(topic string) bool {
	rest, ok := strings.CutPrefix(topic, deviceapi.IPCTriggerTopic(""))
	return ok && !strings.ContainsAny(rest, "/+#")
}

// mayRead is the subscribe side of the ACL: trigger/<own name>, exactly.
func (s *Server) mayRead(c *conn, filter string) bool {
	if filter == deviceapi.IPCTriggerTopic(c.user) {
		return true
	}
	s.log.Warn("local IPC topic refused", "client_id", c.id, "user", c.user, "topic", filter, "write", false)
	return false
}

// route sends a trigger to each connection of the component it names
// that subscribed to it. Subscriptions are granted QoS 0 (conn.subscribe),
// so it goes at QoS 0 [MQTT-3.8.4-8].
func (s *Server) route(from *conn, p *packets.Publish) {
	comp := strings.TrimPrefix(p.Topic, deviceapi.IPCTriggerTopic(""))
	var to []*conn
	s.mu.Lock()
	for _, c := range s.byID {
		if c.user == comp && c.sub.on && !(c.sub.noLocal && c == from) {
			to = append(to, c)
		}
	}
	s.mu.Unlock()
	props := *p.Properties // forwarded unaltered [MQTT-3.3.2-4] [MQTT-3.3.2-17] [MQTT-3.3.2-20]
	props.TopicAlias, props.SubscriptionIdentifier = nil, nil
	out := &packets.Publish{Topic: p.Topic, Payload: p.Payload, Properties: &props}
	for _, c := range to {
		c.send(out)
	}
}

// unsubscribe ends c's subscription to filter; false if it had none.
func (s *Server) unsubscribe(c *conn, filter string) bool {
	return filter == deviceapi.IPCTriggerTopic(c.user) && s.setSub(c, subscription{})
}

// setSub sets c's one possible subscription and reports whether it had one.
func (s *Server) setSub(c *conn, sub subscription) (had bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	had, c.sub = c.sub.on, sub
	return had
}
