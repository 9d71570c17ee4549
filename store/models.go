package store

import (
	"context"
	"database/sql"
	"errors"

	"github.com/vise-edge/vise"
)

// PutArtifact records an uploaded blob. Recording the same blob twice is a
// no-op.
func (s *Store) PutArtifact(ctx context.Context, a vise.Artifact) error {
	return s.write(ctx, "record artifact", func(t *tx) error {
		_, err := t.exec(`INSERT INTO artifacts (sha256, size, created_at) VALUES (?, ?, ?) ON CONFLICT (sha256) DO NOTHING`,
			a.SHA256, a.Size, micros(s.clock()))
		return err
	})
}

// GetArtifact returns a recorded blob or a not_found error.
func (s *Store) GetArtifact(ctx context.Context, sha256 string) (vise.Artifact, error) {
	a := vise.Artifact{SHA256: sha256}
	err := s.queryRow(ctx, `SELECT size FROM artifacts WHERE sha256 = ?`, sha256).Scan(&a.Size)
	if errors.Is(err, sql.ErrNoRows) {
		return a, vise.Errorf(vise.CodeNotFound, "artifact %s not found; upload it first", sha256)
	}
	if err != nil {
		return a, s.classify("get artifact", err)
	}
	return a, nil
}

// CreateModelVersion stores mv as the next version of its group (creating
// the group on first use) and returns it with Version and CreatedAt set.
// The artifact must already be recorded.
func (s *Store) CreateModelVersion(ctx context.Context, mv vise.ModelVersion) (*vise.ModelVersion, error) {
	mv.CreatedAt = s.clock()
	err := s.write(ctx, "register model version", func(t *tx) error {
		if err := t.requireArtifact(mv.Artifact.SHA256); err != nil {
			return err
		}
		if _, err := t.exec(`INSERT INTO model_groups (name, created_at) VALUES (?, ?) ON CONFLICT (name) DO NOTHING`,
			mv.Group, micros(mv.CreatedAt)); err != nil {
			return err
		}
		// Touching the group row takes its lock on PostgreSQL, so two
		// registrations in one group cannot pick the same version number.
		if _, err := t.exec(`UPDATE model_groups SET description = description WHERE name = ?`, mv.Group); err != nil {
			return err
		}
		if err := t.queryRow(`SELECT COALESCE(MAX(version), 0) + 1 FROM model_versions WHERE group_name = ?`, mv.Group).Scan(&mv.Version); err != nil {
			return err
		}
		if err := t.insertModelVersion(&mv); err != nil {
			return err
		}
		if err := t.emit(vise.EventModelRegistered, modelSubject(&mv), &mv); err != nil {
			return err
		}
		if mv.Approval.Status == vise.Approved {
			return t.emit(vise.EventModelApproved, modelSubject(&mv), &mv)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &mv, nil
}

func modelSubject(mv *vise.ModelVersion) string { return mv.Group + "/" + itoa(mv.Version) }

func (t *tx) requireArtifact(sha string) error {
	var n int
	if err := t.queryRow(`SELECT COUNT(*) FROM artifacts WHERE sha256 = ?`, sha).Scan(&n); err != nil {
		return err
	}
	if n == 0 {
		return vise.Errorf(vise.CodeNotFound, "artifact %s not found; upload it first", sha)
	}
	return nil
}

func (t *tx) insertModelVersion(mv *vise.ModelVersion) error {
	var cols [6]string
	var err error
	for i, v := range []any{mv.Inputs, mv.Outputs, mv.ClassNames, mv.Metadata, mv.Metrics, mv.Lineage} {
		if cols[i], err = jsonText(v); err != nil {
			return err
		}
	}
	var statusAt sql.NullInt64
	if mv.Approval.At != nil {
		statusAt = sql.NullInt64{Int64: micros(*mv.Approval.At), Valid: true}
	}
	_, err = t.exec(`INSERT INTO model_versions (group_name, version, sha256, size, format, producer,
		inputs, outputs, class_names, metadata, metrics, lineage, description,
		status, status_by, status_reason, status_at, created_by, created_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		mv.Group, mv.Version, mv.Artifact.SHA256, mv.Artifact.Size, mv.Format, mv.Producer,
		cols[0], cols[1], cols[2], cols[3], cols[4], cols[5], mv.Description,
		string(mv.Approval.Status), mv.Approval.By, mv.Approval.Reason, statusAt, mv.CreatedBy, micros(mv.CreatedAt))
	return err
}

const modelVersionCols = `group_name, version, sha256, size, format, producer, inputs, outputs, class_names,
	metadata, metrics, lineage, description, status, status_by, status_reason, status_at, created_by, created_at`

type scanner interface{ Scan(dest ...any) error }

func scanModelVersion(row scanner) (*vise.ModelVersion, error) {
	var mv vise.ModelVersion
	var inputs, outputs, classes, meta, metrics, lineage, status string
	var statusAt sql.NullInt64
	var created int64
	if err := row.Scan(&mv.Group, &mv.Version, &mv.Artifact.SHA256, &mv.Artifact.Size, &mv.Format, &mv.Producer,
		&inputs, &outputs, &classes, &meta, &metrics, &lineage, &mv.Description,
		&status, &mv.Approval.By, &mv.Approval.Reason, &statusAt, &mv.CreatedBy, &created); err != nil {
		return nil, err
	}
	mv.Approval.Status = vise.ApprovalStatus(status)
	mv.Approval.At = fromNullMicros(statusAt)
	mv.CreatedAt = fromMicros(created)
	if err := scanJSON(inputs, &mv.Inputs, outputs, &mv.Outputs, classes, &mv.ClassNames, meta, &mv.Metadata, metrics, &mv.Metrics, lineage, &mv.Lineage); err != nil {
		return nil, err
	}
	return &mv, nil
}

// GetModelVersion returns one version or a not_found error.
func (s *Store) GetModelVersion(ctx context.Context, group string, version int) (*vise.ModelVersion, error) {
	mv, err := scanModelVersion(s.queryRow(ctx, `SELECT `+modelVersionCols+` FROM model_versions WHERE group_name = ? AND version = ?`, group, version))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, s.modelNotFound(ctx, group, version)
	}
	if err != nil {
		return nil, s.classify("get model version", err)
	}
	return mv, nil
}

func (s *Store) modelNotFound(ctx context.Context, group string, version int) error {
	if _, err := s.GetModelGroup(ctx, group); err != nil {
		return err
	}
	return vise.Errorf(vise.CodeNotFound, "model %s has no version %d; see 'vise model show %s'", group, version, group)
}

// LatestModelVersion returns the newest version with the given status (any
// status if empty), or a not_found error.
func (s *Store) LatestModelVersion(ctx context.Context, group string, status vise.ApprovalStatus) (*vise.ModelVersion, error) {
	q := `SELECT ` + modelVersionCols + ` FROM model_versions WHERE group_name = ? AND (? = '' OR status = ?) ORDER BY version DESC LIMIT 1`
	mv, err := scanModelVersion(s.queryRow(ctx, q, group, string(status), string(status)))
	if errors.Is(err, sql.ErrNoRows) {
		if _, err := s.GetModelGroup(ctx, group); err != nil {
			return nil, err
		}
		return nil, vise.Errorf(vise.CodeNotFound, "model %s has no %s version", group, status)
	}
	if err != nil {
		return nil, s.classify("get latest model version", err)
	}
	return mv, nil
}

// ListModelVersions returns a group's versions, newest first.
func (s *Store) ListModelVersions(ctx context.Context, group string) ([]*vise.ModelVersion, error) {
	if _, err := s.GetModelGroup(ctx, group); err != nil {
		return nil, err
	}
	return list(ctx, s, "list model versions", scanModelVersion, `SELECT `+modelVersionCols+` FROM model_versions WHERE group_name = ? ORDER BY version DESC`, group)
}

const groupSummary = `SELECT g.name, g.description, g.created_at,
	(SELECT COUNT(*) FROM model_versions v WHERE v.group_name = g.name),
	(SELECT COALESCE(MAX(version), 0) FROM model_versions v WHERE v.group_name = g.name),
	(SELECT COALESCE(MAX(version), 0) FROM model_versions v WHERE v.group_name = g.name AND v.status = 'Approved')
	FROM model_groups g`

func scanGroup(row scanner) (*vise.ModelGroup, error) {
	var g vise.ModelGroup
	var created int64
	if err := row.Scan(&g.Name, &g.Description, &created, &g.VersionCount, &g.LatestVersion, &g.LatestApproved); err != nil {
		return nil, err
	}
	g.CreatedAt = fromMicros(created)
	return &g, nil
}

// GetModelGroup returns a group summary or a not_found error.
func (s *Store) GetModelGroup(ctx context.Context, name string) (*vise.ModelGroup, error) {
	g, err := scanGroup(s.queryRow(ctx, groupSummary+` WHERE g.name = ?`, name))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, vise.Errorf(vise.CodeNotFound, "model %s not found; 'vise model list' shows the registered models", name)
	}
	if err != nil {
		return nil, s.classify("get model", err)
	}
	return g, nil
}

// ListModelGroups returns all groups by name.
func (s *Store) ListModelGroups(ctx context.Context) ([]*vise.ModelGroup, error) {
	return list(ctx, s, "list models", scanGroup, groupSummary+` ORDER BY g.name`)
}

// DecideModelVersion sets a version's approval status, recording who, when
// and why, and emits model.approved or model.rejected. Deciding the status a
// version already has changes nothing and emits nothing.
func (s *Store) DecideModelVersion(ctx context.Context, group string, version int, status vise.ApprovalStatus, by, reason string) (*vise.ModelVersion, error) {
	var out *vise.ModelVersion
	err := s.write(ctx, "decide model version", func(t *tx) error {
		mv, err := scanModelVersion(t.queryRow(`SELECT `+modelVersionCols+` FROM model_versions WHERE group_name = ? AND version = ?`, group, version))
		if errors.Is(err, sql.ErrNoRows) {
			return s.modelNotFound(ctx, group, version)
		}
		if err != nil {
			return err
		}
		out = mv
		if mv.Approval.Status == status {
			return nil
		}
		if mv.Approval.Status == vise.Rejected {
			return vise.Errorf(vise.CodeConflict, "%s version %d was rejected (%s) and cannot be approved; register the model again as a new version",
				group, version, mv.Approval.Reason)
		}
		now := s.clock()
		mv.Approval = vise.Approval{Status: status, By: by, At: &now, Reason: reason}
		if _, err := t.exec(`UPDATE model_versions SET status = ?, status_by = ?, status_reason = ?, status_at = ? WHERE group_name = ? AND version = ?`,
			string(status), by, reason, micros(now), group, version); err != nil {
			return err
		}
		typ := vise.EventModelApproved
		if status == vise.Rejected {
			typ = vise.EventModelRejected
		} else if status != vise.Approved {
			return vise.Errorf(vise.CodeInvalid, "cannot set status %s; approve or reject", status)
		}
		return t.emit(typ, modelSubject(mv), mv)
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// ListArtifacts returns every recorded artifact.
func (s *Store) ListArtifacts(ctx context.Context) ([]vise.Artifact, error) {
	return list(ctx, s, "list artifacts", func(row scanner) (a vise.Artifact, err error) {
		return a, row.Scan(&a.SHA256, &a.Size)
	}, `SELECT sha256, size FROM artifacts ORDER BY sha256`)
}
