package store

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/vise-edge/vise"
)

// The labelling queue's SQL. Rows come from results (see labels.Service),
// and an image is in the queue while its result is: retention takes both.

const labelCols = `i.device, i.msg_id, i.component, i.model_name, i.model_version, i.model_sha256, i.image_sha256, i.image_name,
	i.width, i.height, i.top_confidence, i.prelabels, i.captured_at, i.received_at, i.state, i.boxes, i.version, i.labelled_by, i.labelled_at,
	i.component_version, i.part_id`

// reasonExpr works the reason out of the stored facts; its two parameters
// are the uncertainty window's bounds.
const reasonExpr = `CASE WHEN i.device_reason = 'uncertain' OR (i.top_confidence >= ? AND i.top_confidence <= ?) THEN 'uncertain'
	WHEN i.detections > 0 THEN 'defect' ELSE 'sample' END`

const resultExists = `EXISTS (SELECT 1 FROM results r WHERE r.device = i.device AND r.msg_id = i.msg_id)`

// LabelSource is what the labels service records of a result with an
// image: the queue entry plus the facts its reason is worked out from.
type LabelSource struct {
	Image        vise.LabelImage
	DeviceReason string // the result's own "reason", if any
	Detections   int
}

// LatestResultTime is when the newest stored result was received (zero if
// there is none).
func (s *Store) LatestResultTime(ctx context.Context) (time.Time, error) {
	return s.maxTime(ctx, "latest result", `SELECT MAX(received_at) FROM results`)
}

// LatestLabelImageTime is when the result of the newest image in the
// labelling queue was received (zero if there is none).
func (s *Store) LatestLabelImageTime(ctx context.Context) (time.Time, error) {
	return s.maxTime(ctx, "latest labelling image", `SELECT MAX(received_at) FROM label_images`)
}

func (s *Store) maxTime(ctx context.Context, op, q string) (time.Time, error) {
	var at sql.NullInt64
	if err := s.queryRow(ctx, q).Scan(&at); err != nil {
		return time.Time{}, s.classify(op, err)
	}
	if !at.Valid {
		return time.Time{}, nil
	}
	return fromMicros(at.Int64), nil
}

// ResultsWithImages returns results received from `from` to `to` (both
// included) whose payload names a stored image and that are not in the
// labelling queue yet, oldest first, at most limit. The text match is a
// cheap first cut; callers parse the payload.
func (s *Store) ResultsWithImages(ctx context.Context, from, to time.Time, limit int) ([]vise.Result, error) {
	return list(ctx, s, "results with images", scanResult, `SELECT r.msg_id, r.device, r.component, r.defects, r.payload, r.received_at FROM results r
		WHERE r.received_at >= ? AND r.received_at <= ?
		AND NOT EXISTS (SELECT 1 FROM label_images i WHERE i.device = r.device AND i.msg_id = r.msg_id)
		AND r.payload LIKE '%"stored":"%'
		ORDER BY r.received_at, r.device, r.msg_id LIMIT ?`,
		micros(from), micros(to), limit)
}

// AddLabelImages puts images into the labelling queue; ones already there
// are left as they are. It returns how many were new.
func (s *Store) AddLabelImages(ctx context.Context, srcs []LabelSource) (added int, err error) {
	err = s.write(ctx, "add labelling images", func(t *tx) error {
		for _, src := range srcs {
			im := src.Image
			pre, err := jsonText(boxesOrEmpty(im.Prelabels))
			if err != nil {
				return err
			}
			var captured any
			if im.CapturedAt != nil {
				captured = micros(*im.CapturedAt)
			}
			res, err := t.exec(`INSERT INTO label_images (device, msg_id, component, model_name, model_version, model_sha256, image_sha256, image_name,
				width, height, device_reason, detections, top_confidence, prelabels, captured_at, received_at, component_version, part_id)
				VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (device, msg_id) DO NOTHING`,
				im.Device, im.MsgID, im.Component, im.Model.Name, im.Model.Version, im.Model.SHA256, im.ImageSHA256, im.ImageName,
				im.Width, im.Height, src.DeviceReason, src.Detections, im.TopConfidence, pre, captured, micros(im.ReceivedAt),
				im.ComponentVersion, im.PartID)
			if err != nil {
				return err
			}
			n, _ := res.RowsAffected()
			added += int(n)
		}
		return nil
	})
	return added, err
}

