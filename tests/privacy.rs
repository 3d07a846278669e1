//! Plaintext email and phone never reach the store (every key and value of it: on Redis the
//! whole namespace, configuration, statistics and audit stream included) or the audit log,
//! in any form, whether they came in on pings and posts or on the operators' API.

#![allow(clippy::unwrap_used)] // a test that unwraps fails with the value in its message

mod common;

use common::*;
use pingpost_buyersim::PostReply;
use serde_json::json;

#[tokio::test]
async fn no_plaintext_identifier_is_kept_anywhere_after_pings_posts_rollbacks_and_dq() {
    let mut c = base_config();
    c.push_str(&contract("c1", "b1", "auto-excl", "20.00", "caps = { daily = 10 }"));
    c.push_str(&contract("c2", "b2", "auto-excl", "15.00", "dq = { url = \"{buyers}/b2/dq\", window_days = 30 }"));
    c.push_str(&contract("c3", "b3", "auto-excl", "10.00", ""));
    let h = Harness::start(&c).await;
    h.buyers.update("b1", |b| b.post = PostReply::Duplicate);

    let people = [("Alice.Secret@Example.com", "(555) 201-0001"), ("bob.hidden@example.org", "555-201-0002")];
    for (email, phone) in people {
        let lead = json!({"email": email, "phone": phone, "first_name": "Zed", "state": "CA"});
        let body = json!({"offer": "auto-excl", "lead": lead, "idempotency_key": format!("k-{email}")});
        let (_, ping) = h.call("/v1/ping", Some(KEY_P1), body.to_string().into_bytes()).await;
        h.post(ping["ping_id"].as_str().unwrap(), lead.clone()).await;
        h.ping("auto-excl", lead).await; // a vertical duplicate, audited
        h.buyers.update("b2", |b| b.disqualify = true);
    }
    h.engine
        .store()
        .suppress(vec![pingpost_core::identity::Sha256Hex::digest("15552010003")], h.engine.now())
        .await
        .unwrap();
    h.ping("auto-excl", json!({"phone": "555-201-0003"})).await;

    // The operators' side: suppression by list and by CSV import, an erasure request, and the
    // audit log and statistics read back through the API.
    let listed = json!({"emails": ["Carol.Listed@Example.com"], "phones": ["555-201-0004"]});
    assert_eq!(h.admin("POST", "/suppression", Some(listed)).await.0, 200);
    let csv = "email,phone\nDave.Imported@example.com,555-201-0005\n";
    let imported = reqwest::Client::new()
        .post(format!("{}/v1/admin/suppression/import", h.base))
        .header("authorization", format!("Bearer {ADMIN_TOKEN}"))
        .header("content-type", "text/csv")
        .body(csv)
        .send()
        .await
        .unwrap();
    assert_eq!(imported.status().as_u16(), 200);
    let erased = h.admin("POST", "/erasure", Some(json!({"email": "bob.hidden@example.org"}))).await;
    assert_eq!(erased.0, 200);
    let (_, audit_api) = h.admin("GET", "/audit?limit=1000", None).await;
    let (_, stats_api) = h.admin("GET", "/stats?by=partner", None).await;
    let (_, check) = h.admin("GET", "/suppression/check?email=carol.listed@example.com", None).await;
    assert_eq!(check["suppressed"], true);

    let store = h.dump_store().await;
    let audit = serde_json::to_string(&h.audit().await).unwrap() + &audit_api.to_string() + &stats_api.to_string();
    assert!(store.contains("ping:") && audit.contains("vertical_duplicate"), "the dumps hold the run's state");
    let alice = pingpost_core::identity::Sha256Hex::digest("alice.secret@example.com");
    assert!(store.contains(alice.as_str()), "identifiers are there, hashed");
    let operators = [("Carol.Listed@Example.com", "555-201-0004"), ("Dave.Imported@example.com", "555-201-0005")];
    for (email, phone) in people.iter().chain([&("", "555-201-0003")]).chain(&operators) {
        let digits: String = phone.chars().filter(char::is_ascii_digit).collect();
        let forms = [email.to_string(), email.to_lowercase(), digits.clone(), format!("1{digits}"), phone.to_string()];
        for form in forms.iter().filter(|f| !f.is_empty()) {
            assert!(!store.contains(form.as_str()), "store holds {form:?}");
            assert!(!audit.contains(form.as_str()), "audit log holds {form:?}");
        }
    }
    assert!(!store.contains("Zed"), "no posted lead field is kept either");
}
