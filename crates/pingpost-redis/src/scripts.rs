//! The Lua scripts, loaded once per process. `redis::Script` sends EVALSHA and, on
//! NOSCRIPT (a restarted or new node), loads the script and retries.
//!
//! Every script, its slot, what it checks and then writes in one step, and why it is safe to
//! re-send (the argument for the whole: the crate's docs, "Why the steps are safe"):
//!
//! | script | slot | checks, then writes — in one script | re-sent |
//! |---|---|---|---|
//! | `admit.lua` | identifier | suppression, vertical window (other pings: confirmed → refused, pending → answered with their ping and its other identifiers) → pending vertical mark naming this ping's other identifiers; answers sale and DQ marks | its own mark is not a duplicate |
//! | `confirm_admission.lua` | identifier | the mark belongs to this ping → confirmed | idempotent |
//! | `release_admission.lua` | identifier | the mark belongs to this ping → removed | idempotent |
//! | `reserve_mark.lua` | identifier | this sale's mark? → answered (a reservation taken over); the buyer's marks inside the window → refused; other sales' reservations in flight → answered with their ids; else → reserved mark with lease and holder | answers `O` (own) |
//! | `settle_mark.lua` | identifier | the sale's mark → sold / duplicate / tombstone; or, undoing a refused reservation, removed if still this holder's | idempotent |
//! | `record_dq.lua` | identifier | (no check) DQ marks and the TTL together | idempotent |
//! | `reserve_ledger.lua` | `{ledger}` | the entry exists → answered; the ping's slots and buyers; every debit fits → takes all, writes the entry, its lease and its journal line | answers `E` (the entry) |
//! | `settle_ledger.lua` | `{ledger}` | reserved or unconfirmed → state, refunds, final price, reason, lease and unconfirmed index, listed for the marks' repair; no entry and a release → tombstone | settled entries are final |
//! | `due_marks.lua` | `{ledger}` | settled entries due for the marks' repair → their sale, state, identifiers, buyer (the sweep then settles the marks and unlists them) | read-only but for dropping expired entries |
//! | `sweep_ledger.lua` | `{ledger}` | leases past due and still reserved → unconfirmed (debits kept), listed | idempotent |
//! | `claim.lua` | the claim key | absent / other fingerprint / done / own holder / lease alive / lease run out or given up → claim (fresh or resumed) or answer | its own holder is answered again |
//! | `complete_claim.lua`, `abandon_claim.lua` | the claim key | still in flight under this holder → answer stored / given up | idempotent; a holder that lost the claim changes nothing |
//! | `erase.lua` | identifier | reservation in flight → kept; the rest → removed and counted | idempotent |
//! | `suppress.lua` | identifier | not suppressed → suppressed since now, answered new | suppressed already: answered not new |
//! | `save_config.lua` | `pp:config` | the stamp still the one read (none stored, for the seed) → written with the next version and this write's id | its own id stored: answered |
//! | `top_up.lua` | `{ledger}` | the top-up id unknown → credit added, marker and books entry written; known with another buyer or amount → refused | the same top-up: answered applied |
//! | `open_return.lua`, `decide_return.lua` (sharing `returns.lua`) | `{ledger}` | the asking buyer's sale, sold or unconfirmed, inside its window, no return yet, under the rate cap → the return; approved → the sale `T`, the refund credited, the books entries | a return (its token) or decision already there: answered as it stands |
//! | `park_outbox.lua` | `{ledger}` | entries still waiting in the outbox → moved to the parked ones, with why | an entry not waiting is left alone |
//! | `put_secret.lua`, `delete_secret.lua` | `{secrets}` | at most `MAX_SECRETS` names → written / removed, with the set's stamp | its own `rev` found: answered as before |
//! | `zset_page.lua` | any zset | (read only) a page after a cursor that names a place, not a rank | — |
//!
//! The scripts that move money (`settle_ledger.lua`, `sweep_ledger.lua`, `top_up.lua`, the
//! returns') are prepended with `books.lua`: the movement's books entry goes to the outbox
//! (`HSETNX`) in the same step as the movement, once however often the script is re-sent.

use redis::{Cmd, Script, ScriptInvocation, ToRedisArgs};

