-- Every device certificate ever revoked, kept after the device enrolls
-- again (which replaces devices.cert_serial): the certificate revocation
-- list an external MQTT broker checks is made from this table.

-- +goose Up
CREATE TABLE revoked_certificates (
    serial     TEXT PRIMARY KEY,
    device     TEXT NOT NULL,
    revoked_at BIGINT NOT NULL
);

INSERT INTO revoked_certificates (serial, device, revoked_at)
    SELECT cert_serial, name, revoked_at FROM devices
    WHERE revoked_at IS NOT NULL AND cert_serial <> '';

-- +goose Down
DROP TABLE revoked_certificates;
