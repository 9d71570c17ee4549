package store_test

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/vise-edge/vise"
	"github.com/vise-edge/vise/store"
)

// RecordStatuses stores a batch of reports in order, answers per report
// (a device not part of the deployment is not_found; the others are
// stored), and settles the deployment once from its devices' final states.
func TestRecordStatuses(t *testing.T) {
	engines(t, func(t *testing.T, s *store.Store) {
		s.CreateGroup(ctx, vise.CreateGroupRequest{Name: "line-3"})
		for _, n := range []string{"cam-1", "cam-2", "cam-9"} {
			if _, err := s.CreateDevice(ctx, vise.CreateDeviceRequest{Name: n, Groups: []string{"line-3"}}); err != nil {
				t.Fatal(err)
			}
		}
		d, err := s.CreateDeployment(ctx, vise.Deployment{Target: vise.Target{Kind: vise.TargetGroup, Name: "line-3"},
			Components: []vise.ComponentRef{{Name: "infer", Version: "1.0.0"}}}, []string{"cam-1", "cam-2"})
		if err != nil {
			t.Fatal(err)
		}
		report := func(device string, gen int64, state vise.DeviceState) store.StatusReport {
			return store.StatusReport{Device: device, Status: []byte(`{"schema":1,"state":"` + string(state) + `"}`), Generation: gen,
				Deployment: d.ID, State: state}
		}
		errs, err := s.RecordStatuses(ctx, []store.StatusReport{
			report("cam-1", 0, vise.DeviceDownloading),
			report("cam-2", 0, vise.DeviceInstalling),
			report("cam-9", 4, vise.DeviceRunning), // not a target
			report("cam-1", 1, vise.DeviceRunning), // after its DOWNLOADING: the later one stays
			{Device: "cam-2", Status: []byte(`{"schema":1}`), Generation: 2},
		})
		if err != nil {
			t.Fatal(err)
		}
		codes := make([]vise.Code, len(errs))
		for i, e := range errs {
			codes[i] = vise.ErrorCode(e)
		}
		if diff := cmp.Diff([]vise.Code{"", "", vise.CodeNotFound, "", ""}, codes); diff != "" {
			t.Errorf("per-report outcomes (-want +got):\n%s", diff)
		}
		got, _ := s.GetDeployment(ctx, d.ID)
		states := map[string]vise.DeviceState{}
		for _, dd := range got.Devices {
			states[dd.Device] = dd.State
		}
		if diff := cmp.Diff(map[string]vise.DeviceState{"cam-1": vise.DeviceRunning, "cam-2": vise.DeviceInstalling}, states); diff != "" {
			t.Errorf("device states (-want +got):\n%s", diff)
		}
		if got.Status != vise.DeploymentInProgress {
			t.Errorf("deployment %s with a device installing, want IN_PROGRESS", got.Status)
		}
		gens := map[string]int64{}
		for _, n := range []string{"cam-1", "cam-2", "cam-9"} {
			dev, err := s.GetDevice(ctx, n)
			if err != nil || dev.LastSeenAt == nil {
				t.Fatalf("%s: %+v, %v", n, dev, err)
			}
			gens[n] = dev.Generation
		}
		if diff := cmp.Diff(map[string]int64{"cam-1": 1, "cam-2": 2, "cam-9": 4}, gens); diff != "" {
			t.Errorf("generations: every report's status is recorded, the last one of a device kept (-want +got):\n%s", diff)
		}

		if _, err := s.RecordStatuses(ctx, []store.StatusReport{report("cam-2", 2, vise.DeviceRunning)}); err != nil {
			t.Fatal(err)
		}
		if got, _ := s.GetDeployment(ctx, d.ID); got.Status != vise.DeploymentSucceeded {
			t.Errorf("deployment %s with every device running, want SUCCEEDED", got.Status)
		}
	})
}
