-- The statistics' counters (`GET /v1/admin/stats` reads them here when the log is in
-- PostgreSQL): per hour since the epoch, group kind (partner, buyer, vertical), key and
-- metric. Nodes send their counters in batches named by an id; a batch is added once
-- (`count_batches`), however often the relay sends it. Kept as long as the store keeps its
-- counters (400 days), not the events' retention: old hours are deleted, a few hundred rows a day.
CREATE TABLE stat_counts (
    by_kind TEXT   NOT NULL,
    hour    BIGINT NOT NULL,
    key     TEXT   NOT NULL,
    metric  TEXT   NOT NULL,
    n       BIGINT NOT NULL,
    PRIMARY KEY (by_kind, hour, key, metric)
);

CREATE TABLE count_batches (
    id TEXT        PRIMARY KEY,
    at TIMESTAMPTZ NOT NULL
);
