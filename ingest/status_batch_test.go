package ingest

import (
	"fmt"
	"sync"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/vise-edge/vise"
	"github.com/vise-edge/vise/store"
)

// A fleet's status reports that arrive while one commits are stored
// together: 1 + 40 reports in at most 2 transactions, every one recorded,
// each device's progress kept and the deployment settled.
func TestStatusesBatched(t *testing.T) {
	for _, engine := range []string{store.SQLite, store.Postgres} {
		t.Run(engine, func(t *testing.T) {
			in, s := newIngester(t, engine, 30*time.Second)
			const devices = 41
			var names []string
			for i := range devices {
				names = append(names, fmt.Sprintf("cam-%d", i))
				if _, err := s.CreateDevice(ctx, vise.CreateDeviceRequest{Name: names[i]}); err != nil {
					t.Fatal(err)
				}
			}
			d, err := s.CreateDeployment(ctx, vise.Deployment{Target: vise.Target{Kind: vise.TargetDevice, Name: "cam-0"},
				Components: []vise.ComponentRef{{Name: "infer", Version: "1.0.0"}}}, names)
			if err != nil {
				t.Fatal(err)
			}
			status := func(device string) error {
				return in.Status("vise/devices/"+device+"/status", []byte(`{"schema":1,"generation":1,"deployment":"`+d.ID+`","state":"RUNNING"}`))
			}
			release := lockTable(t, s, "devices")
			errs := make([]error, devices)
			var wg sync.WaitGroup
			wg.Go(func() { errs[0] = status(names[0]) })
			poll(t, func() bool { return len(in.statusQueue) == 0 }) // the writer holds it, stuck on the lock
			for i := 1; i < devices; i++ {
				wg.Go(func() { errs[i] = status(names[i]) })
			}
			poll(t, func() bool { return len(in.statusQueue) == devices-1 })
			release()
			wg.Wait()
			for i, err := range errs {
				if err != nil {
					t.Errorf("report of %s: %v", names[i], err)
				}
			}
			var m dto.Metric
			in.m.statusBatch.Write(&m)
			if n := m.GetHistogram().GetSampleCount(); n > 2 {
				t.Errorf("%d transactions for %d reports queued together, want at most 2", n, devices)
			}
			if got := value(in.m.status.WithLabelValues("stored")); got != devices {
				t.Errorf("%v reports counted stored, want %d", got, devices)
			}
			got, _ := s.GetDeployment(ctx, d.ID)
			if got.Status != vise.DeploymentSucceeded {
				t.Errorf("deployment %s, want SUCCEEDED (every device reported RUNNING)", got.Status)
			}
			for _, dd := range got.Devices {
				if dd.State != vise.DeviceRunning {
					t.Errorf("%s: %s, want RUNNING", dd.Device, dd.State)
				}
			}
		})
	}
}
