//! The window what-if (SPEC "Repeat leads, the window what-if and the lead event log"): how a
//! range of days' pings would have gone with another window, from the event log's rollup —
//! live state is never read nor touched. The arithmetic is `pingpost_core::whatif`'s.

use crate::{Engine, EngineError};
use chrono::NaiveDate;
use pingpost_core::ids::{ContractId, VerticalId};
use pingpost_core::whatif::{repeat_change, window_change, Scope, WhatIf};
use pingpost_core::window::WindowDays;

/// Which window is asked about, and its value asked (`None`: off).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WhatIfChange {
    /// A contract's dedup window (checkpoint 4); off is dedup off.
    ContractWindow(ContractId, Option<WindowDays>),
    /// A vertical's dedup window (checkpoint 2).
    VerticalWindow(VerticalId, WindowDays),
    /// A vertical's `repeat_after_days`; off is no repeats.
    VerticalRepeat(VerticalId, Option<WindowDays>),
}

/// The answer: the setting in force and the one asked about, the days counted, the figures.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct WhatIfAnswer {
    /// `contract` or `vertical`.
    pub scope: &'static str,
    /// The contract's or vertical's id.
    pub id: String,
    /// `window_days` or `repeat_after_days`.
    pub setting: &'static str,
    /// The setting in force (null: off).
    pub now: Option<u16>,
    /// The setting asked about (null: off).
    pub asked: Option<u16>,
    /// The first UTC day counted and the first not counted.
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = Date))]
    pub since: NaiveDate,
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = Date))]
    pub until: NaiveDate,
    #[serde(flatten)]
    pub figures: WhatIf,
    /// What the figures leave out.
    pub note: &'static str,
}

/// Said with every answer: the figures are first-order.
pub const FIRST_ORDER: &str = "First-order: a ping newly allowed is not assumed to have sold, nor to have blocked the \
consumer's later pings; revenue is that of the sales the new setting would have stopped. A contract's window \
counts its buyer's purchases, a vertical's the consumer's submissions; a contract taking repeats blocks only \
below its repeat after_days.";

fn no_such(what: &'static str, id: &str) -> EngineError {
    let code = if what == "contract" { "unknown_contract" } else { "unknown_vertical" };
    EngineError::NotFound { code, message: format!("no {what} {id:?}") }
}

impl Engine {
    /// The what-if of `change` over the UTC days `[since, until)`.
    pub async fn what_if(
        &self,
        change: WhatIfChange,
        since: NaiveDate,
        until: NaiveDate,
    ) -> Result<WhatIfAnswer, EngineError> {
        // What this node answered last is counted too; if it cannot be moved now, the answer
        // counts what the log holds.
        if let Err(e) = self.relay_events().await {
            tracing::debug!(error = %e, "what-if read before the latest events reached the log");
        }
        let config = self.config();
        let (scope, id, setting, now, asked, blocks_now, blocks_with) = match &change {
            WhatIfChange::ContractWindow(id, asked) => {
                let c = config.contracts.get(id).ok_or_else(|| no_such("contract", id.as_str()))?;
                let now = c.dedup.enabled.then_some(c.dedup.window);
                // A contract taking repeats stops only the consumers bought more recently.
                let blocking = |w: Option<WindowDays>| match &c.repeat {
                    Some(r) => w.map(|w| w.min(r.after)),
                    None => w,
                };
                ("contract", id.to_string(), "window_days", now, *asked, blocking(now), blocking(*asked))
            }
            WhatIfChange::VerticalWindow(id, asked) => {
                let v = config.verticals.get(id).ok_or_else(|| no_such("vertical", id.as_str()))?;
                let blocking = |w: WindowDays| Some(v.repeat_after.map_or(w, |r| r.min(w)));
                let now = v.dedup_window;
                ("vertical", id.to_string(), "window_days", Some(now), Some(*asked), blocking(now), blocking(*asked))
            }
            WhatIfChange::VerticalRepeat(id, asked) => {
                let v = config.verticals.get(id).ok_or_else(|| no_such("vertical", id.as_str()))?;
                if asked.is_some_and(|r| r >= v.dedup_window) {
                    let message =
                        format!("must be shorter than the vertical's window of {} days", v.dedup_window.days());
                    return Err(EngineError::invalid("repeat_after_days", message));
                }
                let rows = self.events.gap_counts(Scope::Vertical, id.to_string(), since, until).await?;
                let figures = repeat_change(&rows, v.dedup_window, v.repeat_after, *asked);
                return Ok(WhatIfAnswer {
                    scope: "vertical",
                    id: id.to_string(),
                    setting: "repeat_after_days",
                    now: v.repeat_after.map(WindowDays::days),
                    asked: asked.map(WindowDays::days),
                    since,
                    until,
                    figures,
                    note: FIRST_ORDER,
                });
            }
        };
        let scope_code = if scope == "contract" { Scope::Contract } else { Scope::Vertical };
        let rows = self.events.gap_counts(scope_code, id.clone(), since, until).await?;
        Ok(WhatIfAnswer {
            scope,
            id,
            setting,
            now: now.map(WindowDays::days),
            asked: asked.map(WindowDays::days),
            since,
            until,
            figures: window_change(&rows, blocks_now, blocks_with),
            note: FIRST_ORDER,
        })
    }
}
