package faults

import (
	"context"
	"errors"
	"net"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestParse(t *testing.T) {
	spec, err := Parse("linkcut:10%@30s+5m, server-kill@60s,broker-restart@90s,agent-kill:phase=download,diskfull:dev=3@20s+30s,skew:+2h@10s,linkcut@1s+2s")
	if err != nil {
		t.Fatal(err)
	}
	want := Spec{
		{Text: "linkcut:10%@30s+5m", Kind: LinkCut, At: 30 * time.Second, For: 5 * time.Minute, Percent: 10, Device: -1},
		{Text: "server-kill@60s", Kind: ServerKill, At: time.Minute, Device: -1},
		{Text: "broker-restart@90s", Kind: BrokerRestart, At: 90 * time.Second, Device: -1},
		{Text: "agent-kill:phase=download", Kind: AgentKill, Phase: PhaseDownload, Device: -1},
		{Text: "diskfull:dev=3@20s+30s", Kind: DiskFull, At: 20 * time.Second, For: 30 * time.Second, Device: 3},
		{Text: "skew:+2h@10s", Kind: ClockSkew, At: 10 * time.Second, Offset: 2 * time.Hour, Device: -1},
		{Text: "linkcut@1s+2s", Kind: LinkCut, At: time.Second, For: 2 * time.Second, Device: -1},
	}
	if d := cmp.Diff(want, spec); d != "" {
		t.Errorf("Parse (-want +got):\n%s", d)
	}
}

// Bad input: each error names the item and what is wrong.
func TestParseRefuses(t *testing.T) {
	for _, tc := range []struct{ spec, want string }{
		{"", "empty fault spec"},
		{"flood@10s", `unknown fault "flood"; known faults: linkcut, server-kill`},
		{"linkcut@10s+1m,meteor", `fault "meteor": unknown fault "meteor"`},
		{"linkcut:10%@30s", "linkcut needs a start and a length"},
		{"linkcut:10%@30s+0s", "must last more than 0"},
		{"linkcut@-5s+1m", `start "-5s"`},
		{"linkcut@soon+1m", `start "soon"`},
		{"linkcut:150%@1s+1s", `share "150%"`},
		{"linkcut:all:dev=2@1s+1s", "name the devices once"},
		{"server-kill@10s+5s", "server-kill takes a start only"},
		{"server-kill", "server-kill takes a start only"},
		{"broker-restart:dev=1@5s", "broker-restart takes a start only"},
		{"agent-kill", "agent-kill needs phase="},
		{"agent-kill:phase=reboot", `unknown phase "reboot"`},
		{"agent-kill:phase=install@5s", "drop the @ time"},
		{"agent-kill:phase=install:all", "strikes one device"},
		{"diskfull:dev=x@1s+1s", `device "dev=x"`},
		{"skew@10s", "skew needs an offset"},
		{"skew:+0s@10s", `clock offset "+0s"`},
		{"linkcut:phase=health@1s+1s", "phase= is for agent-kill only"},
		{"linkcut:wobbly@1s+1s", `unknown argument "wobbly"`},
	} {
		_, err := Parse(tc.spec)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Parse(%q) = %v, want an error containing %q", tc.spec, err, tc.want)
		}
	}
}

func TestPlan(t *testing.T) {
	spec, err := Parse("linkcut:10%@30s+1m,agent-kill:phase=download,agent-kill:phase=health,skew:+1h@5s,server-kill@10s,diskfull:dev=2@1s+1s")
	if err != nil {
		t.Fatal(err)
	}
	evs, err := Plan(spec, PlanOptions{Devices: 20, RunFor: 2 * time.Minute, Deploys: true})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string][]int{}
	var order []string
	for _, e := range evs {
		got[e.Text] = e.Devices
		order = append(order, e.Text)
	}
	want := map[string][]int{
		"linkcut:10%@30s+1m": {0, 10}, "agent-kill:phase=download": {19}, "agent-kill:phase=health": {18},
		"skew:+1h@5s": {17}, "server-kill@10s": nil, "diskfull:dev=2@1s+1s": {2},
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("devices (-want +got):\n%s", d)
	}
	if order[len(order)-1] != "linkcut:10%@30s+1m" {
		t.Errorf("events not in time order: %v", order)
	}
}

// Bad input: timing or devices the run cannot have.
func TestPlanRefuses(t *testing.T) {
	o := PlanOptions{Devices: 5, RunFor: time.Minute, Deploys: true}
	for _, tc := range []struct {
		spec string
		o    PlanOptions
		want string
	}{
		{"linkcut:10%@30s+5m", o, `fault "linkcut:10%@30s+5m": it ends at 5m30s, after the rehearsal's --duration 1m0s`},
		{"server-kill@2m", o, "it ends at 2m0s, after"},
		{"server-kill@5s,server-kill@5s", o, `fault "server-kill@5s" is given twice`},
		{"diskfull:dev=5@1s+1s", o, "device 5 does not exist: the fleet has 5"},
		{"agent-kill:phase=switch", PlanOptions{Devices: 5, RunFor: time.Minute}, "pass --deploy"},
		{"agent-kill:phase=switch:dev=1,agent-kill:phase=health:dev=1", o, "device 1 is already killed"},
		{"agent-kill:phase=download,agent-kill:phase=install", PlanOptions{Devices: 1, RunFor: time.Minute, Deploys: true}, "no device left"},
	} {
		spec, err := Parse(tc.spec)
		if err != nil {
			t.Fatalf("Parse(%q): %v", tc.spec, err)
		}
		if _, err := Plan(spec, tc.o); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Plan(%q) = %v, want an error containing %q", tc.spec, err, tc.want)
		}
	}
}

