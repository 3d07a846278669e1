//! What every [`ConfigDocs`] must do: compare-and-set writes, one winner of a race, re-sent writes answered again.

use super::*;

/// Runs every check of the concern, each on a fresh (empty) store from `make`.
pub async fn run_all<S, F, Fut>(make: F)
where
    S: ConfigDocs + 'static,
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Arc<S>>,
{
    config_writes_are_compare_and_set(&*make().await).await;
    concurrent_config_writes_apply_exactly_one(make().await).await;
}

async fn config_writes_are_compare_and_set<S: ConfigDocs + ?Sized>(s: &S) {
    let stamp = |version: u64, rev: &str| ConfigStamp { version, rev: rev.into() };
    let save = |expected: Option<ConfigStamp>, rev: &str, body: &str| {
        let (rev, body) = (rev.to_string(), body.as_bytes().to_vec());
        async move { s.save_config(expected, rev, body).await.expect("save") }
    };
    assert_eq!(s.config().await.expect("config"), None);
    assert_eq!(s.config_stamp().await.expect("stamp"), None);
    assert_eq!(save(Some(stamp(1, "lost")), "r0", "edit").await, None, "an edit of a document that is gone");
    assert_eq!(s.config().await.expect("config"), None, "is no document");

    let one = save(None, "r1", "one").await;
    assert_eq!(one, Some(stamp(1, "r1")));
    assert_eq!(save(None, "r1", "one").await, one, "a re-sent first write is its own");
    assert_eq!(save(None, "r2", "seed").await, None, "a document is stored already");
    let two = save(one.clone(), "r2", "two").await;
    assert_eq!(two, Some(stamp(2, "r2")));
    assert_eq!(save(one.clone(), "r2", "two").await, two, "a re-sent write is its own");
    assert_eq!(save(one, "r3", "other").await, None, "a stale write is refused");
    assert_eq!(save(Some(stamp(2, "lost")), "r3", "other").await, None, "another write of the same version");
    assert_eq!(s.config().await.expect("config"), Some(ConfigDoc { stamp: stamp(2, "r2"), body: b"two".to_vec() }));
    assert_eq!(s.config_stamp().await.expect("stamp"), two);
}

async fn concurrent_config_writes_apply_exactly_one<S: ConfigDocs + 'static>(s: Arc<S>) {
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..10 {
        let s = Arc::clone(&s);
        tasks.spawn(async move { s.save_config(None, format!("r{i}"), format!("doc {i}").into_bytes()).await });
    }
    let won: Vec<ConfigStamp> = tasks.join_all().await.into_iter().filter_map(|r| r.expect("save")).collect();
    assert_eq!(won.len(), 1, "{won:?}");
    assert_eq!(s.config_stamp().await.expect("stamp").as_ref(), won.first());
}
