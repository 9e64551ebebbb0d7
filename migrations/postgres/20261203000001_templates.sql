-- WhatsApp message templates as last read from Meta (`GET /{waba-id}/message_templates`), one
-- row per channel, name and language, so that a template send is checked before it is queued
-- (issue 16). A WABA's templates are kept under each of its channels: reads stay per channel
-- and per instance (P10). Components are Meta's JSON as sent.
CREATE TABLE wa_templates (
    channel_id TEXT NOT NULL REFERENCES channels(id) ON DELETE CASCADE,
    instance_id TEXT NOT NULL REFERENCES instances(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    language TEXT NOT NULL,
    template_id TEXT NOT NULL,                 -- Meta's id (hsm_id)
    status TEXT NOT NULL,                      -- APPROVED | PENDING | REJECTED | PAUSED | DISABLED | ...
    category TEXT,
    parameter_format TEXT NOT NULL,            -- POSITIONAL | NAMED
    components TEXT NOT NULL,                  -- JSON array as Meta sent it
    quality TEXT,                              -- quality_score.score
    synced_at BIGINT NOT NULL,
    PRIMARY KEY (channel_id, name, language)
);
CREATE INDEX wa_templates_instance ON wa_templates (instance_id, channel_id);

-- When each channel's templates were last read in full, and the last failure.
CREATE TABLE wa_template_syncs (
    channel_id TEXT PRIMARY KEY REFERENCES channels(id) ON DELETE CASCADE,
    instance_id TEXT NOT NULL REFERENCES instances(id) ON DELETE CASCADE,
    synced_at BIGINT,                          -- last complete read; NULL = never
    attempted_at BIGINT NOT NULL,
    last_error TEXT                            -- why the last read failed (no token, no content)
);
CREATE INDEX wa_template_syncs_due ON wa_template_syncs (attempted_at);
