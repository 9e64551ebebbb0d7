-- Channel-connect onboarding, token lifecycle, Lead Ads retrieval, Meta's app callbacks and
-- the audit log's instance column (issue 4).

-- How a channel's token came to be and what the token-health worker knows about it.
ALTER TABLE channels ADD COLUMN token_kind TEXT;                  -- system_user | page | instagram_login | user | manual
ALTER TABLE channels ADD COLUMN token_expires_at INTEGER;         -- NULL = does not expire (or unknown)
ALTER TABLE channels ADD COLUMN token_issued_at INTEGER;          -- when the stored token was minted (refresh needs ≥ 24 h)
ALTER TABLE channels ADD COLUMN token_checked_at INTEGER NOT NULL DEFAULT 0;
ALTER TABLE channels ADD COLUMN token_expiry_notified_at INTEGER; -- channel.token_expiring sent for this expiry
ALTER TABLE channels ADD COLUMN subscription_checked_at INTEGER NOT NULL DEFAULT 0;
ALTER TABLE channels ADD COLUMN subscription_object TEXT;         -- the object whose subscribed_apps carry this channel's webhooks (WABA, page, or `me` for Instagram Login)
ALTER TABLE channels ADD COLUMN meta_user_id TEXT;                -- app-scoped id of the person who authorised (deauthorize/data-deletion callbacks)
ALTER TABLE channels ADD COLUMN register_pin_enc TEXT;            -- Fernet: the WhatsApp two-step PIN set at registration
ALTER TABLE channels ADD COLUMN register_next_at INTEGER;         -- pending registration: next attempt
CREATE INDEX channels_meta_user ON channels (meta_user_id) WHERE meta_user_id IS NOT NULL;

-- A connect session: one link handed to an instance, one person going through Meta's flow.
-- Temporary data (OAuth nonce, browser binding, the user token while assets are picked) is
-- deleted when the session completes, fails or expires (P06).
CREATE TABLE connect_sessions (
    id TEXT PRIMARY KEY,                       -- cs_…
    instance_id TEXT NOT NULL REFERENCES instances(id) ON DELETE CASCADE,
    kind TEXT NOT NULL CHECK (kind IN ('whatsapp', 'instagram', 'messenger')),
    flow TEXT NOT NULL,                        -- embedded_signup | facebook_login | instagram_login
    link_hash TEXT NOT NULL UNIQUE,            -- SHA-256 of the link's secret
    return_url TEXT NOT NULL,
    locale TEXT,
    state TEXT NOT NULL,                       -- pending | completed | failed | expired
    failure_code TEXT,
    failure_reason TEXT,
    channel_ids TEXT,                          -- JSON array once completed
    browser_hash TEXT,                         -- SHA-256 of the browser-binding cookie
    nonce_hash TEXT,                           -- SHA-256 of the current OAuth state nonce; NULL once used
    temp_enc TEXT,                             -- Fernet: token and candidate assets while the person picks
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    finished_at INTEGER
);
CREATE INDEX connect_sessions_instance ON connect_sessions (instance_id, created_at);
CREATE INDEX connect_sessions_open ON connect_sessions (expires_at) WHERE state = 'pending';

-- Meta's deauthorize and data-deletion callbacks: the confirmation code and what was done.
CREATE TABLE deletion_requests (
    code TEXT PRIMARY KEY,
    kind TEXT NOT NULL,                        -- deauthorize | data_deletion
    user_hash TEXT NOT NULL,                   -- SHA-256 of the app-scoped user id
    status TEXT NOT NULL,                      -- completed
    channels INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    completed_at INTEGER
);

-- Jobs that must run once across replicas (token health, subscription checks).
CREATE TABLE job_leases (
    name TEXT PRIMARY KEY,
    owner TEXT NOT NULL,
    lease_until INTEGER NOT NULL
);

-- Lead events wait in state 'enriching' until the lead's field data is fetched.
CREATE INDEX events_enriching ON events (next_attempt_at, seq) WHERE state = 'enriching';

ALTER TABLE audit_log ADD COLUMN instance_id TEXT;
CREATE INDEX audit_log_instance ON audit_log (instance_id, id);

-- Origins a connect session's return URL may point at (JSON array); NULL = the callback URL's origin.
ALTER TABLE instances ADD COLUMN return_origins TEXT;
