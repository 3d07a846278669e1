//! The books in PostgreSQL: one append-only `entries` table (`migrations/`), created and
//! migrated by [`PgBooks::connect`]. Queries are plain SQL checked at run time, so building
//! needs no database.
//!
//! # Schema
//! One append-only table, `entries` (`migrations/0001_entries.sql`, embedded in the binary and
//! applied by [`PgBooks::connect`] through sqlx's migrator under its advisory lock, so two
//! nodes starting together migrate once): `entry_id` (primary key, `COLLATE "C"`: ids sort by
//! bytes as in the embedded books), `at`, `kind` (checked to the five kinds), `sale_id`,
//! `ping_id`, `partner`, `buyer`, `offer`, `contract`, and the signed `BIGINT` minor units
//! `price`, `payout`, `margin` (checked: `margin = price − payout`) and `amount` (a top-up's
//! credit); `lead_id` (the buyer's own id for the lead, on a sale's entries;
//! `0002_lead_id.sql`); `repeat` (the entry belongs to a repeat sale; `0003_repeat.sql`). Indexes serve listings by time, a buyer's money, a partner's or
//! offer's account and a sale's or ping's entries. Triggers refuse `UPDATE`, `DELETE` and
//! `TRUNCATE`: a mistake is corrected by another entry.
//!
//! An append is one `INSERT … ON CONFLICT (entry_id) DO NOTHING` per batch, rows in entry id
//! order so that overlapping batches cannot deadlock; sums are taken in `NUMERIC`, and a
//! figure that does not fit in i64 minor units is an error, not a wrong number.

use crate::account::{KindTotals, Totals};
use crate::{
    AccountGroup, AccountsQuery, Appended, Batch, Books, BooksError, BooksFuture, BooksResult, BuyerMoney, Entry,
    EntryKind, EntryPage, EntryQuery, GroupBy,
};
use pingpost_core::ids::{BuyerId, ContractId, OfferId, PartnerId};
use pingpost_core::money::Money;
use pingpost_core::Timestamp;
use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions, PgRow};
use sqlx::{Postgres, QueryBuilder, Row};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::future::Future;
use std::str::FromStr;
use std::time::Duration;

/// The schema, embedded in the binary: every engine brings its books up to date at start.
/// sqlx's migrator holds an advisory lock while it runs, so nodes starting together migrate
/// once.
static MIGRATOR: Migrator = sqlx::migrate!("./migrations");

/// How [`PgBooks`] uses its server.
#[derive(Clone, Debug)]
pub struct PgOptions {
    /// Connections per engine (default 8): the books are written by one outbox task and read
    /// by operators' reports, never on the ping path.
    pub max_connections: u32,
    /// How long a call waits for a connection, a new one included (default 5 s), before the
    /// books count as unavailable: the outbox retries later, a report answers 503.
    pub acquire_timeout: Duration,
    /// The bound on each call, waiting for a connection included (default 30 s, for reports
    /// over years of entries). A server that stopped answering mid-query would otherwise
    /// hold its caller forever; an append cut short may have been applied, which is safe, as
    /// the outbox sends it again and the books recognise it.
    pub call_timeout: Duration,
}

impl Default for PgOptions {
    fn default() -> Self {
        PgOptions { max_connections: 8, acquire_timeout: Duration::from_secs(5), call_timeout: Duration::from_secs(30) }
    }
}

const COLUMNS: &str =
    "entry_id, at, kind, sale_id, ping_id, partner, buyer, offer, contract, price, payout, margin, amount, lead_id, \
     repeat";

pub struct PgBooks {
    pool: PgPool,
    call_timeout: Duration,
}

impl PgBooks {
    /// [`PgBooks::connect_with`] the default [`PgOptions`].
    pub async fn connect(url: &str) -> BooksResult<PgBooks> {
        PgBooks::connect_with(url, PgOptions::default()).await
    }

    /// Connects to `url` (`postgres://user:password@host:port/database`), then creates or
    /// migrates the schema. Fails when PostgreSQL cannot be reached within
    /// `acquire_timeout`: an engine told to keep its books there does not start without them.
    pub async fn connect_with(url: &str, options: PgOptions) -> BooksResult<PgBooks> {
        // The URL may hold a password: errors name what went wrong, never the URL.
        let connect = PgConnectOptions::from_str(url).map_err(|e| BooksError::BadUrl(e.to_string()))?;
        let pool = PgPoolOptions::new()
            .max_connections(options.max_connections)
            .acquire_timeout(options.acquire_timeout)
            .connect_with(connect)
            .await
            .map_err(unavailable)?;
        MIGRATOR.run(&pool).await.map_err(|e| BooksError::Migration(e.to_string()))?;
        Ok(PgBooks { pool, call_timeout: options.call_timeout })
    }

