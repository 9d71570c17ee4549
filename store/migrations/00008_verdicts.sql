-- Pass/reject verdicts from devices (vise/devices/<d>/verdicts/<c>), stored
-- exactly once per device message id, findable by the result they were
-- decided from.

-- +goose Up
CREATE TABLE verdicts (
    msg_id      TEXT NOT NULL,
    device      TEXT NOT NULL,
    component   TEXT NOT NULL,
    result_id   TEXT NOT NULL DEFAULT '',
    part_id     TEXT NOT NULL DEFAULT '',
    reject      INTEGER NOT NULL DEFAULT 0,
    payload     TEXT NOT NULL,
    received_at BIGINT NOT NULL,
    PRIMARY KEY (device, msg_id)
);
CREATE INDEX verdicts_device_result ON verdicts (device, result_id);
CREATE INDEX verdicts_device_time ON verdicts (device, received_at);

-- +goose Down
DROP TABLE verdicts;
