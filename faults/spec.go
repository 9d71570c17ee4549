// Package faults is the fleet simulator's fault rehearsal (`vise sim
// --faults SPEC`): the spec language, the plan that turns a spec into timed
// events on chosen devices, the per-device link and disk a fault acts on,
// and the report's arithmetic (lost, duplicated, time to recover). It knows
// nothing of the agent or the server; cmd/vise wires it to both.
package faults

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Kind is a fault's name in a spec.
type Kind string

// The faults a spec may name.
const (
	LinkCut       Kind = "linkcut"        // devices lose their network for a while
	ServerKill    Kind = "server-kill"    // kill -9 of the server process, then a restart
	BrokerRestart Kind = "broker-restart" // the broker stops (every session gone) and starts again
	AgentKill     Kind = "agent-kill"     // an agent dies at a deployment phase and starts again
	DiskFull      Kind = "diskfull"       // a device's disk refuses writes for a while
	ClockSkew     Kind = "skew"           // a device's clock jumps by an offset
)

// Kinds lists the known faults, in the order errors name them.
var Kinds = []Kind{LinkCut, ServerKill, BrokerRestart, AgentKill, DiskFull, ClockSkew}

// Phase is a step of applying a deployment on a device.
type Phase string

// The deployment phases an agent-kill may hit, in the order they come.
const (
	PhaseDownload Phase = "download"
	PhaseInstall  Phase = "install"
	PhaseSwitch   Phase = "switch"
	PhaseHealth   Phase = "health"
)

// Phases lists the phases in order.
var Phases = []Phase{PhaseDownload, PhaseInstall, PhaseSwitch, PhaseHealth}

// Fault is one item of a spec.
type Fault struct {
	Text    string        // as written, for reports and errors
	Kind    Kind          //
	At      time.Duration // when it starts, from the rehearsal's start
	For     time.Duration // how long it lasts (linkcut, diskfull); 0: instant
	Percent float64       // share of the devices, 0 < p <= 100; 0: see Device/All
	All     bool          // every device
	Device  int           // one device by index; -1: not named
	Phase   Phase         // agent-kill: the phase it strikes in
	Offset  time.Duration // skew: how far the clock jumps
}

// Spec is a parsed fault spec.
type Spec []Fault

// Parse reads a spec: items separated by commas, each
//
//	KIND[:ARG]...[@AT[+FOR]]
//
// where ARG is N% (a share of the devices), all, dev=N (device N, from 0),
// phase=PHASE (agent-kill) or a signed duration (skew's offset). Examples:
//
//	linkcut:10%@30s+5m   server-kill@60s   broker-restart@90s
//	agent-kill:phase=download   diskfull:dev=3@20s+30s   skew:+2h:dev=1@10s
//
// Errors name the item and what is wrong with it.
func Parse(s string) (Spec, error) {
	if strings.TrimSpace(s) == "" {
		return nil, fmt.Errorf("empty fault spec: name at least one fault (%s)", kindList())
	}
	var spec Spec
	for item := range strings.SplitSeq(s, ",") {
		f, err := parseItem(strings.TrimSpace(item))
		if err != nil {
			return nil, fmt.Errorf("fault %q: %w", strings.TrimSpace(item), err)
		}
		spec = append(spec, f)
	}
	return spec, nil
}

func parseItem(item string) (Fault, error) {
	f := Fault{Text: item, Device: -1}
	head, timing, timed := strings.Cut(item, "@")
	parts := strings.Split(head, ":")
	f.Kind = Kind(parts[0])
	if !known(f.Kind) {
		return f, fmt.Errorf("unknown fault %q; known faults: %s", parts[0], kindList())
	}
	for _, arg := range parts[1:] {
		if err := f.parseArg(arg); err != nil {
			return f, err
		}
	}
	if timed {
		at, dur, hasFor := strings.Cut(timing, "+")
		var err error
		if f.At, err = duration("start", at); err != nil {
			return f, err
		}
		if hasFor {
			if f.For, err = duration("length", dur); err != nil {
				return f, err
			}
			if f.For <= 0 {
				return f, fmt.Errorf("length +%s: a fault that lasts must last more than 0", dur)
			}
		}
	}
	return f, f.check(timed)
}

