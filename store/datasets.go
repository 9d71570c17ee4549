package store

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/vise-edge/vise"
)

const datasetCols = `name, version, digest, base, images, boxes, train, val, bytes, classes, source, created_by, created_at`

// CreateDatasetVersion stores dv as the next version of its dataset,
// unless a version of it already has the same digest: then that one is
// returned and created is false. Images are recorded as artifacts, so
// they download like any other blob.
func (s *Store) CreateDatasetVersion(ctx context.Context, dv vise.DatasetVersion, images []vise.Artifact) (out *vise.DatasetVersion, created bool, err error) {
	err = s.write(ctx, "create dataset version", func(t *tx) error {
		same, err := scanDatasetVersion(t.queryRow(`SELECT `+datasetCols+` FROM dataset_versions WHERE name = ? AND digest = ?`, dv.Name, dv.Digest))
		if err == nil {
			out = same
			return nil
		}
		if !isNoRows(err) {
			return err
		}
		for _, a := range images {
			if _, err := t.exec(`INSERT INTO artifacts (sha256, size, created_at) VALUES (?, ?, ?) ON CONFLICT (sha256) DO NOTHING`, a.SHA256, a.Size, micros(s.clock())); err != nil {
				return err
			}
		}
		if err := t.queryRow(`SELECT COALESCE(MAX(version), 0) + 1 FROM dataset_versions WHERE name = ?`, dv.Name).Scan(&dv.Version); err != nil {
			return err
		}
		classes, err := jsonText(dv.Classes)
		if err != nil {
			return err
		}
		dv.CreatedAt = s.clock()
		if _, err := t.exec(`INSERT INTO dataset_versions (`+datasetCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			dv.Name, dv.Version, dv.Digest, dv.Base, dv.Images, dv.Boxes, dv.Train, dv.Val, dv.Bytes, classes, dv.Source, dv.CreatedBy, micros(dv.CreatedAt)); err != nil {
			return err
		}
		out, created = &dv, true
		return t.emit(vise.EventDatasetCreated, dv.Ref(), map[string]any{"digest": dv.Digest, "images": dv.Images, "by": dv.CreatedBy})
	})
	return out, created, err
}

// ListDatasetVersions returns every version, or one dataset's, newest
// first.
func (s *Store) ListDatasetVersions(ctx context.Context, name string) ([]*vise.DatasetVersion, error) {
	return list(ctx, s, "list dataset versions", scanDatasetVersion, `SELECT `+datasetCols+` FROM dataset_versions
		WHERE (? = '' OR name = ?) ORDER BY name, version DESC`, name, name)
}

// GetDatasetVersion returns one version; version 0 is the newest.
func (s *Store) GetDatasetVersion(ctx context.Context, name string, version int) (*vise.DatasetVersion, error) {
	dvs, err := list(ctx, s, "get dataset version", scanDatasetVersion, `SELECT `+datasetCols+` FROM dataset_versions
		WHERE name = ? AND (? = 0 OR version = ?) ORDER BY version DESC LIMIT 1`, name, version, version)
	if err != nil {
		return nil, err
	}
	if len(dvs) == 0 {
		if version == 0 {
			return nil, vise.Errorf(vise.CodeNotFound, "no dataset %s: 'vise dataset list' shows them; make one with 'vise dataset import' or 'vise dataset create'", name)
		}
		return nil, vise.Errorf(vise.CodeNotFound, "no dataset version %s@%d", name, version)
	}
	return dvs[0], nil
}

func scanDatasetVersion(row scanner) (*vise.DatasetVersion, error) {
	var dv vise.DatasetVersion
	var classes string
	var created int64
	if err := row.Scan(&dv.Name, &dv.Version, &dv.Digest, &dv.Base, &dv.Images, &dv.Boxes, &dv.Train, &dv.Val, &dv.Bytes, &classes,
		&dv.Source, &dv.CreatedBy, &created); err != nil {
		return nil, err
	}
	dv.CreatedAt = fromMicros(created)
	return &dv, scanJSON(classes, &dv.Classes)
}

// LabelledImages returns the labelling queue's labelled images (with or
// without boxes) received since since that match device and model (""
// for any), oldest first. Images whose result retention deleted are
// included: a person's label outlives the result.
func (s *Store) LabelledImages(ctx context.Context, since time.Time, device, model string) ([]vise.LabelImage, error) {
	name, version := splitModel(model)
	return list(ctx, s, "labelled images", func(r scanner) (vise.LabelImage, error) { return scanLabelImage(r) }, `SELECT `+labelCols+`, '' AS reason
		FROM label_images i WHERE i.state = 'labelled' AND i.received_at >= ? AND (? = '' OR i.device = ?)
		AND (? = '' OR i.model_name = ?) AND (? = '' OR i.model_version = ?) ORDER BY i.received_at, i.device, i.msg_id`,
		micros(since), device, device, name, name, version, version)
}

func isNoRows(err error) bool { return errors.Is(err, sql.ErrNoRows) }
