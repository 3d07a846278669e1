//! Returns of sold leads: a buyer's (or an operator's on its behalf) and the operator's
//! decision. The configuration decides what may be asked (the reason, the sale's policy);
//! the store checks the rest and writes the return, its refund and its books entries in one
//! atomic step, so concurrent requests, a second node or a re-sent request cannot return a
//! sale twice or pass a buyer's rate cap.

use crate::{Engine, EngineError};
use pingpost_books::{EntryKind, EntryQuery};
use pingpost_core::ids::BuyerId;
use pingpost_store::{DecideOutcome, LedgerQuery, ReturnOutcome, ReturnQuery, ReturnRecord, ReturnRequest};

/// Who asks for a return.
#[derive(Clone, Debug)]
pub enum Returner {
    /// A buyer, for one of its own sales only: another's sale is as good as unknown.
    Buyer(BuyerId),
    /// The operator, for any sale, on behalf of the sale's buyer.
    Operator,
}

#[derive(Clone, Debug)]
pub struct ReturnAsk {
    pub sale_id: String,
    pub reason: String,
    pub note: Option<String>,
    /// The client's idempotency key: a re-sent request with the same key answers the return
    /// it opened; without one, a fresh token (a retry then gets `already_returned`).
    pub token: String,
}

impl Engine {
    pub async fn open_return(&self, who: Returner, ask: ReturnAsk) -> Result<ReturnRecord, EngineError> {
        let config = self.config();
        let Some(reason) = config.return_reasons.get(&ask.reason) else {
            let known: Vec<&str> = config.return_reasons.keys().map(String::as_str).collect();
            return Err(EngineError::invalid(
                "reason",
                format!("is not a return reason; use one of {}", known.join(", ")),
            ));
        };
        let unknown = || EngineError::NotFound { code: "unknown_sale", message: format!("no sale {:?}", ask.sale_id) };
        let Some(sale) = self.store.ledger(LedgerQuery::Sale(ask.sale_id.clone())).await?.pop() else {
            return Err(self.sale_gone_from_the_store(&who, &ask.sale_id).await?.unwrap_or_else(unknown));
        };
        if matches!(&who, Returner::Buyer(b) if *b != sale.buyer) {
            return Err(unknown());
        }
        let policy = config.return_policy(&sale.contract);
        let req = ReturnRequest {
            sale_id: ask.sale_id.clone(),
            buyer: sale.buyer.clone(),
            reason: reason.id.clone(),
            claw_back: reason.claw_back,
            note: ask.note,
            window: policy.window,
            max_rate: policy.max_rate,
            approve: policy.auto_approve,
            at: self.now(),
            token: ask.token,
        };
        let refused = |code, message: String| Err(EngineError::Refused { code, message });
        match self.store.open_return(req).await? {
            ReturnOutcome::Opened(r) => {
                tracing::info!(return_id = %r.return_id, buyer = %r.buyer, status = r.status.as_str(), "return opened");
                Ok(*r)
            }
            ReturnOutcome::NoSuchSale => Err(unknown()),
            ReturnOutcome::NotReturnable(state) => refused(
                "not_returnable",
                format!("sale {:?} is {}: only a sold lead is returned", ask.sale_id, state.as_str()),
            ),
            ReturnOutcome::WindowPassed => refused(
                "return_window_passed",
                format!("sale {:?} was sold more than {} days ago", ask.sale_id, policy.window.days()),
            ),
            ReturnOutcome::RateExceeded => refused(
                "return_rate_exceeded",
                format!(
                    "one more return would take the buyer's returns of the last 30 days over {} of its sales",
                    percent(policy.max_rate)
                ),
            ),
            ReturnOutcome::AlreadyReturned(r) => Err(EngineError::Conflict {
                code: "already_returned",
                message: format!(
                    "sale {:?} has a return already ({}, {})",
                    ask.sale_id,
                    r.return_id,
                    r.status.as_str()
                ),
            }),
        }
    }

    /// Why a sale the store no longer keeps cannot be returned: the store lets a charged
    /// sale go only after its return window (`kept_after_settling`), so a sale of the
    /// asker's the books hold is past its window. `None` when the books do not know it either.
    async fn sale_gone_from_the_store(
        &self,
        who: &Returner,
        sale_id: &str,
    ) -> Result<Option<EngineError>, EngineError> {
        let q = EntryQuery {
            sale_id: Some(sale_id.to_string()),
            kind: Some(EntryKind::Sale),
            limit: 1,
            ..EntryQuery::default()
        };
        let Some(sold) = self.books.entries(q).await?.entries.pop() else { return Ok(None) };
        if matches!(who, Returner::Buyer(b) if *b != sold.buyer) {
            return Ok(None);
        }
        Ok(Some(EngineError::Refused {
            code: "return_window_passed",
            message: format!("sale {sale_id:?} was sold on {}, past its return window", sold.at.format("%Y-%m-%d")),
        }))
    }

    /// An operator's decision on a pending return.
    pub async fn decide_return(
        &self,
        return_id: &str,
        approve: bool,
        note: Option<String>,
    ) -> Result<ReturnRecord, EngineError> {
        match self.store.decide_return(return_id.to_string(), approve, note, self.now()).await? {
            DecideOutcome::Decided(r) => {
                tracing::info!(return_id = %r.return_id, status = r.status.as_str(), "return decided");
                Ok(*r)
            }
            DecideOutcome::NoSuchReturn => {
                Err(EngineError::NotFound { code: "unknown_return", message: format!("no return {return_id:?}") })
            }
            DecideOutcome::AlreadyDecided(r) => Err(EngineError::Conflict {
                code: "already_decided",
                message: format!("return {return_id:?} was {} already: a decision is final", r.status.as_str()),
            }),
        }
    }

    pub async fn returns(&self, q: ReturnQuery) -> Result<Vec<ReturnRecord>, EngineError> {
        Ok(self.store.returns(q).await?)
    }
}

/// Hundredths of a percent as the operator wrote them: `2000` is `20.00%`.
fn percent(hundredths: u32) -> String {
    format!("{}.{:02}%", hundredths / 100, hundredths % 100)
}
