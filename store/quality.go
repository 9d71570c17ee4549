package store

import (
	"context"
	"strings"
	"time"

	"github.com/vise-edge/vise"
)

// QualityBucket sums one device's results of one model over one time
// bucket: what model-quality windows are added up from.
type QualityBucket struct {
	Device string
	Model  string // the model's sha256
	Start  time.Time
	// Frames are results of readable images; Defects those with a
	// detection; Scored those with a top confidence, SumTop its sum;
	// Uncertain those whose top confidence is in the window.
	Frames, Defects, Scored, Uncertain int64
	SumTop                             float64
}

// QualityFilter selects the results quality buckets sum; empty fields
// select all.
type QualityFilter struct {
	Device, Model string
	From, To      time.Time // From included, To not
	Bucket        time.Duration
	Uncertain     vise.ConfidenceWindow
}

// QualityBuckets sums results per device, model and bucket (received
// time, buckets aligned to the Unix epoch), in that order. It is one
// aggregate over the results_received or results_device_time index.
func (s *Store) QualityBuckets(ctx context.Context, f QualityFilter) ([]QualityBucket, error) {
	width := max(f.Bucket.Microseconds(), 1)
	return list(ctx, s, "quality buckets", func(r scanner) (b QualityBucket, err error) {
		var start int64
		err = r.Scan(&b.Device, &b.Model, &start, &b.Frames, &b.Defects, &b.Scored, &b.SumTop, &b.Uncertain)
		b.Start = fromMicros(start * width)
		return b, err
	}, `SELECT device, model_sha256, received_at / ? AS bucket, COUNT(*),
		SUM(CASE WHEN defects > 0 THEN 1 ELSE 0 END), COUNT(top_confidence), COALESCE(SUM(top_confidence), 0),
		SUM(CASE WHEN top_confidence >= ? AND top_confidence <= ? THEN 1 ELSE 0 END)
		FROM results WHERE received_at >= ? AND received_at < ? AND model_sha256 <> ''
		AND (? = '' OR device = ?) AND (? = '' OR model_sha256 = ?)
		GROUP BY device, model_sha256, bucket ORDER BY device, model_sha256, bucket`,
		width, f.Uncertain.Lo, f.Uncertain.Hi, micros(f.From), micros(f.To), f.Device, f.Device, f.Model, f.Model)
}

// RecordEvent records an event that is not part of another change (a
// monitor's finding).
func (s *Store) RecordEvent(ctx context.Context, typ, subject string, data any) error {
	return s.write(ctx, "record event "+typ, func(t *tx) error { return t.emit(typ, subject, data) })
}

// SubjectEvents returns the events of the given types about subject since
// a time, oldest first, at most limit.
func (s *Store) SubjectEvents(ctx context.Context, subject string, types []string, since time.Time, limit int) ([]vise.Event, error) {
	if len(types) == 0 {
		return nil, nil
	}
	args := []any{subject, micros(since)}
	for _, t := range types {
		args = append(args, t)
	}
	args = append(args, listLimit(limit, 1000))
	return list(ctx, s, "subject events", func(row scanner) (ev vise.Event, err error) {
		var data string
		var at int64
		err = row.Scan(&ev.ID, &ev.Type, &ev.Subject, &data, &at)
		ev.Data, ev.CreatedAt = []byte(data), fromMicros(at)
		return ev, err
	}, `SELECT id, type, subject, data, created_at FROM events WHERE subject = ? AND created_at >= ?
		AND type IN (?`+strings.Repeat(", ?", len(types)-1)+`) ORDER BY created_at, id LIMIT ?`, args...)
}
