//! The Lua scripts, loaded once per process. `redis::Script` sends EVALSHA and, on
//! NOSCRIPT (a restarted or new node), loads the script and retries.
//!
//! Every script is `lua/prelude.lua` and then its own body. The prelude holds what they
//! share: the check of the call's keys and arguments each script begins with (a caller of
//! another version fails loudly rather than act on a missing argument read as nil), and the
//! one codec of the values scripts read back (sale, vertical and ping-sale marks, and when
//! a reservation is in flight). The tests below keep both rules: no script skips the check,
//! and none parses or writes a mark's format itself.
//!
//! Every script, its slot, what it checks and then writes in one step, and why it is safe to
//! re-send (the argument for the whole: the crate's docs, "Why the steps are safe"):
//!
//! | script | slot | checks, then writes — in one script | re-sent |
//! |---|---|---|---|
//! | `admit.lua` | identifier | suppression, vertical window (other pings: confirmed → refused, pending → answered with their ping and its other identifiers) → pending vertical mark naming this ping's other identifiers; answers sale and DQ marks | its own mark is not a duplicate |
//! | `confirm_admission.lua` | identifier | the mark belongs to this ping → confirmed | idempotent |
//! | `release_admission.lua` | identifier | the mark belongs to this ping → removed | idempotent |
//! | `record_dq.lua` | identifier | (no check) DQ marks and the TTL together | idempotent |
//! | `reserve_sale.lua` | buyer | the entry exists → answered; fenced by another holder → refused; the buyer's marks on an identifier inside the window, or a reservation of it in flight → refused; every debit fits → takes all, writes the entry (the journal), its lease and the marks | answers `E` (the entry) |
//! | `fence.lua` | buyer | the entry exists → answered; else → fenced for the holder taking the post over | a fence rewritten for the same holder |
//! | `settle_sale.lua` | buyer | the counters named are the entry's debits (else refused); reserved or unconfirmed → state, refunds, final price, reason, lease and unconfirmed index, the marks sold / duplicate / removed, the entry's expiry (`kept_after_settling`); no entry and a release → tombstone | settled entries are final |
//! | `sweep_ledger.lua` | buyer | the due reservations the caller read and names: still leased, lease run out, still reserved → unconfirmed (debits kept), listed | idempotent |
//! | `claim.lua` | the claim key | the facts (same request, phase, own holder, lease running) → the step `pingpost_store::claim_step` gives them, handed over as its table: claim (fresh or resumed) or answer | its own holder is answered again |
//! | `complete_claim.lua`, `abandon_claim.lua` | the claim key | still in flight under this holder → answer stored / given up | idempotent; a holder that lost the claim changes nothing |
//! | `erase.lua` | identifier | (an earlier layout's sale marks: reservation in flight → kept); the rest → removed and counted | idempotent |
//! | `erase_bought.lua` | buyer | the buyer's marks on the identifier: reservation in flight → kept; the rest → removed and counted | idempotent |
//! | `suppress.lua` | identifier | not suppressed → suppressed since now, answered new | suppressed already: answered not new |
//! | `save_config.lua` | `pp:config` | the stamp still the one read (none stored, for the seed) → written with the next version and this write's id | its own id stored: answered |
//! | `top_up.lua` | buyer | the top-up id unknown → credit added, marker and books entry written; known with another buyer or amount → refused | the same top-up: answered applied |
//! | `open_return.lua`, `decide_return.lua` (sharing `returns.lua`) | buyer | the asking buyer's sale, sold or unconfirmed, inside its window, no return yet, under the rate cap → the return; approved → the sale `T`, the refund credited, the books entries | a return (its token) or decision already there: answered as it stands |
//! | `park_outbox.lua` | buyer | entries still waiting in the outbox → moved to the parked ones, with why | an entry not waiting is left alone |
//! | `put_secret.lua`, `delete_secret.lua` | `{secrets}` | at most `MAX_SECRETS` names → written / removed, with the set's stamp | its own `rev` found: answered as before |
//! | `zset_page.lua` | any zset | (read only) a page after a cursor that names a place, not a rank | — |
//!
//! The scripts that move money (`settle_sale.lua`, `sweep_ledger.lua`, `top_up.lua`, the
//! returns') are prepended with `books.lua`: the movement's books entry goes to the outbox
//! (`HSETNX`) in the same step as the movement, once however often the script is re-sent.

