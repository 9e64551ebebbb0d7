-- Outbound sending (issue 3): messages, customer-service windows, instance verification keys,
-- per-channel send settings and the channel send lease.

ALTER TABLE channels ADD COLUMN rate_limit INTEGER;               -- messages/s; NULL = the kind's default
ALTER TABLE channels ADD COLUMN status_reason TEXT;               -- why the channel is not active
ALTER TABLE channels ADD COLUMN send_owner TEXT;                  -- replica draining the send queue
ALTER TABLE channels ADD COLUMN send_lease_until INTEGER NOT NULL DEFAULT 0;

-- After a secret rotation the previous HS256 secret keeps verifying the instance's tokens for a
-- grace period (zero-downtime rotation); NULL when there is none.
ALTER TABLE instances ADD COLUMN previous_secret_enc TEXT;
ALTER TABLE instances ADD COLUMN previous_secret_until INTEGER;

-- A disconnected channel keeps its row (its messages and events refer to it) but frees its Meta id.
DROP INDEX channels_external_id;
CREATE UNIQUE INDEX channels_external_id_live ON channels (external_id) WHERE status <> 'disconnected';

CREATE TABLE messages (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,     -- send order
    id TEXT NOT NULL UNIQUE,                   -- msg_… (also Meta's biz_opaque_callback_data / metadata)
    instance_id TEXT NOT NULL,
    channel_id TEXT NOT NULL,
    recipient TEXT NOT NULL,                   -- normalised `to`; per-recipient order key
    type TEXT NOT NULL,
    body TEXT,                                 -- the Graph request body; purged once final (P05)
    expects_message_id INTEGER NOT NULL,
    client_reference TEXT,
    idempotency_key TEXT,
    request_hash TEXT NOT NULL,
    state TEXT NOT NULL,                       -- queued | sending | unconfirmed | sent | delivered | read | failed
    meta_message_id TEXT,
    recipient_wa_id TEXT,
    error_code INTEGER,
    error_subcode INTEGER,
    error_title TEXT,
    error_reason TEXT,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    lease_until INTEGER NOT NULL DEFAULT 0,
    statuses TEXT NOT NULL DEFAULT '[]',       -- JSON history: [{"status","at","code"?}]
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    sent_at INTEGER,
    delivered_at INTEGER,
    read_at INTEGER,
    failed_at INTEGER
);
CREATE UNIQUE INDEX messages_idempotency ON messages (instance_id, idempotency_key) WHERE idempotency_key IS NOT NULL;
-- The sender's queries, each on a partial index whose WHERE its own WHERE matches word for word
-- (SQLite uses a partial index only then).
CREATE INDEX messages_sendable ON messages (channel_id, seq) WHERE state = 'queued';
CREATE INDEX messages_open_recipient ON messages (channel_id, recipient, seq) WHERE state IN ('queued', 'sending');
CREATE INDEX messages_waiting ON messages (channel_id, next_attempt_at) WHERE state IN ('queued', 'unconfirmed');
CREATE INDEX messages_in_flight ON messages (channel_id, lease_until) WHERE state = 'sending';
CREATE INDEX messages_meta_id ON messages (meta_message_id) WHERE meta_message_id IS NOT NULL;
CREATE INDEX messages_instance ON messages (instance_id, seq);
CREATE INDEX messages_created ON messages (created_at);

-- The customer-service window: the last inbound message per channel and contact.
CREATE TABLE contact_windows (
    channel_id TEXT NOT NULL,
    contact TEXT NOT NULL,
    instance_id TEXT NOT NULL,
    last_inbound_at INTEGER NOT NULL,
    PRIMARY KEY (channel_id, contact)
);
CREATE INDEX contact_windows_time ON contact_windows (last_inbound_at);

-- Asymmetric verification keys an instance registers (its HS256 secret stays on `instances`).
CREATE TABLE instance_keys (
    instance_id TEXT NOT NULL REFERENCES instances(id) ON DELETE CASCADE,
    kid TEXT NOT NULL,
    alg TEXT NOT NULL CHECK (alg IN ('RS256', 'EdDSA')),
    public_key TEXT NOT NULL,                  -- PEM
    created_at INTEGER NOT NULL,
    PRIMARY KEY (instance_id, kid)
);
