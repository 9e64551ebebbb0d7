-- The webhook fields a channel's Page (or Instagram Login account) was subscribed to at
-- connect time: only those the granted permissions cover (issue 12, defect 5). The lifecycle
-- worker restores a dropped subscription with the same fields. NULL = not recorded (channels
-- connected before this column, or WhatsApp, whose WABA subscription takes no fields).
ALTER TABLE channels ADD COLUMN subscribed_fields TEXT;
