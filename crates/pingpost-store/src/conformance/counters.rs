//! What every [`Counters`] must do: absent counters read 0, in the order asked.

use super::*;

/// Runs every check of the concern, each on a fresh (empty) store from `make`.
pub async fn run_all<S, F, Fut>(make: F)
where
    S: Store,
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Arc<S>>,
{
    absent_counters_read_zero_in_the_order_asked(&*make().await).await;
}

/// Absent counters read 0, and a read answers in the order asked, repeats included.
async fn absent_counters_read_zero_in_the_order_asked<S: Store + ?Sized>(s: &S) {
    assert_eq!(s.read_counters(vec![]).await.expect("counters"), Vec::<i64>::new());
    assert_eq!(counters(s).await, [0, 0], "nothing taken yet");
    let r = reservation("c1", vec![email("c")], Some(days(30)), vec![cap(5), spend(5000)], t0());
    assert_eq!(reserve(s, r).await, ReserveOutcome::Reserved);
    let keys = vec![spend(0).key, "absent".to_string(), cap(0).key, spend(0).key];
    assert_eq!(s.read_counters(keys).await.expect("counters"), [1000, 0, 1, 1000]);
}
