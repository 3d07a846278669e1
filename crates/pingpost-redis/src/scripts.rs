//! The Lua scripts, loaded once per process. `redis::Script` sends EVALSHA and, on
//! NOSCRIPT (a restarted or new node), loads the script and retries.

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
