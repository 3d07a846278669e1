//! The strict buyers' own records: the ids they issued and the auctions `crestline` opened.

use super::check::Refusal;
use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

/// The strict buyers' own records, kept as a buyer's database would.
#[derive(Default)]
pub(crate) struct Registry {
    records: Mutex<Records>,
}

#[derive(Default)]
struct Records {
    /// The last number issued per id prefix: ids are `PREFIX-000001`, in order, so a test
    /// knows them in advance.
    issued: HashMap<&'static str, u64>,
    auctions: HashMap<String, Auction>,
    /// Auction ids oldest first, so a long-running demo forgets the oldest.
    opened: VecDeque<String>,
}

struct Auction {
    price: String,
    sandbox: bool,
    posted: bool,
}

/// Auctions a buyer remembers; a post for an older one is refused as unknown, as a real
/// buyer's expired auction would be.
const AUCTIONS_KEPT: usize = 100_000;

impl Registry {
    fn records(&self) -> std::sync::MutexGuard<'_, Records> {
        self.records.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The next id of a series (`CL` → `CL-000001`), `T` in front for the sandbox.
    pub(crate) fn issue(&self, prefix: &'static str, sandbox: bool) -> String {
        let mut records = self.records();
        issue(&mut records, prefix, sandbox)
    }

    /// Opens an auction at `price` and answers its id. A sandbox auction is never known to
    /// the live endpoint, nor the reverse.
    pub(crate) fn open_auction(&self, prefix: &'static str, sandbox: bool, price: &str) -> String {
        let mut records = self.records();
        let id = issue(&mut records, prefix, sandbox);
        records.auctions.insert(id.clone(), Auction { price: price.to_string(), sandbox, posted: false });
        records.opened.push_back(id.clone());
        if records.opened.len() > AUCTIONS_KEPT {
            if let Some(oldest) = records.opened.pop_front() {
                records.auctions.remove(&oldest);
            }
        }
        id
    }

    /// Marks an auction posted and answers the price bid in it: once only, and only an
    /// auction opened on the same (live or sandbox) endpoint.
    pub(crate) fn post_auction(&self, field: &str, id: &str, sandbox: bool) -> Result<String, Refusal> {
        let mut records = self.records();
        match records.auctions.get_mut(id).filter(|a| a.sandbox == sandbox) {
            None => Err(Refusal::invalid(field, "is not an auction this buyer opened")),
            Some(auction) if auction.posted => Err(Refusal::conflict(field, "was already posted")),
            Some(auction) => {
                auction.posted = true;
                Ok(auction.price.clone())
            }
        }
    }
}

fn issue(records: &mut Records, prefix: &'static str, sandbox: bool) -> String {
    let n = records.issued.entry(prefix).or_insert(0);
    *n += 1;
    format!("{}{prefix}-{n:06}", if sandbox { "T" } else { "" })
}