pub struct Scripts {
    pub admit: Script,
    pub confirm_admission: Script,
    pub release_admission: Script,
    pub reserve_mark: Script,
    pub settle_mark: Script,
    pub record_dq: Script,
    pub reserve_ledger: Script,
    pub settle_ledger: Script,
    pub sweep_ledger: Script,
    pub top_up: Script,
    pub open_return: Script,
    pub decide_return: Script,
    pub due_marks: Script,
    pub claim: Script,
    pub complete_claim: Script,
    pub abandon_claim: Script,
    pub erase: Script,
    pub suppress: Script,
    pub save_config: Script,
    pub audit_append: Script,
    pub stats_add: Script,
    pub park_outbox: Script,
    pub zset_page: Script,
    pub put_secret: Script,
    pub delete_secret: Script,
}

impl Scripts {
    pub fn new() -> Self {
        Scripts {
            admit: Script::new(include_str!("lua/admit.lua")),
            confirm_admission: Script::new(include_str!("lua/confirm_admission.lua")),
            release_admission: Script::new(include_str!("lua/release_admission.lua")),
            reserve_mark: Script::new(include_str!("lua/reserve_mark.lua")),
            settle_mark: Script::new(include_str!("lua/settle_mark.lua")),
            record_dq: Script::new(include_str!("lua/record_dq.lua")),
            reserve_ledger: Script::new(include_str!("lua/reserve_ledger.lua")),
            settle_ledger: with_books(include_str!("lua/settle_ledger.lua")),
            sweep_ledger: with_books(include_str!("lua/sweep_ledger.lua")),
            top_up: with_books(include_str!("lua/top_up.lua")),
            open_return: with_returns(include_str!("lua/open_return.lua")),
            decide_return: with_returns(include_str!("lua/decide_return.lua")),
            due_marks: Script::new(include_str!("lua/due_marks.lua")),
            claim: Script::new(include_str!("lua/claim.lua")),
            complete_claim: Script::new(include_str!("lua/complete_claim.lua")),
            abandon_claim: Script::new(include_str!("lua/abandon_claim.lua")),
            erase: Script::new(include_str!("lua/erase.lua")),
            suppress: Script::new(include_str!("lua/suppress.lua")),
            save_config: Script::new(include_str!("lua/save_config.lua")),
            audit_append: Script::new(include_str!("lua/audit_append.lua")),
            stats_add: Script::new(include_str!("lua/stats_add.lua")),
            park_outbox: Script::new(include_str!("lua/park_outbox.lua")),
            zset_page: Script::new(include_str!("lua/zset_page.lua")),
            put_secret: Script::new(include_str!("lua/put_secret.lua")),
            delete_secret: Script::new(include_str!("lua/delete_secret.lua")),
        }
    }
}

/// A script that moves money, with the shared books helpers (`lua/books.lua`) before it.
fn with_books(body: &str) -> Script {
    Script::new(&format!("{}{body}", include_str!("lua/books.lua")))
}

/// A script on returns: the books helpers, then the returns' (`lua/returns.lua`).
fn with_returns(body: &str) -> Script {
    with_books(&format!("{}{body}", include_str!("lua/returns.lua")))
}

/// A call of a script whose keys and arguments stay readable, so that it can also travel as
/// a raw `EVALSHA` inside a pipeline (a `redis::ScriptInvocation` can only be sent alone).
pub struct ScriptCall<'a> {
    script: &'a Script,
    keys: Vec<Vec<u8>>,
    args: Vec<Vec<u8>>,
}

impl<'a> ScriptCall<'a> {
    pub fn new(script: &'a Script) -> Self {
        ScriptCall { script, keys: Vec::new(), args: Vec::new() }
    }

    pub fn key(&mut self, key: impl ToRedisArgs) -> &mut Self {
        key.write_redis_args(&mut self.keys);
        self
    }

    pub fn arg(&mut self, arg: impl ToRedisArgs) -> &mut Self {
        arg.write_redis_args(&mut self.args);
        self
    }

    pub fn script(&self) -> &'a Script {
        self.script
    }

    /// The call on its own: `redis::Script` sends `EVALSHA` and handles `NOSCRIPT`.
    pub fn invocation(&self) -> ScriptInvocation<'a> {
        let mut call = self.script.prepare_invoke();
        for k in &self.keys {
            call.key(k.as_slice());
        }
        for a in &self.args {
            call.arg(a.as_slice());
        }
        call
    }

    /// The raw `EVALSHA`, for a pipeline; its sender handles `NOSCRIPT`.
    pub fn evalsha(&self) -> Cmd {
        let mut cmd = redis::cmd("EVALSHA");
        cmd.arg(self.script.get_hash()).arg(self.keys.len());
        for k in &self.keys {
            cmd.arg(k.as_slice());
        }
        for a in &self.args {
            cmd.arg(a.as_slice());
        }
        cmd
    }
}
