-- Pipelines: versioned definitions, executions and their step history.
-- River keeps its job tables itself (rivermigrate); these are ours.

-- +goose Up
CREATE TABLE pipeline_definitions (
    name        TEXT NOT NULL,
    version     INTEGER NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    body        TEXT NOT NULL,
    digest      TEXT NOT NULL,
    created_by  TEXT NOT NULL DEFAULT '',
    created_at  BIGINT NOT NULL,
    PRIMARY KEY (name, version)
);

CREATE TABLE pipeline_executions (
    id          TEXT PRIMARY KEY,
    pipeline    TEXT NOT NULL,
    version     INTEGER NOT NULL,
    params      TEXT NOT NULL,
    state       TEXT NOT NULL,
    status      TEXT NOT NULL,
    step        TEXT NOT NULL DEFAULT '',
    error       TEXT NOT NULL DEFAULT '',
    cause       TEXT NOT NULL DEFAULT '',
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL,
    finished_at BIGINT,
    FOREIGN KEY (pipeline, version) REFERENCES pipeline_definitions (name, version)
);
CREATE INDEX pipeline_executions_status ON pipeline_executions (status, id);

CREATE TABLE pipeline_steps (
    execution_id TEXT NOT NULL REFERENCES pipeline_executions (id),
    step         TEXT NOT NULL,
    seq          INTEGER NOT NULL,
    action       TEXT NOT NULL,
    status       TEXT NOT NULL,
    input        TEXT NOT NULL DEFAULT '',
    output       TEXT NOT NULL DEFAULT '',
    error        TEXT NOT NULL DEFAULT '',
    attempts     INTEGER NOT NULL DEFAULT 0,
    started_at   BIGINT NOT NULL,
    finished_at  BIGINT,
    PRIMARY KEY (execution_id, step)
);

CREATE TABLE model_targets (
    group_name TEXT NOT NULL REFERENCES model_groups (name),
    target     TEXT NOT NULL,
    pipeline   TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (group_name, target)
);

-- +goose Down
DROP TABLE model_targets;
DROP TABLE pipeline_steps;
DROP TABLE pipeline_executions;
DROP TABLE pipeline_definitions;
