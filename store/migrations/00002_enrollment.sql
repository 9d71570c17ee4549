-- Device identity: enrollment tokens (only their sha256 is kept), the serial
-- of each device's current certificate, revocation, and the last status the
-- device reported.

-- +goose Up
ALTER TABLE devices ADD COLUMN cert_serial TEXT NOT NULL DEFAULT '';
ALTER TABLE devices ADD COLUMN enrolled_at BIGINT;
ALTER TABLE devices ADD COLUMN revoked_at BIGINT;
ALTER TABLE devices ADD COLUMN status TEXT NOT NULL DEFAULT '{}';

CREATE TABLE enrollment_tokens (
    hash       TEXT PRIMARY KEY,
    group_name TEXT NOT NULL DEFAULT '',
    expires_at BIGINT NOT NULL,
    used_at    BIGINT,
    used_by    TEXT NOT NULL DEFAULT '',
    created_by TEXT NOT NULL DEFAULT '',
    created_at BIGINT NOT NULL
);

-- +goose Down
DROP TABLE enrollment_tokens;
ALTER TABLE devices DROP COLUMN status;
ALTER TABLE devices DROP COLUMN revoked_at;
ALTER TABLE devices DROP COLUMN enrolled_at;
ALTER TABLE devices DROP COLUMN cert_serial;