// ListLabelImages returns the queue's images that match f and are still
// held (not pruned by retention): uncertain ones first, then defects, then
// samples, each newest first. The order is worked out on the narrow key
// columns first; only the page's rows are read in full.
func (s *Store) ListLabelImages(ctx context.Context, f vise.LabelFilter, w vise.ConfidenceWindow) ([]vise.LabelImage, error) {
	name, version := splitModel(f.Model)
	return list(ctx, s, "list labelling images", func(r scanner) (vise.LabelImage, error) { return scanLabelImage(r) }, `SELECT `+labelCols+`, k.reason
		FROM (SELECT device, msg_id, reason, received_at FROM (SELECT i.device, i.msg_id, i.received_at, `+reasonExpr+` AS reason
			FROM label_images i WHERE (? = '' OR i.device = ?) AND (? = '' OR i.model_name = ?)
			AND (? = '' OR i.model_version = ?) AND (? = '' OR i.state = ?) AND `+resultExists+`) q
			WHERE (? = '' OR q.reason = ?)
			ORDER BY CASE q.reason WHEN 'uncertain' THEN 0 WHEN 'defect' THEN 1 ELSE 2 END, q.received_at DESC, q.device, q.msg_id LIMIT ?) k
		JOIN label_images i ON i.device = k.device AND i.msg_id = k.msg_id
		ORDER BY CASE k.reason WHEN 'uncertain' THEN 0 WHEN 'defect' THEN 1 ELSE 2 END, k.received_at DESC, k.device, k.msg_id`,
		w.Lo, w.Hi, f.Device, f.Device, name, name, version, version, string(f.State), string(f.State), string(f.Reason), string(f.Reason),
		listLimit(f.Limit, vise.DefaultListLimit))
}

// GetLabelImage returns one image of the queue. An image whose result
// retention deleted is not found, with a message that says so.
func (s *Store) GetLabelImage(ctx context.Context, device, msgID string, w vise.ConfidenceWindow) (*vise.LabelImage, error) {
	var held bool // the result is still there
	scan := func(r scanner) (vise.LabelImage, error) { return scanLabelImage(r, &held) }
	ims, err := list(ctx, s, "get labelling image", scan, `SELECT `+labelCols+`, `+reasonExpr+` AS reason, `+resultExists+`
		FROM label_images i WHERE i.device = ? AND i.msg_id = ?`, w.Lo, w.Hi, device, msgID)
	if err != nil {
		return nil, err
	}
	if len(ims) == 0 {
		return nil, vise.Errorf(vise.CodeNotFound, "no image %s of device %s in the labelling queue (results without a stored image are not labelled)", msgID, device)
	}
	if !held {
		return nil, pruned(device, msgID)
	}
	return &ims[0], nil
}

func pruned(device, msgID string) error {
	return vise.Errorf(vise.CodeNotFound, "image %s of device %s was deleted by retention (results older than the server's --results-retention are pruned); nothing to label", msgID, device)
}

