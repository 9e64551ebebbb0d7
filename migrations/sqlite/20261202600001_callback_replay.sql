-- Meta's deauthorize / data-deletion callbacks are replay-proof (issue 17): a request is
-- remembered by the SHA-256 of its signed_request, so the same request gets the same answer
-- and confirmation code without running its effects again.
ALTER TABLE deletion_requests ADD COLUMN request_hash TEXT;
CREATE UNIQUE INDEX deletion_requests_request_hash ON deletion_requests (request_hash) WHERE request_hash IS NOT NULL;
