package ingest

import (
	"encoding/json"
	"fmt"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/vise-edge/vise/infer"
	"github.com/vise-edge/vise/store"
)

// BenchmarkParseResult parses the simulator's result, the check every
// result pays at the door.
func BenchmarkParseResult(b *testing.B) {
	r := infer.Synthetic(0, time.Now())
	r.MsgID, r.Device, r.Component = "run-1", "sim-0001", "vise.sim"
	payload, _ := json.Marshal(r)
	b.SetBytes(int64(len(payload)))
	for b.Loop() {
		if _, err := ParseResult("sim-0001", payload); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkIngest is the server's ingestion path without the broker: 100
// devices' goroutines hand the simulator's results to Result (parse, rate
// check, group commit) at once. Compare with the store's
// BenchmarkInsertResultsRaw for the cost of the path, and with `vise sim
// --direct` for the cost of MQTT and TLS. Reports results/s and this
// process's CPU per result.
func BenchmarkIngest(b *testing.B) {
	for _, engine := range []string{store.SQLite, store.Postgres} {
		b.Run(engine, func(b *testing.B) {
			in, _ := newIngester(b, engine, 5*time.Second)
			in.rates = nil
			const devices = 100
			payloads := make([][]byte, b.N)
			for i := range payloads {
				r := infer.Synthetic(i, time.Now())
				r.MsgID, r.Device, r.Component = fmt.Sprintf("run-%d", i), fmt.Sprintf("sim-%04d", i%devices), "vise.sim"
				payloads[i], _ = json.Marshal(r)
			}
			b.ResetTimer()
			cpu := cpuTime()
			var wg sync.WaitGroup
			for d := range devices {
				wg.Go(func() {
					topic := fmt.Sprintf("vise/devices/sim-%04d/inference/vise.sim", d)
					for i := d; i < b.N; i += devices {
						if err := in.Result(topic, payloads[i]); err != nil {
							b.Error(err)
							return
						}
					}
				})
			}
			wg.Wait()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "results/s")
			b.ReportMetric(float64((cpuTime()-cpu).Microseconds())/float64(b.N), "cpu-us/result")
		})
	}
}

// cpuTime is the CPU this process has used, user and system.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
