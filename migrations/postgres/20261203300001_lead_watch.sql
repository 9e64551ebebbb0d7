-- Lead Ads gap recovery (issue 16 §4): for each Page channel that has received a lead, the
-- creation time of its newest lead and the end of the last window the bridge read from Meta's
-- lead lists. When both are older than METABRIDGE_LEAD_GAP_MINUTES, the Page's lead webhooks
-- may have stopped (or the bridge was down): its leads since then are read and the missing ones
-- relayed. Times only: no lead content.
CREATE TABLE lead_watch (
    channel_id TEXT PRIMARY KEY REFERENCES channels(id) ON DELETE CASCADE,
    instance_id TEXT NOT NULL REFERENCES instances(id) ON DELETE CASCADE,
    last_lead_at BIGINT NOT NULL,              -- unix ms: creation time of the newest lead received
    read_until BIGINT NOT NULL DEFAULT 0,      -- unix ms: end of the last window read from Meta
    next_check_at BIGINT NOT NULL DEFAULT 0    -- unix ms: a gap check is not started before this
);
CREATE INDEX lead_watch_instance ON lead_watch (instance_id);