// SaveLabel stores a person's label if the image is still at the version
// they started from; otherwise it is a conflict naming who saved since.
func (s *Store) SaveLabel(ctx context.Context, device, msgID string, req vise.SaveLabelRequest, by string) error {
	boxes, err := jsonText(boxesOrEmpty(req.Boxes))
	if err != nil {
		return err
	}
	return s.write(ctx, "save label", func(t *tx) error {
		var one int
		err := t.queryRow(`SELECT 1 FROM label_images WHERE device = ? AND msg_id = ?`, device, msgID).Scan(&one)
		if errors.Is(err, sql.ErrNoRows) {
			return vise.Errorf(vise.CodeNotFound, "no image %s of device %s in the labelling queue", msgID, device)
		}
		if err != nil {
			return err
		}
		if err := t.queryRow(`SELECT 1 FROM results WHERE device = ? AND msg_id = ?`, device, msgID).Scan(&one); errors.Is(err, sql.ErrNoRows) {
			return pruned(device, msgID)
		} else if err != nil {
			return err
		}
		// The version check is in the UPDATE itself: on PostgreSQL a
		// concurrent save waits for the row and then matches nothing.
		res, err := t.exec(`UPDATE label_images SET state = ?, boxes = ?, version = version + 1, labelled_by = ?, labelled_at = ?
			WHERE device = ? AND msg_id = ? AND version = ?`, string(req.State), boxes, by, micros(s.clock()), device, msgID, req.Version)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 1 {
			return nil
		}
		return t.labelConflict(device, msgID, req.Version)
	})
}

func (t *tx) labelConflict(device, msgID string, from int) error {
	var version int
	var who string
	var at sql.NullInt64
	if err := t.queryRow(`SELECT version, labelled_by, labelled_at FROM label_images WHERE device = ? AND msg_id = ?`, device, msgID).Scan(&version, &who, &at); err != nil {
		return err
	}
	when := ""
	if at.Valid {
		when = " at " + fromMicros(at.Int64).Format(time.RFC3339)
	}
	return vise.Errorf(vise.CodeConflict, "image %s of device %s was saved by %s%s (version %d) after you opened it (version %d); reload it to see that label, then save again",
		msgID, device, who, when, version, from)
}

// ModelVersionBySHA256 returns the earliest model version registered with
// this artifact: a result names its model by the file's sha256.
func (s *Store) ModelVersionBySHA256(ctx context.Context, sha string) (*vise.ModelVersion, error) {
	mvs, err := list(ctx, s, "model version by sha256", scanModelVersion, `SELECT `+modelVersionCols+` FROM model_versions WHERE sha256 = ?
		ORDER BY created_at, group_name LIMIT 1`, sha)
	if err != nil {
		return nil, err
	}
	if len(mvs) == 0 {
		return nil, vise.Errorf(vise.CodeNotFound, "no model version with artifact %s is registered", sha)
	}
	return mvs[0], nil
}

// scanLabelImage reads labelCols and the reason, then any extra columns.
func scanLabelImage(row scanner, extra ...any) (vise.LabelImage, error) {
	var im vise.LabelImage
	var top sql.NullFloat64
	var pre, boxes, state, reason string
	var captured, labelled sql.NullInt64
	var received int64
	dest := []any{&im.Device, &im.MsgID, &im.Component, &im.Model.Name, &im.Model.Version, &im.Model.SHA256, &im.ImageSHA256, &im.ImageName,
		&im.Width, &im.Height, &top, &pre, &captured, &received, &state, &boxes, &im.Version, &im.LabelledBy, &labelled,
		&im.ComponentVersion, &im.PartID, &reason}
	if err := row.Scan(append(dest, extra...)...); err != nil {
		return im, err
	}
	if top.Valid {
		im.TopConfidence = &top.Float64
	}
	im.CapturedAt, im.LabelledAt = fromNullMicros(captured), fromNullMicros(labelled)
	im.ReceivedAt, im.State, im.Reason = fromMicros(received), vise.LabelState(state), vise.LabelReason(reason)
	return im, scanJSON(pre, &im.Prelabels, boxes, &im.Boxes)
}

func boxesOrEmpty(b []vise.LabelBox) []vise.LabelBox {
	if b == nil {
		return []vise.LabelBox{}
	}
	return b
}

// splitModel reads "NAME" or "NAME@VERSION".
func splitModel(m string) (name, version string) {
	for i := len(m) - 1; i >= 0; i-- {
		if m[i] == '@' {
			return m[:i], m[i+1:]
		}
	}
	return m, ""
}
