-- The books: one append-only table of money entries. Amounts are signed BIGINT minor units
-- (cents); see the crate documentation for the sign of each per kind.
CREATE TABLE entries (
    -- COLLATE "C": ids sort by their bytes, as the embedded books sort them, whatever the
    -- database's locale, so the newest-first order and its cursor are the same everywhere.
    entry_id TEXT COLLATE "C" PRIMARY KEY,
    at       TIMESTAMPTZ NOT NULL,
    kind     TEXT NOT NULL
        CHECK (kind IN ('sale', 'rollback', 'return_refund', 'payout_clawback', 'top_up')),
    sale_id  TEXT,
    ping_id  TEXT,
    partner  TEXT,
    buyer    TEXT NOT NULL,
    offer    TEXT,
    contract TEXT,
    price    BIGINT NOT NULL,
    payout   BIGINT NOT NULL,
    margin   BIGINT NOT NULL,
    -- A top-up's credit; 0 on every other kind.
    amount   BIGINT NOT NULL DEFAULT 0,
    -- The one rule every entry keeps, restated here so that no writer but the engine's
    -- (a hand-run INSERT) can break the accounts' arithmetic.
    CONSTRAINT margin_is_price_less_payout CHECK (margin = price - payout)
);

-- Listings newest first (read backwards) and account ranges over time.
CREATE INDEX entries_at ON entries (at, entry_id);
-- A buyer's entries and money.
CREATE INDEX entries_buyer_at ON entries (buyer, at, entry_id);
-- One partner's or one offer's account (a partner's own report).
CREATE INDEX entries_partner_at ON entries (partner, at) WHERE partner IS NOT NULL;
CREATE INDEX entries_offer_at ON entries (offer, at) WHERE offer IS NOT NULL;
-- A sale's and a ping's entries.
CREATE INDEX entries_sale ON entries (sale_id) WHERE sale_id IS NOT NULL;
CREATE INDEX entries_ping ON entries (ping_id) WHERE ping_id IS NOT NULL;

-- Append-only, enforced: money records are never changed or removed by the engine, and a
-- mistake is corrected by another entry. An operator who must purge old years drops this
-- trigger deliberately.
CREATE FUNCTION entries_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the books are append-only: % on entries refused', TG_OP;
END;
$$;
CREATE TRIGGER entries_append_only
    BEFORE UPDATE OR DELETE ON entries
    FOR EACH ROW EXECUTE FUNCTION entries_append_only();
CREATE TRIGGER entries_no_truncate
    BEFORE TRUNCATE ON entries
    FOR EACH STATEMENT EXECUTE FUNCTION entries_append_only();
