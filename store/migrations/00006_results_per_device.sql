-- A result's message id is unique per device, not across the fleet: one
-- device's ids can never shadow another's.

-- +goose Up
CREATE TABLE results_v2 (
    msg_id      TEXT NOT NULL,
    device      TEXT NOT NULL,
    component   TEXT NOT NULL,
    defects     INTEGER NOT NULL DEFAULT 0,
    payload     TEXT NOT NULL,
    received_at BIGINT NOT NULL,
    PRIMARY KEY (device, msg_id)
);
INSERT INTO results_v2 (msg_id, device, component, defects, payload, received_at)
    SELECT msg_id, device, component, defects, payload, received_at FROM results;
DROP TABLE results;
ALTER TABLE results_v2 RENAME TO results;
CREATE INDEX results_device_time ON results (device, received_at);

-- +goose Down
CREATE TABLE results_v1 (
    msg_id      TEXT PRIMARY KEY,
    device      TEXT NOT NULL,
    component   TEXT NOT NULL,
    defects     INTEGER NOT NULL DEFAULT 0,
    payload     TEXT NOT NULL,
    received_at BIGINT NOT NULL
);
INSERT INTO results_v1 (msg_id, device, component, defects, payload, received_at)
    SELECT msg_id, device, component, defects, payload, received_at FROM results;
DROP TABLE results;
ALTER TABLE results_v1 RENAME TO results;
CREATE INDEX results_device_time ON results (device, received_at);
