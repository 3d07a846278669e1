//! Failpoints: named points at every step boundary of the store's work — each trait method
//! (`store.<op>`, applied by the [`Timed`](crate::Timed) decorator for every store), each
//! script of a multi-step Redis operation (`redis.<script>[.<identifier kind>]`) and the
//! engine's own boundaries (`post.delivered`) — where a test makes that step fail in one of
//! the three ways a real deployment fails (see [`Fault`]).
//!
//! They exist only in builds with the `failpoints` feature, which only tests turn on: without
//! it [`Faults`] is an empty type and [`Faults::step`] compiles down to running the step.
//!
//! The sale guarantees are tested against faults at four levels, each ending with
//! `invariants::assert_holds` over the whole store: the conformance suite (re-sent calls,
//! lapsed leases, tombstones, slots, erasure in flight) on every store; the workspace's
//! `tests/faults.rs`, every failpoint with every fault at each of its first three reaches, on
//! the embedded store, Redis and a 3-master cluster; `tests/chaos.rs`, a seeded random run of
//! two nodes on Redis; and `tests/crash.rs`, real processes killed with SIGKILL (an engine
//! mid-post, Redis itself) and Redis frozen with SIGSTOP.

use crate::StoreResult;
use std::future::Future;

/// How a step fails.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// The step is not applied and the call fails as if the store could not be reached.
    Error,
    /// The step is applied, then its reply is lost: the call fails though the store changed
    /// (a timeout after Redis ran the script, a connection cut before the answer).
    DropReply,
    /// The step is applied, then the request dies on the spot, as if its process had been
    /// killed: nothing after the step runs, no compensation included. In tests the task
    /// panics; in the binary the process aborts.
    Abort,
}

impl Fault {
    pub const ALL: [Fault; 3] = [Fault::Error, Fault::DropReply, Fault::Abort];

    pub fn as_str(self) -> &'static str {
        match self {
            Fault::Error => "error",
            Fault::DropReply => "drop_reply",
            Fault::Abort => "abort",
        }
    }
}

/// The failpoints of one store or engine (tests run many side by side, so there is no
/// process-wide registry). Cloning shares the registry.
#[derive(Clone, Default)]
pub struct Faults {
    #[cfg(feature = "failpoints")]
    registry: Option<std::sync::Arc<registry::Registry>>,
}

impl std::fmt::Debug for Faults {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Faults")
    }
}

impl Faults {
    /// No failpoints (production).
    pub fn none() -> Self {
        Faults::default()
    }

    /// Failpoints armed from a spec such as `store.reserve_sale=drop_reply*1,post.delivered=abort`
    /// (see `arm_spec`), whose aborts run `on_abort`: how the binary reads
    /// `PINGPOST_FAILPOINTS`. A build without the `failpoints` feature refuses any spec.
    pub fn from_spec(spec: &str, on_abort: Box<dyn Fn(&str) + Send + Sync>) -> Result<Faults, String> {
        #[cfg(feature = "failpoints")]
        {
            let faults = Faults::with_abort(on_abort);
            faults.arm_spec(spec).map_err(|e| e.to_string())?;
            Ok(faults)
        }
        #[cfg(not(feature = "failpoints"))]
        {
            let _ = on_abort;
            Err(format!("failpoints {spec:?} given, but this build has none (they exist only in test builds)"))
        }
    }

    /// Runs one step of store work under the failpoint `name`. The step is a closure, not a
    /// future, because some stores do their work when called rather than when polled: a step
    /// that must not apply is then never called.
    #[inline]
    pub async fn step<T, F: Future<Output = StoreResult<T>>>(
        &self,
        name: &'static str,
        op: impl FnOnce() -> F,
    ) -> StoreResult<T> {
        #[cfg(feature = "failpoints")]
        if let Some(registry) = &self.registry {
            return registry.step(name, op).await;
        }
        #[cfg(not(feature = "failpoints"))]
        let _ = name;
        op().await
    }

