-- A third role for dashboard users: labellers look, like viewers, and
-- label images. SQLite cannot change a CHECK constraint in place, so the
-- table is rebuilt (the same way on both engines).

-- +goose Up
CREATE TABLE users_v2 (
    name                TEXT PRIMARY KEY,
    password_hash       TEXT NOT NULL,
    role                TEXT NOT NULL CHECK (role IN ('viewer', 'labeller', 'admin')),
    created_by          TEXT NOT NULL DEFAULT '',
    created_at          BIGINT NOT NULL,
    password_changed_at BIGINT NOT NULL
);
INSERT INTO users_v2 (name, password_hash, role, created_by, created_at, password_changed_at)
    SELECT name, password_hash, role, created_by, created_at, password_changed_at FROM users;
DROP TABLE users;
ALTER TABLE users_v2 RENAME TO users;

-- +goose Down
CREATE TABLE users_v1 (
    name                TEXT PRIMARY KEY,
    password_hash       TEXT NOT NULL,
    role                TEXT NOT NULL CHECK (role IN ('viewer', 'admin')),
    created_by          TEXT NOT NULL DEFAULT '',
    created_at          BIGINT NOT NULL,
    password_changed_at BIGINT NOT NULL
);
-- Labellers become viewers: they keep their login and lose nothing they had before.
INSERT INTO users_v1 (name, password_hash, role, created_by, created_at, password_changed_at)
    SELECT name, password_hash, CASE role WHEN 'labeller' THEN 'viewer' ELSE role END, created_by, created_at, password_changed_at FROM users;
DROP TABLE users;
ALTER TABLE users_v1 RENAME TO users;
