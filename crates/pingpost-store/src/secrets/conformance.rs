//! The behaviour every [`SecretStore`] must show: run here on the embedded store, and on
//! Redis and Redis Cluster by their crate's tests.

use super::*;
use chrono::{Duration, TimeZone, Utc};
use std::collections::BTreeSet;
use std::sync::Arc;

/// Runs every check, each on a fresh (empty) store from `make`.
pub async fn run_all<S, F, Fut>(make: F)
where
    S: SecretStore,
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Arc<S>>,
{
    an_empty_store_has_no_stamp_and_no_secrets(&*make().await).await;
    writes_create_replace_and_delete_each_with_a_new_stamp(&*make().await).await;
    values_come_back_exactly_as_written(&*make().await).await;
    re_sent_writes_recognise_their_own_effects(&*make().await).await;
    a_full_store_refuses_new_names_but_replaces_old_ones(&*make().await).await;
    concurrent_writes_of_one_new_name_create_it_once(make().await).await;
    concurrent_writes_of_many_names_all_land(make().await).await;
}

fn t0() -> Timestamp {
    Utc.with_ymd_and_hms(2026, 11, 22, 12, 0, 0).single().unwrap_or_default()
}

fn name(text: &str) -> SecretName {
    SecretName::parse(text).expect("a valid name")
}

fn value(text: &str) -> SecretValue {
    SecretValue::new(text).expect("a valid value")
}

async fn put<S: SecretStore + ?Sized>(s: &S, n: &str, v: &str, at: Timestamp, rev: &str) -> SecretPut {
    s.put_secret(name(n), value(v), at, rev.to_string()).await.expect("put")
}

async fn delete<S: SecretStore + ?Sized>(s: &S, n: &str, rev: &str) -> bool {
    s.delete_secret(name(n), rev.to_string()).await.expect("delete")
}

async fn stamp<S: SecretStore + ?Sized>(s: &S) -> Option<SecretsStamp> {
    s.secrets_stamp().await.expect("stamp")
}

/// (name, value, updated_at) of every stored secret, in the order the store answers.
async fn listed<S: SecretStore + ?Sized>(s: &S) -> Vec<(String, String, Timestamp)> {
    let set = s.secrets().await.expect("secrets");
    assert_eq!(set.stamp, stamp(s).await, "the set comes with the stamp it is at");
    set.secrets.into_iter().map(|x| (x.name.to_string(), x.value.expose().to_string(), x.updated_at)).collect()
}

async fn an_empty_store_has_no_stamp_and_no_secrets<S: SecretStore + ?Sized>(s: &S) {
    assert_eq!(stamp(s).await, None);
    assert!(listed(s).await.is_empty());
    assert!(!delete(s, "absent", "r1").await, "nothing to delete");
    assert_eq!(stamp(s).await, None, "a delete of nothing writes nothing");
}

async fn writes_create_replace_and_delete_each_with_a_new_stamp<S: SecretStore + ?Sized>(s: &S) {
    let t1 = t0() + Duration::seconds(1);
    assert_eq!(put(s, "carrier_x_key", "k-1", t0(), "r1").await, SecretPut::Created);
    let first = stamp(s).await.expect("a stamp after a write");
    assert_eq!(put(s, "beta", "b-1", t0(), "r2").await, SecretPut::Created);
    assert_eq!(put(s, "carrier_x_key", "k-2", t1, "r3").await, SecretPut::Replaced);
    let replaced = stamp(s).await.expect("stamp");
    assert_ne!(replaced, first);
    assert_eq!(
        listed(s).await,
        vec![("beta".into(), "b-1".into(), t0()), ("carrier_x_key".into(), "k-2".into(), t1)],
        "by name, each with its last value and when it was written"
    );

    assert!(delete(s, "beta", "r4").await);
    let deleted = stamp(s).await.expect("stamp");
    assert_ne!(deleted, replaced);
    assert!(!delete(s, "beta", "r5").await, "gone already");
    assert_eq!(stamp(s).await.as_ref(), Some(&deleted), "a delete of nothing writes nothing");
    assert_eq!(put(s, "beta", "b-2", t1, "r6").await, SecretPut::Created, "a deleted name is written anew");
    let names: Vec<String> = listed(s).await.into_iter().map(|(n, _, _)| n).collect();
    assert_eq!(names, ["beta", "carrier_x_key"]);
    let versions: BTreeSet<u64> = [first.version, replaced.version, deleted.version].into();
    assert_eq!(versions.len(), 3, "every write moves the version");
}

