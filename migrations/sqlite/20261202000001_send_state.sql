-- A channel's connection and its sending are two states (issue 12, defect 3). `status` is the
-- connection only: active | pending (registration waiting) | disconnected. Inbound relay depends
-- on it alone: a webhook needs no token. `send_state` is the sending: sending | paused (Meta
-- restricted the account or number; resumes at send_paused_until, by API, or on reconnect) |
-- token_invalid (Meta said the token is invalid; the token is deleted; reconnect).
ALTER TABLE channels ADD COLUMN send_state TEXT NOT NULL DEFAULT 'sending';
ALTER TABLE channels ADD COLUMN send_reason TEXT;
ALTER TABLE channels ADD COLUMN send_paused_until BIGINT;          -- unix ms
ALTER TABLE channels ADD COLUMN send_pauses BIGINT NOT NULL DEFAULT 0; -- pauses in a row (backoff)
-- WhatsApp numbers: the last quality event and the messaging-limit tier of phone_number_quality_update.
ALTER TABLE channels ADD COLUMN quality_event TEXT;
ALTER TABLE channels ADD COLUMN messaging_limit_tier TEXT;

-- Channels the old single status held back: connected again, their send problem kept apart.
-- A pause had no end time: it ends at the first timer pass after the upgrade.
UPDATE channels SET send_state = status, send_reason = status_reason, status = 'active', status_reason = NULL
    WHERE status IN ('token_invalid', 'paused');
UPDATE channels SET send_paused_until = 0 WHERE send_state = 'paused';
CREATE INDEX channels_sends_paused ON channels (send_paused_until) WHERE send_state = 'paused';
