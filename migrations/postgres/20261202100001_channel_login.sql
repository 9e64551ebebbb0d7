-- Which login an Instagram channel came from (issue 12, defect 1): `instagram` (Instagram API
-- with Instagram Login: an Instagram User token, accepted only by graph.instagram.com) or
-- `facebook` (Instagram messaging through the linked Facebook Page: a Page token on
-- graph.facebook.com). NULL for WhatsApp and Messenger channels.
ALTER TABLE channels ADD COLUMN login TEXT;

-- Existing Instagram channels: from how they were connected, where the connect flow recorded it.
UPDATE channels SET login = 'instagram' WHERE kind = 'instagram' AND token_kind = 'instagram_login';
UPDATE channels SET login = 'facebook' WHERE kind = 'instagram' AND token_kind IN ('page', 'user', 'system_user');
-- The others (registered by hand) are decided at start-up from their stored token, which SQL
-- cannot read (it is encrypted): `IG…` → instagram, anything else → facebook
-- (Store::backfill_instagram_login).