    /// `call` bounded by the call timeout.
    async fn bounded<T>(&self, call: impl Future<Output = BooksResult<T>>) -> BooksResult<T> {
        tokio::time::timeout(self.call_timeout, call)
            .await
            .unwrap_or_else(|_| Err(BooksError::Unavailable(format!("no answer within {:?}", self.call_timeout))))
    }

    async fn append_batch(&self, entries: Vec<Entry>) -> BooksResult<Appended> {
        let Batch { unique, mut report } = Batch::prepare(entries)?;
        if unique.is_empty() {
            return Ok(report);
        }
        // One statement for the batch, arrays unnested into rows. ON CONFLICT DO NOTHING
        // makes a re-delivered entry a no-op; RETURNING tells which rows this call wrote. A
        // concurrent insert of the same id waits for the other transaction and then does
        // nothing, so an entry is written once however many deliveries race. Rows go in in
        // the batch's order (entry id order, `ORDER BY n` pins it), so two overlapping
        // batches wait for each other's ids in one order and never deadlock.
        let mut cols = Columns::with_capacity(unique.len());
        for e in &unique {
            cols.push(e);
        }
        let inserted: Vec<String> = sqlx::query_scalar(
            "INSERT INTO entries (entry_id, at, kind, sale_id, ping_id, partner, buyer, offer, contract, \
             price, payout, margin, amount, lead_id, repeat) \
             SELECT entry_id, at, kind, sale_id, ping_id, partner, buyer, offer, contract, \
             price, payout, margin, amount, lead_id, repeat \
             FROM UNNEST($1::text[], $2::timestamptz[], $3::text[], $4::text[], $5::text[], $6::text[], \
             $7::text[], $8::text[], $9::text[], $10::int8[], $11::int8[], $12::int8[], $13::int8[], $14::text[], \
             $15::bool[]) \
             WITH ORDINALITY AS u(entry_id, at, kind, sale_id, ping_id, partner, buyer, offer, contract, \
             price, payout, margin, amount, lead_id, repeat, n) \
             ORDER BY n \
             ON CONFLICT (entry_id) DO NOTHING RETURNING entry_id",
        )
        .bind(cols.entry_id)
        .bind(cols.at)
        .bind(cols.kind)
        .bind(cols.sale_id)
        .bind(cols.ping_id)
        .bind(cols.partner)
        .bind(cols.buyer)
        .bind(cols.offer)
        .bind(cols.contract)
        .bind(cols.price)
        .bind(cols.payout)
        .bind(cols.margin)
        .bind(cols.amount)
        .bind(cols.lead_id)
        .bind(cols.repeat)
        .fetch_all(&self.pool)
        .await
        .map_err(unavailable)?;
        report.new += inserted.len();
        let inserted: HashSet<String> = inserted.into_iter().collect();
        let known: Vec<Entry> = unique.into_iter().filter(|e| !inserted.contains(&e.entry_id)).collect();
        if known.is_empty() {
            return Ok(report);
        }
        // The rows that were there: committed (the insert waited for them), so this
        // statement's snapshot sees them.
        let ids: Vec<String> = known.iter().map(|e| e.entry_id.clone()).collect();
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!("SELECT {COLUMNS} FROM entries WHERE entry_id = ANY($1)")))
            .bind(ids)
            .fetch_all(&self.pool)
            .await
            .map_err(unavailable)?;
        let mut stored: HashMap<String, Entry> = HashMap::with_capacity(rows.len());
        for row in &rows {
            let e = entry_of(row)?;
            stored.insert(e.entry_id.clone(), e);
        }
        for offered in known {
            let kept = stored.remove(&offered.entry_id).ok_or_else(|| {
                BooksError::Corrupt(format!("entry {:?} neither inserted nor found", offered.entry_id))
            })?;
            report.compare(kept, offered);
        }
        Ok(report)
    }

    async fn accounts_of(&self, q: AccountsQuery) -> BooksResult<Vec<AccountGroup>> {
        // The column is one of three fixed names, never text from a caller.
        let col = match q.by {
            GroupBy::Partner => "partner",
            GroupBy::Buyer => "buyer",
            GroupBy::Offer => "offer",
        };
        let mut sql = QueryBuilder::<Postgres>::new(format!(
            "SELECT {col} AS key, kind, repeat, {TOTALS} FROM entries WHERE kind <> 'top_up' AND {col} IS NOT NULL"
        ));
        if let Some(only) = q.only {
            sql.push(format!(" AND {col} = ")).push_bind(only);
        }
        if let Some(since) = q.since {
            sql.push(" AND at >= ").push_bind(since);
        }
        if let Some(until) = q.until {
            sql.push(" AND at < ").push_bind(until);
        }
        sql.push(format!(" GROUP BY {col}, kind, repeat"));
        let rows = sql.build().fetch_all(&self.pool).await.map_err(unavailable)?;
        let mut groups: BTreeMap<String, Totals> = BTreeMap::new();
        for row in &rows {
            let key: String = get(row, "key")?;
            let (kind, totals) = kind_totals(row)?;
            groups.entry(key).or_default().add(kind, get(row, "repeat")?, totals);
        }
        groups.into_iter().map(|(key, totals)| totals.account(key)).collect()
    }

    async fn entries_of(&self, q: EntryQuery) -> BooksResult<EntryPage> {
        let size = q.page_size();
        let mut sql = QueryBuilder::<Postgres>::new(format!("SELECT {COLUMNS} FROM entries WHERE TRUE"));
        if let Some(sale_id) = &q.sale_id {
            sql.push(" AND sale_id = ").push_bind(sale_id.clone());
        }
        if let Some(ping_id) = &q.ping_id {
            sql.push(" AND ping_id = ").push_bind(ping_id.clone());
        }
        if let Some(buyer) = &q.buyer {
            sql.push(" AND buyer = ").push_bind(buyer.as_str().to_string());
        }
        if let Some(kind) = q.kind {
            sql.push(" AND kind = ").push_bind(kind.as_str());
        }
        if let Some(since) = q.since {
            sql.push(" AND at >= ").push_bind(since);
        }
        if let Some(until) = q.until {
            sql.push(" AND at < ").push_bind(until);
        }
        if let Some(after) = &q.after {
            // A row comparison, which the (at, entry_id) indexes serve directly.
            sql.push(" AND (at, entry_id) < (")
                .push_bind(after.at)
                .push(", ")
                .push_bind(after.entry_id.clone())
                .push(")");
        }
        sql.push(" ORDER BY at DESC, entry_id DESC LIMIT ").push_bind(i64::try_from(size).unwrap_or(i64::MAX));
        let rows = sql.build().fetch_all(&self.pool).await.map_err(unavailable)?;
        let entries = rows.iter().map(entry_of).collect::<BooksResult<Vec<Entry>>>()?;
        Ok(EntryPage::of(entries, size))
    }

    async fn buyer_money_of(&self, only: Option<BuyerId>) -> BooksResult<Vec<BuyerMoney>> {
        let mut sql = QueryBuilder::<Postgres>::new(format!("SELECT buyer, kind, {TOTALS} FROM entries"));
        if let Some(buyer) = only {
            sql.push(" WHERE buyer = ").push_bind(buyer.0);
        }
        sql.push(" GROUP BY buyer, kind");
        let rows = sql.build().fetch_all(&self.pool).await.map_err(unavailable)?;
        let mut buyers: BTreeMap<BuyerId, Totals> = BTreeMap::new();
        for row in &rows {
            let buyer = BuyerId::new(get::<String>(row, "buyer")?);
            let (kind, totals) = kind_totals(row)?;
            buyers.entry(buyer).or_default().add(kind, false, totals);
        }
        buyers.into_iter().map(|(buyer, totals)| totals.buyer_money(buyer)).collect()
    }
}