func TestSchedule(t *testing.T) {
	spec, _ := Parse("linkcut@20ms+30ms,server-kill@10ms,agent-kill:phase=install")
	evs, err := Plan(spec, PlanOptions{Devices: 3, RunFor: time.Second, Deploys: true})
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var got []string
	Schedule(context.Background(), time.Now(), evs,
		func(e Event) { mu.Lock(); got = append(got, "start "+e.Text); mu.Unlock() },
		func(e Event) { mu.Lock(); got = append(got, "stop "+e.Text); mu.Unlock() })
	want := []string{"start server-kill@10ms", "start linkcut@20ms+30ms", "stop linkcut@20ms+30ms"}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("Schedule (-want +got):\n%s", d)
	}
}

// A cut link drops its open connections (the peer sees them end), refuses
// dials until restored, and counts what it cut apart from what the other
// side ended.
func TestLink(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 4)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepted <- c
		}
	}()
	var l Link
	ctx := context.Background()
	c, err := l.Dial(ctx, "tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	peer := <-accepted
	l.Cut()
	if _, err := c.Read(make([]byte, 1)); !errors.Is(err, ErrLinkCut) {
		t.Errorf("read on a cut link = %v, want ErrLinkCut", err)
	}
	peer.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := peer.Read(make([]byte, 1)); err == nil {
		t.Error("the peer's connection survived the cut")
	}
	if _, err := l.Dial(ctx, "tcp", ln.Addr().String()); !errors.Is(err, ErrLinkCut) {
		t.Errorf("dial on a cut link = %v, want ErrLinkCut", err)
	}
	l.Restore()
	c2, err := l.Dial(ctx, "tcp", ln.Addr().String())
	if err != nil {
		t.Fatalf("dial after restore: %v", err)
	}
	(<-accepted).Close() // the server ends it: a drop
	if _, err := c2.Read(make([]byte, 1)); err == nil {
		t.Error("read after the server closed = nil error")
	}
	if l.Cuts() != 1 || l.Drops() != 1 || l.Dials(ln.Addr().String()) != 2 {
		t.Errorf("cuts %d, drops %d, dials %d; want 1, 1 and 2", l.Cuts(), l.Drops(), l.Dials(ln.Addr().String()))
	}
	l.Kill()
	l.Restore()
	if _, err := l.Dial(ctx, "tcp", ln.Addr().String()); !errors.Is(err, ErrLinkCut) {
		t.Errorf("dial on a killed link after restore = %v, want ErrLinkCut", err)
	}
}

func TestDiskAndClock(t *testing.T) {
	var d Disk
	if d.Check() != nil {
		t.Error("a fresh disk refuses writes")
	}
	d.Fill()
	if err := d.Check(); !errors.Is(err, syscall.ENOSPC) {
		t.Errorf("full disk = %v, want ENOSPC", err)
	}
	d.Free()
	if d.Check() != nil || d.Refused() != 1 {
		t.Errorf("after Free: refused %d, want 1", d.Refused())
	}
	var c Clock
	c.Skew(2 * time.Hour)
	if off := c.Now().Sub(time.Now()); off < 2*time.Hour-time.Minute || off > 2*time.Hour+time.Minute {
		t.Errorf("skewed clock is off by %s, want 2h", off)
	}
}

func TestTally(t *testing.T) {
	lost, dup, unexp := Tally([]string{"a", "b", "c"}, map[string]int{"a": 1, "b": 2, "z": 1})
	if lost != 1 || dup != 1 || unexp != 1 {
		t.Errorf("Tally = lost %d, duplicated %d, unexpected %d; want 1, 1, 1", lost, dup, unexp)
	}
	r := Report{Faults: []FaultOutcome{{Fired: true, RecoverSeconds: 3}, {Fired: true, RecoverSeconds: 7}}}
	r.Finish()
	if !r.Ok || r.RecoverMaxSeconds != 7 {
		t.Errorf("Finish: %+v", r)
	}
	r = Report{Faults: []FaultOutcome{{Fired: false}}}
	if r.Finish(); r.Ok {
		t.Error("a fault that never fired passed")
	}
}

// Parse never panics, and what it accepts plans or is refused cleanly.
func FuzzParse(f *testing.F) {
	for _, s := range []string{"linkcut:10%@30s+5m", "server-kill@60s,broker-restart@90s", "agent-kill:phase=download:dev=2", "skew:-90s:all@1m", "diskfull:dev=3@20s+30s", ",,@+:"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		spec, err := Parse(s)
		if err != nil {
			return
		}
		evs, err := Plan(spec, PlanOptions{Devices: 10, RunFor: time.Hour, Deploys: true})
		for _, e := range evs {
			for _, d := range e.Devices {
				if d < 0 || d >= 10 {
					t.Fatalf("%q planned device %d of 10", s, d)
				}
			}
		}
		_ = err
	})
}
