-- metabridge schema (PostgreSQL). Times are unix milliseconds (BIGINT), ids are prefixed text.

CREATE TABLE instances (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    callback_url TEXT NOT NULL,
    signing_secret_enc TEXT NOT NULL,          -- Fernet token of the HS256 secret
    event_types TEXT,                          -- JSON array of subscribed types; NULL = all
    delivery_paused_reason TEXT,               -- set when the receiver answered 410 Gone
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE TABLE channels (
    id TEXT PRIMARY KEY,
    instance_id TEXT NOT NULL REFERENCES instances(id) ON DELETE CASCADE,
    kind TEXT NOT NULL CHECK (kind IN ('whatsapp', 'instagram', 'messenger')),
    external_id TEXT NOT NULL,                 -- phone_number_id | Instagram account id | page id
    waba_id TEXT,
    name TEXT,
    token_enc TEXT,                            -- Fernet token; NULL once deleted (P03)
    status TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE UNIQUE INDEX channels_external_id ON channels (external_id);
CREATE INDEX channels_waba_id ON channels (waba_id);
CREATE INDEX channels_instance_id ON channels (instance_id);

-- The idempotency log: keys, times and outcome only (P04).
CREATE TABLE webhook_log (
    key TEXT PRIMARY KEY,
    received_at BIGINT NOT NULL,
    outcome TEXT NOT NULL                      -- enqueued | unroutable | filtered
);
CREATE INDEX webhook_log_received_at ON webhook_log (received_at);

-- The outbox: one row per event per instance; content columns are purged after delivery (P05).
CREATE TABLE events (
    seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    instance_id TEXT,                          -- NULL while unroutable
    channel_id TEXT,
    channel_kind TEXT,
    channel_external_id TEXT NOT NULL,
    route TEXT NOT NULL,                       -- how it was routed: channel:<id> | waba:<id> | none
    conversation TEXT NOT NULL,                -- ordering key: deliveries of one key go in seq order
    conversation_id TEXT NOT NULL,             -- public conversation id (hash)
    type TEXT NOT NULL,
    idempotency_key TEXT NOT NULL,
    occurred_at BIGINT,
    received_at BIGINT NOT NULL,
    state TEXT NOT NULL,                       -- pending | delivered | dead | unroutable | filtered
    attempts BIGINT NOT NULL DEFAULT 0,
    next_attempt_at BIGINT NOT NULL,
    deadline_at BIGINT NOT NULL,              -- dead-lettered when a retry would pass this
    lease_until BIGINT NOT NULL DEFAULT 0,
    last_status BIGINT,
    last_error TEXT,
    delivered_at BIGINT,
    dead_at BIGINT,
    contact TEXT,
    data TEXT,
    raw TEXT
);
CREATE INDEX events_pending_conversation ON events (conversation, seq) WHERE state = 'pending';
CREATE INDEX events_pending_due ON events (next_attempt_at, seq) WHERE state = 'pending';
CREATE INDEX events_instance ON events (instance_id, seq);
-- Delivery claims, one instance at a time (a busy instance's backlog is never scanned).
CREATE INDEX events_pending_instance ON events (instance_id, next_attempt_at, seq) WHERE state = 'pending';
-- Finished events only: the delivery claim must never pick this over events_pending_due.
CREATE INDEX events_state_received ON events (state, received_at) WHERE state <> 'pending';

CREATE TABLE delivery_attempts (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    event_id TEXT NOT NULL,
    instance_id TEXT NOT NULL,
    attempt BIGINT NOT NULL,
    attempted_at BIGINT NOT NULL,
    status_code BIGINT,
    latency_ms BIGINT NOT NULL,
    error TEXT,
    next_attempt_at BIGINT
);
CREATE INDEX delivery_attempts_event ON delivery_attempts (event_id, attempt);
CREATE INDEX delivery_attempts_time ON delivery_attempts (attempted_at);

-- Signed but unparseable bodies, for diagnostics: a digest and the parser's reason, no content.
CREATE TABLE malformed_webhooks (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    received_at BIGINT NOT NULL,
    body_sha256 TEXT NOT NULL,
    body_size BIGINT NOT NULL,
    reason TEXT NOT NULL
);
CREATE INDEX malformed_webhooks_received_at ON malformed_webhooks (received_at);

-- Administrative actions (P17).
CREATE TABLE audit_log (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at BIGINT NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    target TEXT NOT NULL,
    detail TEXT
);
