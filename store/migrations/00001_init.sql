-- Portable SQL: runs unchanged on SQLite and PostgreSQL. Times are BIGINT
-- unix microseconds (UTC), JSON documents are TEXT, ids are text (ULIDs or
-- names), so neither engine's special types leak into the code.

-- +goose Up
CREATE TABLE model_groups (
    name        TEXT PRIMARY KEY,
    description TEXT NOT NULL DEFAULT '',
    created_at  BIGINT NOT NULL
);

CREATE TABLE artifacts (
    sha256     TEXT PRIMARY KEY,
    size       BIGINT NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE model_versions (
    group_name    TEXT NOT NULL REFERENCES model_groups (name),
    version       INTEGER NOT NULL,
    sha256        TEXT NOT NULL REFERENCES artifacts (sha256),
    size          BIGINT NOT NULL,
    format        TEXT NOT NULL,
    producer      TEXT NOT NULL DEFAULT '',
    inputs        TEXT NOT NULL,
    outputs       TEXT NOT NULL,
    class_names   TEXT NOT NULL,
    metadata      TEXT NOT NULL,
    metrics       TEXT NOT NULL,
    lineage       TEXT NOT NULL,
    description   TEXT NOT NULL DEFAULT '',
    status        TEXT NOT NULL,
    status_by     TEXT NOT NULL DEFAULT '',
    status_reason TEXT NOT NULL DEFAULT '',
    status_at     BIGINT,
    created_by    TEXT NOT NULL DEFAULT '',
    created_at    BIGINT NOT NULL,
    PRIMARY KEY (group_name, version)
);
CREATE INDEX model_versions_status ON model_versions (group_name, status, version);

CREATE TABLE components (
    name       TEXT NOT NULL,
    version    TEXT NOT NULL,
    digest     TEXT NOT NULL,
    recipe     TEXT NOT NULL,
    created_by TEXT NOT NULL DEFAULT '',
    created_at BIGINT NOT NULL,
    PRIMARY KEY (name, version)
);

CREATE TABLE component_artifacts (
    name    TEXT NOT NULL,
    version TEXT NOT NULL,
    sha256  TEXT NOT NULL REFERENCES artifacts (sha256),
    PRIMARY KEY (name, version, sha256),
    FOREIGN KEY (name, version) REFERENCES components (name, version)
);

CREATE TABLE devices (
    name         TEXT PRIMARY KEY,
    labels       TEXT NOT NULL DEFAULT '{}',
    generation   BIGINT NOT NULL DEFAULT 0,
    last_seen_at BIGINT,
    created_at   BIGINT NOT NULL
);

CREATE TABLE device_groups (
    name        TEXT PRIMARY KEY,
    description TEXT NOT NULL DEFAULT '',
    created_at  BIGINT NOT NULL
);

CREATE TABLE group_members (
    group_name TEXT NOT NULL REFERENCES device_groups (name) ON DELETE CASCADE,
    device     TEXT NOT NULL REFERENCES devices (name) ON DELETE CASCADE,
    PRIMARY KEY (group_name, device)
);

CREATE TABLE deployments (
    id             TEXT PRIMARY KEY,
    target_kind    TEXT NOT NULL,
    target_name    TEXT NOT NULL,
    components     TEXT NOT NULL,
    configuration  TEXT NOT NULL,
    rollout        TEXT NOT NULL,
    failure_policy TEXT NOT NULL,
    status         TEXT NOT NULL,
    message        TEXT NOT NULL DEFAULT '',
    created_by     TEXT NOT NULL DEFAULT '',
    created_at     BIGINT NOT NULL,
    updated_at     BIGINT NOT NULL
);
CREATE INDEX deployments_target ON deployments (target_kind, target_name, created_at);

CREATE TABLE deployment_devices (
    deployment_id TEXT NOT NULL REFERENCES deployments (id),
    device        TEXT NOT NULL REFERENCES devices (name),
    state         TEXT NOT NULL,
    message       TEXT NOT NULL DEFAULT '',
    updated_at    BIGINT NOT NULL,
    PRIMARY KEY (deployment_id, device)
);

CREATE TABLE events (
    id         TEXT PRIMARY KEY,
    type       TEXT NOT NULL,
    subject    TEXT NOT NULL,
    data       TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE api_tokens (
    id         TEXT PRIMARY KEY,
    name       TEXT NOT NULL,
    role       TEXT NOT NULL,
    hash       TEXT NOT NULL UNIQUE,
    created_at BIGINT NOT NULL
);

-- +goose Down
DROP TABLE api_tokens;
DROP TABLE events;
DROP TABLE deployment_devices;
DROP TABLE deployments;
DROP TABLE group_members;
DROP TABLE device_groups;
DROP TABLE devices;
DROP TABLE component_artifacts;
DROP TABLE components;
DROP TABLE model_versions;
DROP TABLE artifacts;
DROP TABLE model_groups;