use redis::{Cmd, Script, ScriptInvocation, ToRedisArgs};

pub struct Scripts {
    pub admit: Script,
    pub confirm_admission: Script,
    pub release_admission: Script,
    pub record_dq: Script,
    pub reserve_sale: Script,
    pub settle_sale: Script,
    pub fence: Script,
    pub sweep_ledger: Script,
    pub top_up: Script,
    pub open_return: Script,
    pub decide_return: Script,
    pub claim: Script,
    pub complete_claim: Script,
    pub abandon_claim: Script,
    pub erase: Script,
    pub erase_bought: Script,
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
            admit: script(include_str!("lua/admit.lua")),
            confirm_admission: script(include_str!("lua/confirm_admission.lua")),
            release_admission: script(include_str!("lua/release_admission.lua")),
            record_dq: script(include_str!("lua/record_dq.lua")),
            reserve_sale: script(include_str!("lua/reserve_sale.lua")),
            settle_sale: with_books(include_str!("lua/settle_sale.lua")),
            fence: script(include_str!("lua/fence.lua")),
            sweep_ledger: with_books(include_str!("lua/sweep_ledger.lua")),
            top_up: with_books(include_str!("lua/top_up.lua")),
            open_return: with_returns(include_str!("lua/open_return.lua")),
            decide_return: with_returns(include_str!("lua/decide_return.lua")),
            claim: script(include_str!("lua/claim.lua")),
            complete_claim: script(include_str!("lua/complete_claim.lua")),
            abandon_claim: script(include_str!("lua/abandon_claim.lua")),
            erase: script(include_str!("lua/erase.lua")),
            erase_bought: script(include_str!("lua/erase_bought.lua")),
            suppress: script(include_str!("lua/suppress.lua")),
            save_config: script(include_str!("lua/save_config.lua")),
            audit_append: script(include_str!("lua/audit_append.lua")),
            stats_add: script(include_str!("lua/stats_add.lua")),
            park_outbox: script(include_str!("lua/park_outbox.lua")),
            zset_page: script(include_str!("lua/zset_page.lua")),
            put_secret: script(include_str!("lua/put_secret.lua")),
            delete_secret: script(include_str!("lua/delete_secret.lua")),
        }
    }
}

/// A script that moves money, with the shared books helpers (`lua/books.lua`) before it.
/// Every script starts with the prelude: its argument check and the one codec of marks.
fn script(body: &str) -> Script {
    Script::new(&format!("{PRELUDE}{body}"))
}

const PRELUDE: &str = include_str!("lua/prelude.lua");

