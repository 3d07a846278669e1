//! The Lua scripts, loaded once per process. `redis::Script` sends EVALSHA and, on
//! NOSCRIPT (a restarted or new node), loads the script and retries.

use redis::Script;

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
    pub due_marks: Script,
    pub claim: Script,
    pub complete_claim: Script,
    pub abandon_claim: Script,
    pub erase: Script,
    pub save_config: Script,
    pub audit_append: Script,
    pub stats_add: Script,
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
            settle_ledger: Script::new(include_str!("lua/settle_ledger.lua")),
            sweep_ledger: Script::new(include_str!("lua/sweep_ledger.lua")),
            due_marks: Script::new(include_str!("lua/due_marks.lua")),
            claim: Script::new(include_str!("lua/claim.lua")),
            complete_claim: Script::new(include_str!("lua/complete_claim.lua")),
            abandon_claim: Script::new(include_str!("lua/abandon_claim.lua")),
            erase: Script::new(include_str!("lua/erase.lua")),
            save_config: Script::new(include_str!("lua/save_config.lua")),
            audit_append: Script::new(include_str!("lua/audit_append.lua")),
            stats_add: Script::new(include_str!("lua/stats_add.lua")),
        }
    }
}
