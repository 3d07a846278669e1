-- The audit log's hits (`pingpost_core::events::Hit`): one row per audit record (a ping's hits,
-- recorded at once, or a post's "duplicate" answer), the fields its hits share in columns and
-- each hit's own as arrays in the record's order. A row per hit made a 30-contract ping twenty
-- rows and index entries, and the writer caught up after an outage at half the engine's rate.
-- Partitioned by UTC day as the events are, made ahead and dropped whole with them. A record
-- is named by its ping and its first hit's `checkpoint:contract`, so a batch sent again writes
-- nothing; `seq` orders records of one instant for the API's pages, newest first.
CREATE TABLE hit_events (
    day         DATE          NOT NULL,
    at          TIMESTAMPTZ   NOT NULL,
    seq         BIGSERIAL,
    ping_id     TEXT          NOT NULL,
    record      TEXT          NOT NULL,
    partner     TEXT          NOT NULL,
    vertical    TEXT          NOT NULL,
    offer       TEXT          NOT NULL,
    buyers      TEXT[]        NOT NULL,
    contracts   TEXT[]        NOT NULL,
    checkpoints TEXT[]        NOT NULL,
    matched     TEXT[]        NOT NULL,
    prior_ats   TIMESTAMPTZ[] NOT NULL,
    reasons     TEXT[]        NOT NULL,
    PRIMARY KEY (day, ping_id, record)
) PARTITION BY RANGE (day);
CREATE INDEX hit_events_newest ON hit_events (at DESC, seq DESC);
