package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/vise-edge/vise"
)

// CreateDeployment stores d (ID, Status and times are set here) with a
// PENDING row for each target device, and marks earlier in-progress
// deployments to the same target SUPERSEDED: a device converges on the
// newest deployment only.
func (s *Store) CreateDeployment(ctx context.Context, d vise.Deployment, devices []string) (*vise.Deployment, error) {
	now := s.clock()
	d.ID, d.Status, d.CreatedAt, d.UpdatedAt = s.newID(), vise.DeploymentInProgress, now, now
	d.Devices = make([]vise.DeviceDeployment, len(devices))
	for i, dev := range devices {
		d.Devices[i] = vise.DeviceDeployment{Device: dev, State: vise.DevicePending, UpdatedAt: now}
	}
	err := s.write(ctx, "create deployment", func(t *tx) error {
		if err := t.supersede(d.Target, d.ID, now); err != nil {
			return err
		}
		var cols [3]string
		var err error
		for i, v := range []any{d.Components, d.Configuration, d.Rollout} {
			if cols[i], err = jsonText(v); err != nil {
				return err
			}
		}
		if _, err := t.exec(`INSERT INTO deployments (id, target_kind, target_name, components, configuration, rollout,
			failure_policy, status, message, created_by, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			d.ID, d.Target.Kind, d.Target.Name, cols[0], cols[1], cols[2], d.FailurePolicy, d.Status, d.Message,
			d.CreatedBy, micros(now), micros(now)); err != nil {
			return err
		}
		for _, dev := range devices {
			if _, err := t.exec(`INSERT INTO deployment_devices (deployment_id, device, state, updated_at) VALUES (?, ?, ?, ?)`,
				d.ID, dev, vise.DevicePending, micros(now)); err != nil {
				return err
			}
		}
		return t.emit(vise.EventDeploymentCreated, d.ID, &d)
	})
	if err != nil {
		return nil, err
	}
	return &d, nil
}

func (t *tx) supersede(target vise.Target, by string, now time.Time) error {
	msg := "superseded by deployment " + by
	if _, err := t.exec(`UPDATE deployment_devices SET state = ?, message = ?, updated_at = ?
		WHERE state = ? AND deployment_id IN (SELECT id FROM deployments WHERE target_kind = ? AND target_name = ? AND status = ?)`,
		vise.DeviceSuperseded, msg, micros(now), vise.DevicePending, target.Kind, target.Name, vise.DeploymentInProgress); err != nil {
		return err
	}
	_, err := t.exec(`UPDATE deployments SET status = ?, message = ?, updated_at = ? WHERE target_kind = ? AND target_name = ? AND status = ?`,
		vise.DeploymentSuperseded, msg, micros(now), target.Kind, target.Name, vise.DeploymentInProgress)
	return err
}

const deploymentCols = `id, target_kind, target_name, components, configuration, rollout, failure_policy, status, message, created_by, created_at, updated_at`

func scanDeployment(row scanner) (*vise.Deployment, error) {
	var d vise.Deployment
	var comps, config, rollout string
	var created, updated int64
	if err := row.Scan(&d.ID, &d.Target.Kind, &d.Target.Name, &comps, &config, &rollout, &d.FailurePolicy,
		&d.Status, &d.Message, &d.CreatedBy, &created, &updated); err != nil {
		return nil, err
	}
	d.CreatedAt, d.UpdatedAt = fromMicros(created), fromMicros(updated)
	return &d, scanJSON(comps, &d.Components, config, &d.Configuration, rollout, &d.Rollout)
}

// GetDeployment returns a deployment with its per-device progress.
func (s *Store) GetDeployment(ctx context.Context, id string) (*vise.Deployment, error) {
	d, err := scanDeployment(s.queryRow(ctx, `SELECT `+deploymentCols+` FROM deployments WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, vise.Errorf(vise.CodeNotFound, "deployment %s not found; 'vise deployment list' shows the deployments", id)
	}
	if err != nil {
		return nil, s.classify("get deployment", err)
	}
	d.Devices, err = list(ctx, s, "get deployment", scanDeviceDeployment, `SELECT device, state, message, updated_at FROM deployment_devices WHERE deployment_id = ? ORDER BY device`, id)
	return d, err
}

// ListDeployments returns deployments newest first, at most limit (default
// 100), optionally only those for one target.
func (s *Store) ListDeployments(ctx context.Context, target *vise.Target, limit int) ([]*vise.Deployment, error) {
	limit = listLimit(limit, vise.DefaultListLimit)
	kind, name := "", ""
	if target != nil {
		kind, name = target.Kind, target.Name
	}
	return list(ctx, s, "list deployments", scanDeployment, `SELECT `+deploymentCols+` FROM deployments
		WHERE (? = '' OR (target_kind = ? AND target_name = ?)) ORDER BY id DESC LIMIT ?`, kind, kind, name, limit)
}

// SetDeviceState records a device's progress on a deployment.
func (s *Store) SetDeviceState(ctx context.Context, id, device string, state vise.DeviceState, message string) error {
	return s.write(ctx, "set device deployment state", func(t *tx) error {
		found, err := t.setDeviceState(id, device, state, message, micros(s.clock()))
		if err != nil {
			return err
		}
		if !found {
			return notTarget(device, id)
		}
		if onItsWay(state) {
			return t.inProgress(id)
		}
		return t.settle(id)
	})
}

// setDeviceState records a device's progress on a deployment, without
// settling the deployment; false when the device is not one of its
// targets.
func (t *tx) setDeviceState(id, device string, state vise.DeviceState, message string, now int64) (bool, error) {
	res, err := t.exec(`UPDATE deployment_devices SET state = ?, message = ?, updated_at = ? WHERE deployment_id = ? AND device = ?`,
		state, message, now, id, device)
	if err != nil {
		return false, err
	}
	n, _ := res.RowsAffected()
	return n > 0, nil
}

func notTarget(device, id string) error {
	return vise.Errorf(vise.CodeNotFound, "device %s is not part of deployment %s", device, id)
}

// settle derives a deployment's status from its devices: SUCCEEDED when
// every device runs it, FAILED when every device is done and one failed.
func (t *tx) settle(id string) error {
	var total, running, failed, open int
	err := t.queryRow(`SELECT COUNT(*),
		COALESCE(SUM(CASE WHEN state = ? THEN 1 ELSE 0 END), 0),
		COALESCE(SUM(CASE WHEN state IN (?, ?) THEN 1 ELSE 0 END), 0),
		COALESCE(SUM(CASE WHEN state IN (?, ?, ?) THEN 1 ELSE 0 END), 0)
		FROM deployment_devices WHERE deployment_id = ?`,
		vise.DeviceRunning, vise.DeviceFailed, vise.DeviceRolledBack,
		vise.DevicePending, vise.DeviceDownloading, vise.DeviceInstalling, id).Scan(&total, &running, &failed, &open)
	if err != nil {
		return err
	}
	status, msg := vise.DeploymentInProgress, ""
	switch {
	case total > 0 && running == total:
		status = vise.DeploymentSucceeded
	case open == 0 && failed > 0:
		status, msg = vise.DeploymentFailed, fmt.Sprintf("%d of %d devices failed", failed, total)
	}
	_, err = t.exec(`UPDATE deployments SET status = ?, message = ?, updated_at = ? WHERE id = ? AND status IN (?, ?, ?)`,
		status, msg, micros(t.s.clock()), id, vise.DeploymentInProgress, vise.DeploymentSucceeded, vise.DeploymentFailed)
	return err
}

// CurrentDeployment returns the newest deployment that still applies to a
// device (not superseded or cancelled for it), or not_found. Its Devices
// list holds only this device: a device polling must not cost a read of a
// fleet-wide deployment's every row.
func (s *Store) CurrentDeployment(ctx context.Context, device string) (*vise.Deployment, error) {
	var id string
	err := s.queryRow(ctx, `SELECT dd.deployment_id FROM deployment_devices dd WHERE dd.device = ? AND dd.state NOT IN (?, ?)
		ORDER BY dd.deployment_id DESC LIMIT 1`, device, vise.DeviceSuperseded, vise.DeviceCanceled).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, vise.Errorf(vise.CodeNotFound, "no deployment for device %s", device)
	}
	if err != nil {
		return nil, s.classify("get current deployment", err)
	}
	d, err := scanDeployment(s.queryRow(ctx, `SELECT `+deploymentCols+` FROM deployments WHERE id = ?`, id))
	if err != nil {
		return nil, s.classify("get current deployment", err)
	}
	d.Devices, err = list(ctx, s, "get current deployment", scanDeviceDeployment,
		`SELECT device, state, message, updated_at FROM deployment_devices WHERE deployment_id = ? AND device = ?`, id, device)
	return d, err
}

func scanDeviceDeployment(row scanner) (dd vise.DeviceDeployment, err error) {
	var at int64
	err = row.Scan(&dd.Device, &dd.State, &dd.Message, &at)
	dd.UpdatedAt = fromMicros(at)
	return dd, err
}

// DeviceDeployments returns every deployment a device is a target of,
// oldest first, without per-device progress: what it may fetch.
func (s *Store) DeviceDeployments(ctx context.Context, device string) ([]*vise.Deployment, error) {
	return list(ctx, s, "list deployments of a device", scanDeployment, `SELECT d.`+strings.ReplaceAll(deploymentCols, ", ", ", d.")+`
		FROM deployments d JOIN deployment_devices dd ON dd.deployment_id = d.id WHERE dd.device = ? ORDER BY d.id`, device)
}
