-- The delivery claim must read only each conversation's head, whatever the table's statistics
-- (issue 14). With no statistics yet (a table loaded in bulk and not analyzed since it was
-- empty), PostgreSQL answered the claim's head walk and its "still the head" guard from
-- `events_pending_instance` (instance_id, next_attempt_at, seq) instead of
-- `events_pending_heads`: a range over every pending event of the instance, 142 ms a claim
-- with 98,000 pending, so a backlog drained at ~47 events/s. That index's one remaining reader
-- is the catch-up after a receiver recovers (pending events of an instance that were already
-- attempted and wait out a backoff), so it now holds only those: a claim's conditions never
-- imply `attempts > 0`, so no plan of a claim can use it, and an ingested event (attempts = 0)
-- costs one index write less.
DROP INDEX events_pending_instance;
CREATE INDEX events_retrying ON events (instance_id, next_attempt_at) WHERE state = 'pending' AND attempts > 0;
