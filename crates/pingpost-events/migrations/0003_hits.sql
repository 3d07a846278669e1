-- The audit log's hits (`pingpost_core::events::Hit`): one row per dedup hit, partitioned by
-- UTC day as the events are, made ahead and dropped whole with them. A hit is named by its
-- ping, checkpoint and contract (empty for a whole ping's), so a batch sent again writes
-- nothing; `seq` orders hits of one instant for the API's pages, newest first.
CREATE TABLE hit_events (
    day        DATE        NOT NULL,
    at         TIMESTAMPTZ NOT NULL,
    seq        BIGSERIAL,
    ping_id    TEXT        NOT NULL,
    partner    TEXT        NOT NULL,
    vertical   TEXT        NOT NULL,
    offer      TEXT        NOT NULL,
    buyer      TEXT,
    contract   TEXT        NOT NULL,
    checkpoint TEXT        NOT NULL,
    matched    TEXT,
    prior_at   TIMESTAMPTZ,
    reason     TEXT,
    PRIMARY KEY (day, ping_id, checkpoint, contract)
) PARTITION BY RANGE (day);
CREATE INDEX hit_events_newest ON hit_events (at DESC, seq DESC);