func (f *Fault) parseArg(arg string) error {
	switch {
	case arg == "all":
		f.All = true
	case strings.HasSuffix(arg, "%"):
		p, err := strconv.ParseFloat(strings.TrimSuffix(arg, "%"), 64)
		if err != nil || p <= 0 || p > 100 {
			return fmt.Errorf("share %q: give a percentage above 0 and at most 100", arg)
		}
		f.Percent = p
	case strings.HasPrefix(arg, "dev="):
		n, err := strconv.Atoi(strings.TrimPrefix(arg, "dev="))
		if err != nil || n < 0 {
			return fmt.Errorf("device %q: give dev=N with N a device index from 0", arg)
		}
		f.Device = n
	case strings.HasPrefix(arg, "phase="):
		p := Phase(strings.TrimPrefix(arg, "phase="))
		if !knownPhase(p) {
			return fmt.Errorf("unknown phase %q; phases: download, install, switch, health", p)
		}
		f.Phase = p
	case strings.HasPrefix(arg, "+") || strings.HasPrefix(arg, "-"):
		d, err := time.ParseDuration(arg)
		if err != nil || d == 0 {
			return fmt.Errorf("clock offset %q: give a signed duration such as +2h or -90s", arg)
		}
		f.Offset = d
	default:
		return fmt.Errorf("unknown argument %q (N%%, all, dev=N, phase=PHASE or a clock offset)", arg)
	}
	return nil
}

func duration(what, s string) (time.Duration, error) {
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return 0, fmt.Errorf("%s %q: give a duration from 0 such as 30s or 5m", what, s)
	}
	return d, nil
}

// check is what a single item must satisfy whatever the run.
func (f *Fault) check(timed bool) error {
	targets := 0
	for _, set := range []bool{f.All, f.Percent > 0, f.Device >= 0} {
		if set {
			targets++
		}
	}
	switch {
	case targets > 1:
		return fmt.Errorf("name the devices once: all, N%% or dev=N")
	case f.Phase != "" && f.Kind != AgentKill:
		return fmt.Errorf("phase= is for agent-kill only")
	case f.Offset != 0 && f.Kind != ClockSkew:
		return fmt.Errorf("a clock offset is for skew only")
	}
	switch f.Kind {
	case LinkCut, DiskFull:
		if !timed || f.For == 0 {
			return fmt.Errorf("%s needs a start and a length, e.g. %s:dev=0@30s+1m", f.Kind, f.Kind)
		}
	case ServerKill, BrokerRestart:
		if !timed || f.For != 0 || targets > 0 {
			return fmt.Errorf("%s takes a start only, e.g. %s@60s (it restarts at once)", f.Kind, f.Kind)
		}
	case AgentKill:
		if f.Phase == "" {
			return fmt.Errorf("agent-kill needs phase=download|install|switch|health")
		}
		if timed {
			return fmt.Errorf("agent-kill strikes when its device reaches the phase; drop the @ time")
		}
		if f.All || f.Percent > 0 {
			return fmt.Errorf("agent-kill strikes one device: dev=N, or none for the simulator's choice")
		}
	case ClockSkew:
		if f.Offset == 0 || !timed || f.For != 0 {
			return fmt.Errorf("skew needs an offset and a start, e.g. skew:+2h@10s (the clock stays off)")
		}
	}
	return nil
}

func known(k Kind) bool {
	for _, x := range Kinds {
		if x == k {
			return true
		}
	}
	return false
}

func knownPhase(p Phase) bool {
	for _, x := range Phases {
		if x == p {
			return true
		}
	}
	return false
}

func kindList() string {
	s := make([]string, len(Kinds))
	for i, k := range Kinds {
		s[i] = string(k)
	}
	return strings.Join(s, ", ")
}