/// Per-kind totals of a group. Sums of BIGINT are NUMERIC in PostgreSQL, which cannot
/// overflow; they travel as text and are read into i128, so that only a final figure that
/// does not fit in 64 bits is an error ([`BooksError::Overflow`]).
const TOTALS: &str =
    "count(*) AS n, sum(price)::text AS price, sum(payout)::text AS payout, sum(amount)::text AS amount";

fn kind_totals(row: &PgRow) -> BooksResult<(EntryKind, KindTotals)> {
    let kind = kind_of(row)?;
    let sum = |col: &str| -> BooksResult<i128> {
        let text: String = get(row, col)?;
        text.parse::<i128>().map_err(|_| BooksError::Corrupt(format!("{col} total {text:?}")))
    };
    Ok((
        kind,
        KindTotals { count: get(row, "n")?, price: sum("price")?, payout: sum("payout")?, amount: sum("amount")? },
    ))
}

fn kind_of(row: &PgRow) -> BooksResult<EntryKind> {
    let kind: String = get(row, "kind")?;
    kind.parse().map_err(|e: crate::entry::UnknownKind| BooksError::Corrupt(e.to_string()))
}

fn entry_of(row: &PgRow) -> BooksResult<Entry> {
    let text = |col: &str| get::<Option<String>>(row, col);
    Ok(Entry {
        entry_id: get(row, "entry_id")?,
        at: get::<Timestamp>(row, "at")?,
        kind: kind_of(row)?,
        sale_id: text("sale_id")?,
        ping_id: text("ping_id")?,
        partner: text("partner")?.map(PartnerId::new),
        buyer: BuyerId::new(get::<String>(row, "buyer")?),
        offer: text("offer")?.map(OfferId::new),
        contract: text("contract")?.map(ContractId::new),
        price: Money::from_minor(get(row, "price")?),
        payout: Money::from_minor(get(row, "payout")?),
        margin: Money::from_minor(get(row, "margin")?),
        amount: Money::from_minor(get(row, "amount")?),
        lead_id: text("lead_id")?,
        repeat: get(row, "repeat")?,
    })
}

