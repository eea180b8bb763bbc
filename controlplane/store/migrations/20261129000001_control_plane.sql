-- Users and sessions, account- or tenant-scoped API keys, dataset assignment, the audit log,
-- service reports, per-minute statistics and persisted activity. Same portable rules as the
-- first migration.

CREATE TABLE users (
    id TEXT PRIMARY KEY,
    -- NULL only for role 'admin', which sees every account.
    account_id TEXT REFERENCES accounts (id),
    email TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    role TEXT NOT NULL,
    created_at TEXT NOT NULL
);

CREATE TABLE sessions (
    token_sha256 TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users (id),
    csrf_token TEXT NOT NULL,
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL
);

-- Keys gain an account scope: tenant_id becomes optional, so the table is rebuilt.
CREATE TABLE api_keys_scoped (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    key_sha256 TEXT NOT NULL UNIQUE,
    account_id TEXT NOT NULL REFERENCES accounts (id),
    tenant_id TEXT REFERENCES tenants (id),
    dataset_id TEXT,
    created_at TEXT NOT NULL,
    revoked_at TEXT,
    last_used_at TEXT
);

INSERT INTO api_keys_scoped (id, name, key_sha256, account_id, tenant_id, dataset_id, created_at, revoked_at, last_used_at)
SELECT k.id, k.name, k.key_sha256, t.account_id, k.tenant_id, k.dataset_id, k.created_at, k.revoked_at, k.last_used_at
FROM api_keys k JOIN tenants t ON t.id = k.tenant_id;

DROP TABLE api_keys;
ALTER TABLE api_keys_scoped RENAME TO api_keys;

ALTER TABLE datasets ADD COLUMN assigned_proxy TEXT;

ALTER TABLE services ADD COLUMN account_id TEXT;
ALTER TABLE services ADD COLUMN registered_at TEXT;
ALTER TABLE services ADD COLUMN ready BIGINT NOT NULL DEFAULT 0;
-- The last report as JSON: system metrics, counters, open partitions.
ALTER TABLE services ADD COLUMN report TEXT NOT NULL DEFAULT '{}';

CREATE TABLE audit_entries (
    id TEXT PRIMARY KEY,
    at TEXT NOT NULL,
    account_id TEXT,
    tenant_id TEXT,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    target TEXT NOT NULL,
    diff TEXT NOT NULL
);
CREATE INDEX audit_entries_account ON audit_entries (account_id, id);

CREATE TABLE dataset_stats (
    tenant_id TEXT NOT NULL,
    dataset_id TEXT NOT NULL,
    minute TEXT NOT NULL,
    metric TEXT NOT NULL,
    value BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, dataset_id, minute, metric)
);

CREATE TABLE activity_events (
    id TEXT PRIMARY KEY,
    at TEXT NOT NULL,
    account_id TEXT,
    instance_id TEXT NOT NULL,
    stage TEXT NOT NULL,
    tenant_id TEXT NOT NULL,
    dataset_id TEXT NOT NULL,
    outcome TEXT NOT NULL,
    message TEXT NOT NULL,
    details TEXT NOT NULL
);
CREATE INDEX activity_events_dataset ON activity_events (tenant_id, dataset_id, id);