async fn values_come_back_exactly_as_written<S: SecretStore + ?Sized>(s: &S) {
    let values = ["a|b|c", "line one\nline two\r\n", "€ ünïcödé 🔑", "  padded  ", "0", &"x".repeat(8 * 1024)];
    for (i, v) in values.iter().enumerate() {
        put(s, &format!("v{i}"), v, t0(), &format!("r{i}")).await;
    }
    let got: Vec<String> = listed(s).await.into_iter().map(|(_, v, _)| v).collect();
    assert_eq!(got, values);
}

async fn re_sent_writes_recognise_their_own_effects<S: SecretStore + ?Sized>(s: &S) {
    assert_eq!(put(s, "key", "k-1", t0(), "r1").await, SecretPut::Created);
    let after_first = stamp(s).await;
    assert_eq!(put(s, "key", "k-1", t0(), "r1").await, SecretPut::Created, "the first write's answer again");
    assert_eq!(stamp(s).await, after_first, "and nothing written again");
    assert_eq!(put(s, "key", "k-2", t0(), "r2").await, SecretPut::Replaced);
    assert_eq!(put(s, "key", "k-2", t0(), "r2").await, SecretPut::Replaced);

    assert!(delete(s, "key", "r3").await);
    let after_delete = stamp(s).await;
    assert!(delete(s, "key", "r3").await, "a re-sent delete answers as the first did");
    assert_eq!(stamp(s).await, after_delete, "and writes nothing");
    assert!(!delete(s, "key", "r4").await, "another delete finds nothing");
    put(s, "key", "k-3", t0(), "r5").await;
    assert!(!delete(s, "other", "r3").await, "a rev is its own name's");
}

async fn a_full_store_refuses_new_names_but_replaces_old_ones<S: SecretStore + ?Sized>(s: &S) {
    for i in 0..MAX_SECRETS {
        assert_eq!(put(s, &format!("n{i:04}"), "v", t0(), &format!("r{i}")).await, SecretPut::Created);
    }
    let full = stamp(s).await;
    assert_eq!(put(s, "one_more", "v", t0(), "r-more").await, SecretPut::Full);
    assert_eq!(stamp(s).await, full, "a refused write writes nothing");
    assert_eq!(put(s, "n0000", "v2", t0(), "r-replace").await, SecretPut::Replaced);
    assert!(delete(s, "n0001", "r-delete").await);
    assert_eq!(put(s, "one_more", "v", t0(), "r-more-2").await, SecretPut::Created, "room again");
    assert_eq!(listed(s).await.len(), MAX_SECRETS);
}

async fn concurrent_writes_of_one_new_name_create_it_once<S: SecretStore>(s: Arc<S>) {
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..16 {
        let s = Arc::clone(&s);
        tasks.spawn(async move { put(&*s, "shared", &format!("v{i}"), t0(), &format!("r{i}")).await });
    }
    let answers = tasks.join_all().await;
    let created = answers.iter().filter(|a| **a == SecretPut::Created).count();
    assert_eq!(created, 1, "{answers:?}");
    assert_eq!(stamp(&*s).await.map(|st| st.version), Some(16), "every write applied, one after the other");
}

async fn concurrent_writes_of_many_names_all_land<S: SecretStore>(s: Arc<S>) {
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..32 {
        let s = Arc::clone(&s);
        tasks.spawn(async move { put(&*s, &format!("k{i:02}"), &format!("v{i}"), t0(), &format!("r{i}")).await });
    }
    assert!(tasks.join_all().await.iter().all(|a| *a == SecretPut::Created));
    let got = listed(&*s).await;
    assert_eq!(got.len(), 32);
    assert!(got.iter().enumerate().all(|(i, (n, v, _))| *n == format!("k{i:02}") && *v == format!("v{i}")));
}

#[cfg(test)]
mod tests {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_embedded_store_conforms() {
        super::run_all(|| async { std::sync::Arc::new(crate::MemoryStore::new()) }).await;
    }
}