fn with_books(body: &str) -> Script {
    script(&format!("{}{body}", include_str!("lua/books.lua")))
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::decode_mark;
    use pingpost_core::checkpoint::SaleState;

    /// Every file of `lua/`, read from disk so that a script added later is checked too.
    fn lua_files() -> Vec<(String, String)> {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/lua");
        let mut files: Vec<(String, String)> = std::fs::read_dir(&dir)
            .expect("src/lua")
            .map(|e| {
                let path = e.expect("a directory entry").path();
                let name = path.file_name().expect("a file name").to_string_lossy().into_owned();
                let text = std::fs::read_to_string(&path).expect("a readable script");
                (name, text)
            })
            .collect();
        files.sort();
        files
    }

    /// Prepended pieces, not scripts of their own.
    const PIECES: [&str; 3] = ["prelude.lua", "books.lua", "returns.lua"];

    #[test]
    fn every_script_checks_its_keys_and_arguments_before_anything_else() {
        let scripts: Vec<_> = lua_files().into_iter().filter(|(name, _)| !PIECES.contains(&name.as_str())).collect();
        assert!(scripts.len() >= 24, "found only {} scripts", scripts.len());
        for (name, text) in scripts {
            let stem = name.trim_end_matches(".lua");
            let code: Vec<&str> = text.lines().filter(|l| !l.starts_with("--") && !l.trim().is_empty()).collect();
            // reserve_sale and settle_sale read their group counts first, to check the groups' shape.
            let check = code.iter().position(|l| l.starts_with("expect(") || l.starts_with("expect_at_least("));
            let first = match (stem, check) {
                ("reserve_sale", Some(2)) | ("settle_sale", Some(1)) | (_, Some(0)) => code[check.unwrap_or(0)],
                _ => panic!("{name} does not begin by checking its keys and arguments"),
            };
            assert!(first.contains(&format!("'{stem}'")), "{name} names itself in its check: {first}");
        }
    }

    #[test]
    fn marks_are_parsed_and_written_only_by_the_prelude() {
        // The patterns and concatenations of a mark's parts ('<at>|<state>|...').
        let forms = ["'^%-?%d+|", "'^(%-?%d+)|", "'|R|'", "'|||'"];
        for (name, text) in lua_files() {
            if name == "prelude.lua" {
                continue;
            }
            for form in forms {
                assert!(!text.contains(form), "{name} handles a mark's format itself ({form}): use prelude.lua");
            }
        }
    }

    async fn connection(server: &pingpost_testkit::RedisServer) -> redis::aio::MultiplexedConnection {
        redis::Client::open(server.url())
            .expect("client")
            .get_multiplexed_async_connection()
            .await
            .expect("a connection to the test's Redis")
    }

    #[tokio::test]
    async fn a_script_sent_a_missing_argument_is_refused_and_writes_nothing() {
        let server = pingpost_testkit::RedisServer::start();
        let mut con = connection(&server).await;
        let scripts = Scripts::new();
        // fence without how long it lasts (1 argument of 2).
        let mut call = ScriptCall::new(&scripts.fence);
        call.key("t:{c}:sale").arg("h2");
        let refused: redis::RedisResult<redis::Value> = call.invocation().invoke_async(&mut con).await;
        let err = refused.expect_err("a call one argument short is refused");
        assert!(
            err.to_string().contains("fence: expected 1 keys and 2 arguments, got 1 and 1"),
            "the refusal says which script and what it expected: {err}"
        );
        let exists: i64 = redis::cmd("EXISTS").arg("t:{c}:sale").query_async(&mut con).await.expect("EXISTS");
        assert_eq!(exists, 0, "nothing was written");

        // reserve_sale with a debit group cut short.
        let mut call = ScriptCall::new(&scripts.reserve_sale);
        call.key("t:{l}:sale").key("t:{l}:leases").key("t:{l}:bought").key("t:{l}:ctr");
        for a in ["s1", "2000", "9000", "{}", "", "100", "h", "90", "b1", "1000", "", "1", "1", "100", "500", "1"] {
            call.arg(a);
        }
        let refused: redis::RedisResult<redis::Value> = call.invocation().invoke_async(&mut con).await;
        assert!(refused.is_err(), "a debit group of 3 arguments of 5 is refused");
        let keys: Vec<String> = redis::cmd("KEYS").arg("t:*").query_async(&mut con).await.expect("KEYS");
        assert!(keys.is_empty(), "nothing was written: {keys:?}");
    }

    #[tokio::test]
    async fn the_lua_and_rust_codecs_read_a_sale_mark_alike() {
        let server = pingpost_testkit::RedisServer::start();
        let mut con = connection(&server).await;
        // A buyer id may hold the separator: it comes last.
        let body = "local m = sale_mark(encode_sale_mark('1700000000000', 'R', '1700000005000', 'h-1', 'b|x')) \
                    return {encode_sale_mark('1700000000000', 'R', '1700000005000', 'h-1', 'b|x'), m.state, \
                    tostring(m.lease), m.holder, m.buyer, tostring(in_flight(m, 1700000004999)), \
                    tostring(in_flight(m, 1700000005000))}";
        let answer: Vec<String> =
            redis::cmd("EVAL").arg(format!("{PRELUDE}{body}")).arg(0).query_async(&mut con).await.expect("EVAL");
        assert_eq!(&answer[1..], ["R", "1700000005000", "h-1", "b|x", "true", "false"]);
        let rust = decode_mark(&answer[0]).expect("Rust reads what Lua wrote");
        assert_eq!(rust.state, Some(SaleState::Reserved));
        assert_eq!(rust.buyer, "b|x");
        assert_eq!(rust.at.timestamp_millis(), 1_700_000_000_000);
        assert_eq!(rust.lease_until.map(|t| t.timestamp_millis()), Some(1_700_000_005_000));
    }
}
