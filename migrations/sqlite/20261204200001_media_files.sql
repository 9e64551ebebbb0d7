-- Inbound media kept by the bridge (issue 16 §3, `METABRIDGE_MEDIA_CACHE`): one row per media
-- file of a customer's message on one channel. Written in the webhook's ingest transaction
-- (state `pending`, commit before ack: a crash after the 200 still downloads it), then the
-- media worker downloads the file into `METABRIDGE_MEDIA_DIR/<instance>/<channel>/<media_id>`
-- and marks it `stored` (or `failed` with the reason). `media_id` is Meta's WhatsApp media id,
-- or `med_…` (derived from the event's idempotency key) for an Instagram / Messenger
-- attachment. `source_url` is the attachment's signed CDN address (Instagram / Messenger) and
-- is cleared once the download ended either way. No message content beyond the file itself.
-- Deleted (with the file) at `expires_at`, with the channel's disconnect and with the instance.
CREATE TABLE media_files (
    channel_id TEXT NOT NULL REFERENCES channels(id) ON DELETE CASCADE,
    media_id TEXT NOT NULL,
    instance_id TEXT NOT NULL REFERENCES instances(id) ON DELETE CASCADE,
    kind TEXT NOT NULL,                        -- image | video | audio | document | sticker | file
    source_url TEXT,                           -- Instagram / Messenger CDN address, until fetched
    expected_sha256 TEXT,                      -- WhatsApp: the webhook's sha256 of the file
    state TEXT NOT NULL,                       -- 'pending' | 'stored' | 'failed'
    attempts BIGINT NOT NULL DEFAULT 0,
    next_attempt_at BIGINT NOT NULL,
    lease_until BIGINT NOT NULL DEFAULT 0,
    mime_type TEXT,
    size BIGINT,
    sha256 TEXT,
    error TEXT,                                -- machine-readable reason of a failure
    created_at BIGINT NOT NULL,
    stored_at BIGINT,
    expires_at BIGINT NOT NULL,
    PRIMARY KEY (channel_id, media_id)
);
CREATE INDEX media_files_due ON media_files (state, next_attempt_at);
CREATE INDEX media_files_expires ON media_files (expires_at);
CREATE INDEX media_files_instance ON media_files (instance_id, channel_id);
