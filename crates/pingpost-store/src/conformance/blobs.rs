//! What every [`Blobs`] must do: values read back until they expire.

use super::*;

/// Runs every check of the concern, each on a fresh (empty) store from `make`.
pub async fn run_all<S, F, Fut>(make: F)
where
    S: Blobs,
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Arc<S>>,
{
    blobs_expire(&*make().await).await;
}

async fn blobs_expire<S: Blobs + ?Sized>(s: &S) {
    s.put_blob("ping:1".into(), b"x".to_vec(), t0(), t0() + Duration::seconds(300)).await.expect("put");
    assert_eq!(s.get_blob("ping:1".into(), t0()).await.expect("get"), Some(b"x".to_vec()));
    assert_eq!(s.get_blob("ping:1".into(), t0() + Duration::seconds(300)).await.expect("get"), None);
}
