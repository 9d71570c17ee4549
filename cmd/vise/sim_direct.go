package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"runtime/debug"
	"slices"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/vise-edge/vise/client"
	"github.com/vise-edge/vise/deviceapi"
	"github.com/vise-edge/vise/infer"
)

// IngestReport is what `vise sim --direct` measured of ingestion: results
// offered straight to the broker at QoS 1, acknowledged by it (which the
// server does only after commit), and stored by the server's own count.
type IngestReport struct {
	TargetPerSec    float64 `json:"target_per_sec"`
	Seconds         float64 `json:"seconds"` // first publish to last acknowledgement
	Offered         int64   `json:"offered"`
	OfferedPerSec   float64 `json:"offered_per_sec"`
	Acknowledged    int64   `json:"acknowledged"`
	NotAcknowledged int64   `json:"not_acknowledged"`
	// Stored is the rise of the server's vise_results_total{outcome="stored"}
	// over the run; StoredPerSec divides it by Seconds.
	Stored       int64   `json:"stored"`
	StoredPerSec float64 `json:"stored_per_sec"`
	// Publish to acknowledgement (= to commit), in milliseconds.
	LatencyP50MS float64 `json:"latency_p50_ms"`
	LatencyP99MS float64 `json:"latency_p99_ms"`
	LatencyMaxMS float64 `json:"latency_max_ms"`
	// CPU spent over the run per stored result, in microseconds: by the
	// server (its process_cpu_seconds_total) and by this simulator. On a
	// shared machine these hold still when the rates swing.
	ServerCPUPerResultUS float64 `json:"server_cpu_us_per_result"`
	SimCPUPerResultUS    float64 `json:"sim_cpu_us_per_result"`
	// AverageBatch is results per transaction on the server over the run.
	AverageBatch float64      `json:"average_batch"`
	Baseline     *RawBaseline `json:"raw_insert_baseline,omitempty"`
}

const storedSample = `vise_results_total{outcome="stored"}`

// directResults has every agent publish results straight to the broker at
// perSec each for the given time, at most inFlight unacknowledged each:
// past that the device waits, so offered load falls to what the server
// takes.
func directResults(ctx context.Context, cl *client.Client, links []*rawLink, names []string, o simOpts) (*IngestReport, error) {
	before, err := cl.Metric(ctx, storedSample)
	if err != nil {
		return nil, err
	}
	serverCPU, err := cl.Metric(ctx, "process_cpu_seconds_total")
	if err != nil {
		return nil, err
	}
	batchesBefore, err := batchTotals(ctx, cl)
	if err != nil {
		return nil, err
	}
	// A quarter of the garbage collections: the simulator's heap is small
	// (templates, paho's sessions) and it churns through a result's
	// allocations per publish; on a shared machine its CPU is the server's.
	defer debug.SetGCPercent(debug.SetGCPercent(400))
	simCPU := cpuTime()
	run := strconv.FormatInt(time.Now().UnixNano(), 36) // msg ids unique across runs too
	start := time.Now()
	devs := make([]*directDevice, len(links))
	var wg sync.WaitGroup
	for i, l := range links {
		devs[i] = &directDevice{link: l, name: names[i], topic: deviceapi.ResultTopic(names[i], "vise.sim"), runID: run,
			perSec: o.resultsPerSec, inFlight: o.inFlight}
		wg.Go(func() { devs[i].run(ctx, start, start.Add(o.duration)) })
	}
	wg.Wait()
	rep := &IngestReport{TargetPerSec: o.resultsPerSec * float64(len(links))}
	var lat []time.Duration
	var last time.Time
	for _, d := range devs {
		rep.Offered += d.offered
		l := d.link
		l.mu.Lock()
		rep.Acknowledged += int64(len(l.lat))
		rep.NotAcknowledged += l.failed
		lat = append(lat, l.lat...)
		if l.lastAck.After(last) {
			last = l.lastAck
		}
		l.mu.Unlock()
	}
	rep.Seconds = last.Sub(start).Seconds()
	stored, err := awaitStored(ctx, cl, before, rep.Acknowledged, o.drain)
	if err != nil {
		return nil, err
	}
	rep.Stored = stored
	if stored > 0 {
		serverAfter, err := cl.Metric(ctx, "process_cpu_seconds_total")
		if err != nil {
			return nil, err
		}
		rep.ServerCPUPerResultUS = (serverAfter - serverCPU) * 1e6 / float64(stored)
		rep.SimCPUPerResultUS = float64((cpuTime() - simCPU).Microseconds()) / float64(stored)
		batchesAfter, err := batchTotals(ctx, cl)
		if err != nil {
			return nil, err
		}
		if n := batchesAfter[1] - batchesBefore[1]; n > 0 {
			rep.AverageBatch = (batchesAfter[0] - batchesBefore[0]) / n
		}
	}
	if rep.Seconds > 0 {
		rep.OfferedPerSec, rep.StoredPerSec = float64(rep.Offered)/rep.Seconds, float64(rep.Stored)/rep.Seconds
	}
	if o.baseline && stored > 0 {
		if rep.Baseline, err = rawBaseline(ctx, o.baselineDB, o.data, devs, int(stored), int(rep.AverageBatch+0.5)); err != nil {
			return nil, err
		}
		rep.Baseline.StoredRatio = rep.StoredPerSec / rep.Baseline.RowsPerSec
		if rep.Baseline.CPUPerRowUS > 0 { // 0: too few rows for the clock
			rep.Baseline.CPURatio = rep.ServerCPUPerResultUS / rep.Baseline.CPUPerRowUS
		}
	}
	slices.Sort(lat)
	if n := len(lat); n > 0 {
		ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
		rep.LatencyP50MS, rep.LatencyP99MS, rep.LatencyMaxMS = ms(lat[n/2]), ms(lat[min(n-1, n*99/100)]), ms(lat[n-1])
	}
	return rep, nil
}

