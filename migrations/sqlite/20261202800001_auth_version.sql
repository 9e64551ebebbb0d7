-- What verifies an instance's /v1 tokens has a version (issue 17 item 3): every change to it
-- (its signing secret rotated, a public key added or removed) adds one, in the same statement
-- or transaction. A process caches an instance's verification keys with the version they were
-- read at and checks the version (one primary-key read) on every request, so a change made by
-- another process (the CLI, another replica) holds from the next request on, on either backend.
ALTER TABLE instances ADD COLUMN auth_version INTEGER NOT NULL DEFAULT 0;
