//! What every [`Claims`] must do: one holder at a time, answers remembered, leases taken over.

use super::*;

/// Runs every check of the concern, each on a fresh (empty) store from `make`.
pub async fn run_all<S, F, Fut>(make: F)
where
    S: Claims,
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Arc<S>>,
{
    claims_are_exclusive_and_remember_answers(&*make().await).await;
}

fn claim(key: &str, fp: &str, holder: &str, now: Timestamp) -> ClaimRequest {
    ClaimRequest {
        key: key.into(),
        fingerprint: fp.into(),
        holder: holder.into(),
        lease_until: now + Duration::seconds(30),
        keep_until: now + Duration::hours(1),
        now,
    }
}

async fn claims_are_exclusive_and_remember_answers<S: Claims + ?Sized>(s: &S) {
    let first = Claim::Claimed { resumed: false };
    let resumed = Claim::Claimed { resumed: true };
    assert_eq!(s.claim(claim("post:x", "f", "h1", t0())).await.ok(), Some(first.clone()));
    assert_eq!(s.claim(claim("post:x", "f", "h1", t0())).await.ok(), Some(first.clone()), "a re-sent claim");
    assert_eq!(s.claim(claim("post:x", "f", "h2", t0())).await.ok(), Some(Claim::InFlight));
    assert_eq!(s.claim(claim("post:x", "g", "h2", t0())).await.ok(), Some(Claim::Mismatch));
    let late = t0() + Duration::seconds(31);
    assert_eq!(
        s.claim(claim("post:x", "f", "h2", late)).await.ok(),
        Some(resumed.clone()),
        "a dead holder's lease ran out"
    );
    let keep = late + Duration::hours(1);
    s.complete_claim("post:x".into(), "h1".into(), b"stale".to_vec(), late, keep).await.expect("complete");
    assert_eq!(
        s.claim(claim("post:x", "f", "h3", late)).await.ok(),
        Some(Claim::InFlight),
        "only the holder completes"
    );
    s.complete_claim("post:x".into(), "h2".into(), b"answer".to_vec(), late, keep).await.expect("complete");
    s.complete_claim("post:x".into(), "h2".into(), b"answer".to_vec(), late, keep).await.expect("re-sent");
    assert_eq!(s.claim(claim("post:x", "f", "h3", late)).await.ok(), Some(Claim::Done(b"answer".to_vec())));

    assert_eq!(s.claim(claim("post:y", "f", "h1", t0())).await.ok(), Some(first));
    s.abandon_claim("post:y".into(), "h9".into()).await.expect("abandon");
    assert_eq!(s.claim(claim("post:y", "f", "h2", t0())).await.ok(), Some(Claim::InFlight), "only the holder abandons");
    s.abandon_claim("post:y".into(), "h1".into()).await.expect("abandon");
    let fresh = Claim::Claimed { resumed: false };
    assert_eq!(
        s.claim(claim("post:y", "g", "h2", t0())).await.ok(),
        Some(fresh.clone()),
        "a claim given up by the holder that took it fresh is gone, fingerprint and all"
    );
    // Taken over from h2 once its lease ran out, then given up: the next one must read what
    // h2 and h3 did, so it resumes.
    let late = t0() + Duration::minutes(10);
    assert_eq!(s.claim(claim("post:y", "g", "h3", late)).await.ok(), Some(resumed.clone()));
    s.abandon_claim("post:y".into(), "h3".into()).await.expect("abandon");
    assert_eq!(s.claim(claim("post:y", "g", "h4", late)).await.ok(), Some(resumed), "given up: the next one resumes");
}