// batchTotals reads the server's results in batches so far and batches.
func batchTotals(ctx context.Context, cl *client.Client) ([2]float64, error) {
	var t [2]float64
	for i, name := range []string{"vise_result_batch_size_sum", "vise_result_batch_size_count"} {
		v, err := cl.Metric(ctx, name)
		if err != nil {
			return t, err
		}
		t[i] = v
	}
	return t, nil
}

// awaitStored waits (up to within) until the server counts want more
// results stored than before, and returns how many it counts.
func awaitStored(ctx context.Context, cl *client.Client, before float64, want int64, within time.Duration) (int64, error) {
	deadline := time.Now().Add(within)
	for {
		now, err := cl.Metric(ctx, storedSample)
		if err != nil {
			return 0, err
		}
		if got := int64(now - before); got >= want || time.Now().After(deadline) {
			return got, nil
		}
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// directDevice is one simulated device's result stream.
type directDevice struct {
	link        *rawLink
	name, runID string
	topic       string
	perSec      float64
	inFlight    int
	offered     int64
	templates   map[int64][3][]byte // by kind; used by run's goroutine, then the baseline's
}

// run publishes on schedule from start until stop: every tick, the results
// due by now, as far as the in-flight bound allows; then waits for the
// acknowledgements. Nothing is offered after stop, however far behind. A
// result not acknowledged within 30 s of stop counts as failed.
func (d *directDevice) run(ctx context.Context, start, stop time.Time) {
	ctx, cancel := context.WithDeadline(ctx, stop.Add(30*time.Second))
	defer cancel()
	d.link.start(d.inFlight)
	slots := d.link.slots
	defer func() {
		// Every slot back is every result answered.
		for range cap(slots) {
			select {
			case slots <- struct{}{}:
			case <-ctx.Done():
				d.link.abandon()
				return
			}
		}
	}()
	var payload, scratch []byte
	tick := max(time.Duration(float64(time.Second)/d.perSec), 10*time.Millisecond)
	for now := time.Now(); now.Before(stop); now = time.Now() {
		for due := int64(now.Sub(start).Seconds()*d.perSec) + 1; d.offered < due; d.offered++ {
			select {
			case slots <- struct{}{}:
			case <-ctx.Done():
				return
			}
			if time.Now().After(stop) { // behind schedule: the server set the pace
				<-slots
				return
			}
			payload = d.appendResult(payload[:0], d.offered, now)
			d.link.publish(d.topic, payload, &scratch)
		}
		time.Sleep(time.Until(now.Add(tick)))
	}
}

// result is the seq-th synthetic result of this device, in the real schema:
// infer.Synthetic's result, encoded once per kind (templates) with the
// fields that change from one result to the next written in. Each result's
// captured_at and inferred_at are those of the first of its kind.
func (d *directDevice) result(seq int64, at time.Time) []byte { return d.appendResult(nil, seq, at) }

// appendResult appends the seq-th result to b (see result).
func (d *directDevice) appendResult(b []byte, seq int64, at time.Time) []byte {
	if d.templates == nil {
		d.templates = make(map[int64][3][]byte)
	}
	kind := seq % syntheticKinds
	t, ok := d.templates[kind]
	if !ok {
		t = resultTemplate(d.name, seq, at)
		d.templates[kind] = t
	}
	b = append(append(append(b, t[0]...), d.runID...), '-')
	b = append(strconv.AppendInt(b, seq, 10), t[1]...)
	b = append(fmt.Appendf(b, syntheticImage, seq), t[2]...)
	return b
}

// syntheticKinds: infer.Synthetic's results repeat every 10, apart from
// their message id, image name and times.
const syntheticKinds = 10

// syntheticImage is infer.Synthetic's image name (TestResultTemplate
// holds the two together).
const syntheticImage = "tag-%06d.jpg"

// Placeholders for the fields a template leaves out; json.Marshal writes
// them as \u0001 and \u0002, which no other field holds.
const msgIDMark, imageMark = "\x01", "\x02"

// resultTemplate encodes the seq-th synthetic result of device and cuts it
// around its message id and image name.
func resultTemplate(device string, seq int64, at time.Time) [3][]byte {
	r := infer.Synthetic(int(seq), at)
	r.MsgID, r.Device, r.Component, r.Image.Name = msgIDMark, device, "vise.sim", imageMark
	b, err := json.Marshal(r)
	if err != nil {
		panic(fmt.Sprintf("synthetic result: %v", err)) // plain values: cannot happen
	}
	head, rest, ok1 := bytes.Cut(b, []byte(`\u0001`))
	mid, tail, ok2 := bytes.Cut(rest, []byte(`\u0002`))
	if !ok1 || !ok2 {
		panic("synthetic result: msg_id before image, each once") // json.Marshal keeps field order
	}
	return [3][]byte{head, mid, tail}
}

// cpuTime is the CPU this process has used, user and system.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
