-- Instagram and Messenger contact profiles as last read from Meta's User Profile API (issue 16):
-- one row per channel and contact (IGSID / PSID), read in the background after a contact's
-- message and again after the profile TTL. `profile` is the JSON object of the fields Meta
-- answered (name, username, profile_pic, follower_count, is_user_follow_business,
-- is_business_follow_user; Messenger: first_name, last_name, profile_pic); NULL when no read
-- has succeeded yet. Deleted with the channel's disconnect (consent withdrawn, P13), with the
-- instance, and after the contact window's retention.
CREATE TABLE contact_profiles (
    channel_id TEXT NOT NULL REFERENCES channels(id) ON DELETE CASCADE,
    instance_id TEXT NOT NULL REFERENCES instances(id) ON DELETE CASCADE,
    contact TEXT NOT NULL,
    profile TEXT,                              -- JSON object of Meta's fields; NULL = never read
    fetched_at BIGINT,                         -- last successful read
    attempted_at BIGINT NOT NULL,              -- last read, successful or not
    last_error TEXT,                           -- why the last read failed (Meta's code, no text of Meta's)
    PRIMARY KEY (channel_id, contact)
);
CREATE INDEX contact_profiles_instance ON contact_profiles (instance_id, channel_id);
CREATE INDEX contact_profiles_attempted ON contact_profiles (attempted_at);
