-- Delivery claims find each conversation's head (its oldest pending event) by walking the
-- instance's conversations in this index, one seek per conversation, instead of testing every
-- pending event for an earlier one: a claim costs the same whatever the backlog
-- (docs/benchmark.md, "Backlog recovery"). The indexes the old claims used go: nothing else
-- reads them, and each one cost every ingested event an index write.
CREATE INDEX events_pending_heads ON events (instance_id, conversation, seq) WHERE state = 'pending';
DROP INDEX events_pending_conversation;
DROP INDEX events_pending_instance_seq;
DROP INDEX events_pending_due;
