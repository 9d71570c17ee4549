-- Model-quality monitoring and image provenance.
--
-- results gain the two facts quality windows aggregate, indexed at ingest
-- so a window is one SQL aggregate instead of a parse of every payload:
-- the model's sha256 (empty for a result whose image could not be read)
-- and the top detection confidence (NULL without a detection that has
-- one). Windows group by received_at (results_received,
-- results_device_time). label_images gain the provenance the queue shows: the inference
-- component's version and the part id.

-- +goose Up
ALTER TABLE results ADD COLUMN model_sha256 TEXT NOT NULL DEFAULT '';
ALTER TABLE results ADD COLUMN top_confidence DOUBLE PRECISION;
ALTER TABLE label_images ADD COLUMN component_version TEXT NOT NULL DEFAULT '';
ALTER TABLE label_images ADD COLUMN part_id TEXT NOT NULL DEFAULT '';
-- Drift events are read back per device for the dashboard's markers.
CREATE INDEX events_subject ON events (subject, created_at);

-- +goose Down
DROP INDEX events_subject;
ALTER TABLE label_images DROP COLUMN part_id;
ALTER TABLE label_images DROP COLUMN component_version;
ALTER TABLE results DROP COLUMN top_confidence;
ALTER TABLE results DROP COLUMN model_sha256;
