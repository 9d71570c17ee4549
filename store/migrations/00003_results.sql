-- Inference results streamed back from devices, stored exactly once by the
-- message id the device gives each result.

-- +goose Up
CREATE TABLE results (
    msg_id      TEXT PRIMARY KEY,
    device      TEXT NOT NULL,
    component   TEXT NOT NULL,
    defects     INTEGER NOT NULL DEFAULT 0,
    payload     TEXT NOT NULL,
    received_at BIGINT NOT NULL
);
CREATE INDEX results_device_time ON results (device, received_at);

-- +goose Down
DROP TABLE results;
