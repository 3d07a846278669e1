-- The lead event log: one row per ping, partitioned by its UTC day. Partitions are created
-- ahead of time and dropped whole by retention (`partitions.rs`); there is no DEFAULT
-- partition, so a row for a day without one is refused, never piled up where retention
-- would have to delete it row by row.
CREATE TABLE lead_events (
    day        DATE        NOT NULL,
    at         TIMESTAMPTZ NOT NULL,
    ping_id    TEXT        NOT NULL,
    partner    TEXT        NOT NULL,
    offer      TEXT        NOT NULL,
    vertical   TEXT        NOT NULL,
    -- SHA-256 of the normalized identifiers, never plaintext; NULL when absent or erased.
    email      BYTEA,
    phone      BYTEA,
    -- accepted, suppressed, vertical_duplicate, no_bids (a code table in the engine).
    outcome    SMALLINT    NOT NULL,
    repeat     BOOLEAN     NOT NULL DEFAULT false,
    -- Days since the consumer's last submission on the vertical (NULL: none known).
    vertical_gap SMALLINT,
    -- Per contract the offer held, in one order: where it stopped (0 = it bid), the days
    -- since its buyer last bought the consumer (NULL: never), and its bid in minor units.
    contracts  TEXT[]      NOT NULL,
    checkpoint SMALLINT[]  NOT NULL,
    gap_days   SMALLINT[]  NOT NULL,
    price      BIGINT[]    NOT NULL,
    PRIMARY KEY (day, ping_id)
) PARTITION BY RANGE (day);
