-- Local users for the dashboard login. Only an Argon2id hash of each
-- password is kept, as a PHC string that carries its own parameters, so the
-- cost can be raised later without a migration.

-- +goose Up
CREATE TABLE users (
    name                TEXT PRIMARY KEY,
    password_hash       TEXT NOT NULL,
    role                TEXT NOT NULL CHECK (role IN ('viewer', 'admin')),
    created_by          TEXT NOT NULL DEFAULT '',
    created_at          BIGINT NOT NULL,
    password_changed_at BIGINT NOT NULL
);

-- +goose Down
DROP TABLE users;
