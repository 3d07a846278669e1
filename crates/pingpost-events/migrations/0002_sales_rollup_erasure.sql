-- A ping's sales, kept beside its event (the what-if's revenue): partitioned by the sale's UTC
-- day as lead_events are, created ahead and dropped whole with them.
CREATE TABLE sale_events (
    day      DATE        NOT NULL,
    at       TIMESTAMPTZ NOT NULL,
    sale_id  TEXT        NOT NULL,
    ping_id  TEXT        NOT NULL,
    contract TEXT        NOT NULL,
    price    BIGINT      NOT NULL,
    repeat   BOOLEAN     NOT NULL,
    PRIMARY KEY (day, sale_id)
) PARTITION BY RANGE (day);
-- A sale finds its ping's event (and a ping the sales that arrived before it) by ping id.
CREATE INDEX sale_events_ping ON sale_events (ping_id);

-- The what-if's rollup (`pingpost_core::whatif::Rollup`): per ping day, contract (scope 0) or
-- vertical (scope 1) and gap in days (-1: none known), the pings that reached the window and
-- what they sold. Some hundred rows per key and day: retention deletes its days' rows.
CREATE TABLE gap_counts (
    day     DATE     NOT NULL,
    scope   SMALLINT NOT NULL,
    key     TEXT     NOT NULL,
    gap     SMALLINT NOT NULL,
    pings   BIGINT   NOT NULL,
    sales   BIGINT   NOT NULL,
    revenue BIGINT   NOT NULL,
    PRIMARY KEY (scope, key, day, gap)
);

-- Identifier hashes erased (POST /v1/admin/erasure): events still waiting in a store's outbox
-- or a node's buffer when the erasure ran are written without them. Kept for the retention.
CREATE TABLE erased_hashes (
    hash      BYTEA       PRIMARY KEY,
    erased_at TIMESTAMPTZ NOT NULL
);
