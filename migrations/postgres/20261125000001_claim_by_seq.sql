-- Delivery claims walk an instance's pending events oldest first (by seq): the heads of
-- conversations come first, so catching up on a large backlog after an outage does not scan
-- every blocked event before finding the due heads.
CREATE INDEX events_pending_instance_seq ON events (instance_id, seq) WHERE state = 'pending';
