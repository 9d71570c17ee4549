-- The labelling queue and the dataset versions made from it.
--
-- The labelling queue: every image a device sent back (a result whose
-- image is in the blob store), with the model's boxes as pre-labels and a
-- person's label. Rows are taken from results by the labels service; the
-- reason (uncertain/defect/sample) is worked out when listing, so the
-- server's uncertainty window applies to old images too. version counts
-- saves, for optimistic concurrency.

-- +goose Up
CREATE TABLE label_images (
    device         TEXT NOT NULL,
    msg_id         TEXT NOT NULL,
    component      TEXT NOT NULL,
    model_name     TEXT NOT NULL DEFAULT '',
    model_version  TEXT NOT NULL DEFAULT '',
    model_sha256   TEXT NOT NULL DEFAULT '',
    image_sha256   TEXT NOT NULL,
    image_name     TEXT NOT NULL DEFAULT '',
    width          INTEGER NOT NULL,
    height         INTEGER NOT NULL,
    device_reason  TEXT NOT NULL DEFAULT '',
    detections     INTEGER NOT NULL DEFAULT 0,
    top_confidence DOUBLE PRECISION,
    prelabels      TEXT NOT NULL,
    captured_at    BIGINT,
    received_at    BIGINT NOT NULL,
    state          TEXT NOT NULL DEFAULT 'new',
    boxes          TEXT NOT NULL DEFAULT '[]',
    version        INTEGER NOT NULL DEFAULT 0,
    labelled_by    TEXT NOT NULL DEFAULT '',
    labelled_at    BIGINT,
    PRIMARY KEY (device, msg_id)
);
CREATE INDEX label_images_received ON label_images (received_at);
-- The labels service reads new results by time across devices.
CREATE INDEX results_received ON results (received_at);

-- Immutable dataset versions. digest is the sha256 of the manifest (in the
-- blob store), which names every image by its sha256.
CREATE TABLE dataset_versions (
    name       TEXT NOT NULL,
    version    INTEGER NOT NULL,
    digest     TEXT NOT NULL,
    base       TEXT NOT NULL DEFAULT '',
    images     INTEGER NOT NULL,
    boxes      INTEGER NOT NULL,
    train      INTEGER NOT NULL,
    val        INTEGER NOT NULL,
    bytes      BIGINT NOT NULL,
    classes    TEXT NOT NULL,
    source     TEXT NOT NULL DEFAULT '',
    created_by TEXT NOT NULL DEFAULT '',
    created_at BIGINT NOT NULL,
    PRIMARY KEY (name, version),
    UNIQUE (name, digest)
);

-- +goose Down
DROP TABLE dataset_versions;
DROP INDEX results_received;
DROP TABLE label_images;
