-- Instagram and Messenger thread control (issue 16 §5, Meta's handover protocol): which Meta app
-- controls the conversation of one channel with one contact (IGSID / PSID), as far as the bridge
-- knows. Written in the webhook's ingest transaction from `messaging_handovers` items
-- (pass_thread_control, take_thread_control) and after the bridge's own successful pass / take
-- calls. No row = nobody told the bridge (the thread is idle or ours: sends are allowed).
-- `owner` is `bridge` (this bridge's Meta app) or `other` (another app, `owner_app_id` when
-- Meta named it, e.g. 263902037430900 = the Page inbox). `since` is Meta's time of the handover
-- (or the time of our call); an older handover never overwrites a newer one. Deleted with the
-- channel's disconnect, with the instance, and after the contact window's retention.
CREATE TABLE thread_owners (
    channel_id TEXT NOT NULL REFERENCES channels(id) ON DELETE CASCADE,
    instance_id TEXT NOT NULL REFERENCES instances(id) ON DELETE CASCADE,
    contact TEXT NOT NULL,
    owner TEXT NOT NULL,                       -- 'bridge' | 'other'
    owner_app_id TEXT,                         -- Meta app id of the owner, when known
    since BIGINT NOT NULL,                     -- when control changed (unix ms)
    source TEXT NOT NULL,                      -- 'webhook' | 'api'
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (channel_id, contact)
);
CREATE INDEX thread_owners_instance ON thread_owners (instance_id, channel_id);
CREATE INDEX thread_owners_updated ON thread_owners (updated_at);