fn get<'r, T>(row: &'r PgRow, col: &str) -> BooksResult<T>
where
    T: sqlx::Decode<'r, Postgres> + sqlx::Type<Postgres>,
{
    row.try_get(col).map_err(|e| BooksError::Corrupt(format!("column {col}: {e}")))
}

fn unavailable(e: sqlx::Error) -> BooksError {
    BooksError::Unavailable(e.to_string())
}

/// A batch as one array per column, for `UNNEST`.
struct Columns {
    entry_id: Vec<String>,
    at: Vec<Timestamp>,
    kind: Vec<&'static str>,
    sale_id: Vec<Option<String>>,
    ping_id: Vec<Option<String>>,
    partner: Vec<Option<String>>,
    buyer: Vec<String>,
    offer: Vec<Option<String>>,
    contract: Vec<Option<String>>,
    price: Vec<i64>,
    payout: Vec<i64>,
    margin: Vec<i64>,
    amount: Vec<i64>,
    lead_id: Vec<Option<String>>,
    repeat: Vec<bool>,
}

impl Columns {
    fn with_capacity(n: usize) -> Columns {
        Columns {
            entry_id: Vec::with_capacity(n),
            at: Vec::with_capacity(n),
            kind: Vec::with_capacity(n),
            sale_id: Vec::with_capacity(n),
            ping_id: Vec::with_capacity(n),
            partner: Vec::with_capacity(n),
            buyer: Vec::with_capacity(n),
            offer: Vec::with_capacity(n),
            contract: Vec::with_capacity(n),
            price: Vec::with_capacity(n),
            payout: Vec::with_capacity(n),
            margin: Vec::with_capacity(n),
            amount: Vec::with_capacity(n),
            lead_id: Vec::with_capacity(n),
            repeat: Vec::with_capacity(n),
        }
    }

    fn push(&mut self, e: &Entry) {
        self.entry_id.push(e.entry_id.clone());
        self.at.push(e.at);
        self.kind.push(e.kind.as_str());
        self.sale_id.push(e.sale_id.clone());
        self.ping_id.push(e.ping_id.clone());
        self.partner.push(e.partner.as_ref().map(|p| p.to_string()));
        self.buyer.push(e.buyer.to_string());
        self.offer.push(e.offer.as_ref().map(|o| o.to_string()));
        self.contract.push(e.contract.as_ref().map(|c| c.to_string()));
        self.price.push(e.price.minor());
        self.payout.push(e.payout.minor());
        self.margin.push(e.margin.minor());
        self.amount.push(e.amount.minor());
        self.lead_id.push(e.lead_id.clone());
        self.repeat.push(e.repeat);
    }
}

impl Books for PgBooks {
    fn append(&self, entries: Vec<Entry>) -> BooksFuture<'_, Appended> {
        Box::pin(self.bounded(self.append_batch(entries)))
    }

    fn accounts(&self, q: AccountsQuery) -> BooksFuture<'_, Vec<AccountGroup>> {
        Box::pin(self.bounded(self.accounts_of(q)))
    }

    fn entries(&self, q: EntryQuery) -> BooksFuture<'_, EntryPage> {
        Box::pin(self.bounded(self.entries_of(q)))
    }

    fn buyer_money(&self, only: Option<BuyerId>) -> BooksFuture<'_, Vec<BuyerMoney>> {
        Box::pin(self.bounded(self.buyer_money_of(only)))
    }

    fn health(&self) -> BooksFuture<'_, ()> {
        Box::pin(self.bounded(async move {
            sqlx::query("SELECT 1").execute(&self.pool).await.map_err(unavailable)?;
            Ok(())
        }))
    }
}
