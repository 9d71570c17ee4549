package store

import (
	"context"
	"slices"

	"github.com/vise-edge/vise"
)

// StatusReport is one device status report as RecordStatuses stores it.
type StatusReport struct {
	Device     string
	Status     []byte // the report as received (compact JSON)
	Generation int64
	// Deployment and State, both set, are the device's progress on a
	// deployment; Message goes with the state.
	Deployment string
	State      vise.DeviceState
	Message    string
}

// RecordStatuses stores many devices' status reports in one transaction:
// each device's latest report and generation (SetDeviceStatus) and its
// progress on a deployment (SetDeviceState), in the order given, each
// deployment settled once at the end. A fleet's reports during a rollout
// then cost one commit (one WAL sync) a batch, not two each.
//
// The returned slice has, per report, nil or the not_found error of a
// device that is not a target of the deployment it reports on (its
// status is still recorded). An error of the whole batch stores none.
func (s *Store) RecordStatuses(ctx context.Context, rs []StatusReport) ([]error, error) {
	errs := make([]error, len(rs))
	return errs, s.write(ctx, "record device status", func(t *tx) error {
		clear(errs)
		now := micros(s.clock())
		var progressed, settled []string // deployments reported on
		for i, r := range rs {
			if err := t.setDeviceStatus(r.Device, r.Status, r.Generation, now); err != nil {
				return err
			}
			if r.Deployment == "" || r.State == "" {
				continue
			}
			found, err := t.setDeviceState(r.Deployment, r.Device, r.State, r.Message, now)
			if err != nil {
				return err
			}
			if !found {
				errs[i] = notTarget(r.Device, r.Deployment)
				continue
			}
			if onItsWay(r.State) {
				progressed = appendNew(progressed, r.Deployment)
			} else {
				settled = appendNew(settled, r.Deployment)
			}
		}
		for _, id := range settled {
			if err := t.settle(id); err != nil {
				return err
			}
		}
		for _, id := range progressed {
			if slices.Contains(settled, id) {
				continue // settle counted it
			}
			if err := t.inProgress(id); err != nil {
				return err
			}
		}
		return nil
	})
}

// onItsWay tells a state that keeps a deployment in progress whatever the
// other devices do: no need to count the whole fleet (settle) for it.
func onItsWay(s vise.DeviceState) bool {
	return s == vise.DeviceDownloading || s == vise.DeviceInstalling || s == vise.DevicePending
}

// inProgress marks a settled deployment in progress again: a device of it
// is on its way.
func (t *tx) inProgress(id string) error {
	_, err := t.exec(`UPDATE deployments SET status = ?, message = '', updated_at = ? WHERE id = ? AND status IN (?, ?, ?)`,
		vise.DeploymentInProgress, micros(t.s.clock()), id, vise.DeploymentInProgress, vise.DeploymentSucceeded, vise.DeploymentFailed)
	return err
}

func appendNew(ids []string, id string) []string {
	if slices.Contains(ids, id) {
		return ids
	}
	return append(ids, id)
}