    /// A boundary of the engine's own work, where only a crash makes sense (the lead has
    /// left for the buyer, nothing is settled yet).
    #[inline]
    pub fn crash_point(&self, name: &'static str) {
        #[cfg(feature = "failpoints")]
        if let Some(registry) = &self.registry {
            registry.crash_point(name);
        }
        #[cfg(not(feature = "failpoints"))]
        let _ = name;
    }
}

#[cfg(feature = "failpoints")]
pub use registry::FaultSpecError;

#[cfg(feature = "failpoints")]
mod registry {
    use super::{Fault, Faults};
    use crate::{StoreError, StoreResult};
    use std::collections::HashMap;
    use std::future::Future;
    use std::sync::{Arc, Mutex, MutexGuard};

    #[derive(Debug)]
    struct Armed {
        fault: Fault,
        /// Reaches of the point to let pass before the first firing.
        skip: u32,
        /// Firings left.
        times: u32,
    }

    type OnAbort = Box<dyn Fn(&str) + Send + Sync>;

    pub(super) struct Registry {
        armed: Mutex<HashMap<String, Armed>>,
        reached: Mutex<HashMap<String, u64>>,
        fired: Mutex<HashMap<String, u64>>,
        /// Woken at every reach, for tests awaiting a step of another task.
        progress: tokio::sync::Notify,
        on_abort: OnAbort,
    }

    fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
        m.lock().unwrap_or_else(|p| p.into_inner())
    }

    #[derive(Debug, thiserror::Error)]
    #[error("failpoint spec {0:?}: expected name=error|drop_reply|abort[*times][+skip], comma-separated")]
    pub struct FaultSpecError(String);

    impl Registry {
        fn fire(&self, name: &str) -> Option<Fault> {
            *lock(&self.reached).entry(name.to_string()).or_default() += 1;
            self.progress.notify_waiters();
            let mut armed = lock(&self.armed);
            let point = armed.get_mut(name)?;
            if point.skip > 0 {
                point.skip -= 1;
                return None;
            }
            if point.times == 0 {
                return None;
            }
            point.times -= 1;
            let fault = point.fault;
            drop(armed);
            *lock(&self.fired).entry(name.to_string()).or_default() += 1;
            Some(fault)
        }

        fn abort(&self, name: &str) -> ! {
            (self.on_abort)(name);
            panic!("failpoint {name}: request aborted");
        }

        pub(super) async fn step<T, F: Future<Output = StoreResult<T>>>(
            &self,
            name: &str,
            op: impl FnOnce() -> F,
        ) -> StoreResult<T> {
            match self.fire(name) {
                None => op().await,
                Some(Fault::Error) => Err(StoreError::Unavailable(format!("failpoint {name}: not applied"))),
                Some(Fault::DropReply) => {
                    let _applied = op().await;
                    Err(StoreError::Unavailable(format!("failpoint {name}: reply lost")))
                }
                Some(Fault::Abort) => {
                    let _applied = op().await;
                    self.abort(name)
                }
            }
        }

        pub(super) fn crash_point(&self, name: &str) {
            if self.fire(name).is_some() {
                self.abort(name);
            }
        }
    }

    impl Faults {
        /// An empty registry whose aborts panic (the request's task dies, the test goes on).
        pub fn new() -> Self {
            Self::with_abort(Box::new(|_| {}))
        }

        /// An empty registry whose aborts run `on_abort` first (the binary aborts the process).
        pub fn with_abort(on_abort: Box<dyn Fn(&str) + Send + Sync>) -> Self {
            Faults {
                registry: Some(Arc::new(Registry {
                    armed: Mutex::new(HashMap::new()),
                    reached: Mutex::new(HashMap::new()),
                    fired: Mutex::new(HashMap::new()),
                    progress: tokio::sync::Notify::new(),
                    on_abort,
                })),
            }
        }

        /// Makes the next `times` reaches of `name`, after `skip` reaches that pass, fail.
        pub fn arm(&self, name: &str, fault: Fault, times: u32, skip: u32) {
            if let Some(r) = &self.registry {
                lock(&r.armed).insert(name.to_string(), Armed { fault, skip, times });
            }
        }

        pub fn disarm_all(&self) {
            if let Some(r) = &self.registry {
                lock(&r.armed).clear();
            }
        }

        /// How often `name` was reached (fired or not): a test proves its point was on the
        /// path it drove, so it cannot pass by never reaching it.
        pub fn reached(&self, name: &str) -> u64 {
            self.registry.as_ref().map_or(0, |r| lock(&r.reached).get(name).copied().unwrap_or(0))
        }

        /// Resolves once `name` has been reached `times` times: a test awaits a step of a
        /// call running in another task instead of sleeping. Never resolves without a
        /// registry, or if the point is not reached that often (the test's own timeout
        /// then fails it).
        pub async fn reached_times(&self, name: &str, times: u64) {
            let Some(r) = &self.registry else { return std::future::pending().await };
            loop {
                // Registered before the count is read, so a reach in between still wakes it.
                let woken = r.progress.notified();
                if self.reached(name) >= times {
                    return;
                }
                woken.await;
            }
        }

        /// How often `name` fired.
        pub fn fired(&self, name: &str) -> u64 {
            self.registry.as_ref().map_or(0, |r| lock(&r.fired).get(name).copied().unwrap_or(0))
        }

        /// Every point reached so far, sorted.
        pub fn points_reached(&self) -> Vec<String> {
            let mut names: Vec<String> =
                self.registry.as_ref().map(|r| lock(&r.reached).keys().cloned().collect()).unwrap_or_default();
            names.sort();
            names
        }

        /// Arms points from a spec such as `store.reserve_sale=drop_reply*1,post.delivered=abort+2`
        /// (`*times`, default 1; `+skip`, default 0), as the binary reads `PINGPOST_FAILPOINTS`.
        pub fn arm_spec(&self, spec: &str) -> Result<(), FaultSpecError> {
            for part in spec.split(',').map(str::trim).filter(|p| !p.is_empty()) {
                let bad = || FaultSpecError(part.to_string());
                let (name, rest) = part.split_once('=').ok_or_else(bad)?;
                let (rest, skip) = match rest.split_once('+') {
                    Some((r, s)) => (r, s.parse().map_err(|_| bad())?),
                    None => (rest, 0),
                };
                let (fault, times) = match rest.split_once('*') {
                    Some((f, t)) => (f, t.parse().map_err(|_| bad())?),
                    None => (rest, 1),
                };
                let fault = Fault::ALL.into_iter().find(|f| f.as_str() == fault).ok_or_else(bad)?;
                self.arm(name.trim(), fault, times, skip);
            }
            Ok(())
        }
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[tokio::test]
        async fn points_fire_as_armed_and_count_their_reaches() {
            let f = Faults::new();
            f.arm_spec("a=error*2+1, b=drop_reply").expect("valid spec");
            let ok = || async { Ok::<_, StoreError>(7) };
            assert_eq!(f.step("a", ok).await.ok(), Some(7), "skipped once");
            assert!(f.step("a", ok).await.is_err());
            assert!(f.step("a", ok).await.is_err());
            assert_eq!(f.step("a", ok).await.ok(), Some(7), "fired twice, then passes");
            let applied = std::sync::atomic::AtomicBool::new(false);
            let r = f
                .step("b", || async {
                    applied.store(true, std::sync::atomic::Ordering::SeqCst);
                    Ok::<_, StoreError>(())
                })
                .await;
            assert!(r.is_err() && applied.load(std::sync::atomic::Ordering::SeqCst), "applied, reply lost");
            assert_eq!((f.reached("a"), f.fired("a"), f.fired("b"), f.reached("c")), (4, 2, 1, 0));
            assert!(f.arm_spec("x=explode").is_err());
        }
    }
}
