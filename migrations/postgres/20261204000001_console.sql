-- The operator console (issue 18).

-- Signed-in console sessions. The cookie's value is never stored, only its SHA-256; the
-- session is bound to the admin token it signed in with (a hash of it): once the token is
-- replaced, every session made with the old one is refused. Idle sessions expire (seen_at).
CREATE TABLE console_sessions (
    id_hash TEXT PRIMARY KEY,
    token_hash TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    seen_at BIGINT NOT NULL
);
CREATE INDEX console_sessions_seen ON console_sessions (seen_at);

-- Throughput history for the console's charts: what each replica counted in each minute
-- (webhooks accepted, events delivered, sends accepted by Meta, failed delivery and send
-- attempts, dead letters), sampled from its own metrics every few seconds and added to the
-- minute's row. Kept two days.
CREATE TABLE metrics_history (
    minute BIGINT NOT NULL,
    replica TEXT NOT NULL,
    webhooks_in BIGINT NOT NULL DEFAULT 0,
    delivered BIGINT NOT NULL DEFAULT 0,
    sends BIGINT NOT NULL DEFAULT 0,
    failures BIGINT NOT NULL DEFAULT 0,
    dead_letters BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (minute, replica)
);
