-- One schema for SQLite and PostgreSQL: TEXT identifiers, RFC 3339 UTC timestamps as TEXT
-- (they sort correctly as text), BIGINT 0/1 flags, JSON documents as TEXT.

CREATE TABLE accounts (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    created_at TEXT NOT NULL
);

CREATE TABLE tenants (
    id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES accounts (id),
    name TEXT NOT NULL,
    created_at TEXT NOT NULL
);

CREATE TABLE datasets (
    tenant_id TEXT NOT NULL REFERENCES tenants (id),
    dataset_id TEXT NOT NULL,
    name TEXT NOT NULL,
    source TEXT NOT NULL,
    pipeline TEXT NOT NULL,
    testing BIGINT NOT NULL,
    active BIGINT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (tenant_id, dataset_id)
);

CREATE TABLE api_keys (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    key_sha256 TEXT NOT NULL UNIQUE,
    tenant_id TEXT NOT NULL REFERENCES tenants (id),
    dataset_id TEXT,
    created_at TEXT NOT NULL,
    revoked_at TEXT,
    last_used_at TEXT
);

CREATE TABLE services (
    instance_id TEXT PRIMARY KEY,
    role TEXT NOT NULL,
    host TEXT NOT NULL,
    version TEXT NOT NULL,
    started_at TEXT NOT NULL,
    last_seen TEXT NOT NULL,
    healthy BIGINT NOT NULL,
    detail TEXT NOT NULL
);
