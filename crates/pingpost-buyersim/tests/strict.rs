//! The strict simulated buyers, over real HTTP on loopback: each takes a request written to
//! its spec and answers in its own format, and each check refuses the request that breaks it
//! (every case below passes only while its check is there).
#![allow(clippy::unwrap_used)] // a test that unwraps fails with the value in its message

mod common;

use common::*;
use pingpost_buyersim::strict::{
    pinecrest, CRESTLINE, CRESTLINE_PING_PATH, CRESTLINE_POST_PATH, PINECREST, PINECREST_POST_PATH, RIDGELINE,
    RIDGELINE_POST_PATH, SANDBOX_PREFIX,
};
use pingpost_buyersim::{Behaviour, Credentials, PostReply};
use serde_json::{json, Value};

// ---------------------------------------------------------------- crestline (JSON)

#[tokio::test]
async fn crestline_prices_the_ping_and_buys_the_post_that_carries_its_auction_id() {
    let sim = start().await;
    sim.buyers.update(CRESTLINE, |b| b.bid = Some("31.50".into()));

    let ping = sim.post_json(CRESTLINE_PING_PATH, &crestline_ping()).await;
    assert_eq!(ping.status, 200);
    assert_eq!(ping.content_type, "application/json");
    assert_eq!(ping.body, r#"{"leadAuctionId":"LA-000001","price":31.50,"status":"success"}"#);

    let post = sim.post_json(CRESTLINE_POST_PATH, &crestline_post("LA-000001")).await;
    assert_eq!(post.status, 200);
    assert_eq!(post.body, r#"{"leadId":"CL-000001","price":31.50,"status":"accepted"}"#);

    // Kept byte for byte, with the headers, for tests of what the engine sent.
    let exchanges = sim.buyers.exchanges();
    assert_eq!(exchanges.len(), 2);
    assert_eq!((exchanges[0].call.as_str(), exchanges[1].call.as_str()), ("bid", "post"));
    assert_eq!(exchanges[1].body, crestline_post("LA-000001").to_string().into_bytes());
    assert_eq!(exchanges[1].header("Content-Type"), Some("application/json"));
    assert_eq!((exchanges[1].method.as_str(), exchanges[1].target.as_str()), ("POST", CRESTLINE_POST_PATH));
    assert_eq!(exchanges[1].answer, post.body);
    assert_eq!(sim.buyers.count(CRESTLINE, "bid"), 1);
    assert_eq!(sim.buyers.count(CRESTLINE, "post"), 1);
    assert_eq!(sim.buyers.received()[1].body["Lead"]["Phone"], "+15551234567");
}

#[tokio::test]
async fn crestline_answers_no_bid_and_its_verdicts_in_its_own_format() {
    let sim = start().await;
    sim.buyers.update(CRESTLINE, |b| b.bid = None);
    let ping = sim.post_json(CRESTLINE_PING_PATH, &crestline_ping()).await;
    assert_eq!((ping.status, ping.body.as_str()), (200, r#"{"status":"no_bid"}"#));
    let post = sim.post_json(CRESTLINE_POST_PATH, &crestline_post("LA-000001")).await;
    assert_refused(&post, 400, "leadAuctionId");

    sim.buyers.update(CRESTLINE, |b| b.bid = Some("10.00".into()));
    for (reply, expected) in [(PostReply::Reject, "rejected"), (PostReply::Duplicate, "duplicate")] {
        sim.buyers.update(CRESTLINE, |b| b.post = reply);
        let auction = sim.crestline_auction().await;
        let post = sim.post_json(CRESTLINE_POST_PATH, &crestline_post(&auction)).await;
        assert_eq!((post.status, post.json()["status"].as_str()), (200, Some(expected)));
        assert!(post.json()["message"].is_string());
    }

    sim.buyers.set(
        CRESTLINE,
        Behaviour {
            price: Some("9.00".into()),
            redirect_url: Some("https://crestline.example/q/1".into()),
            ..Behaviour::default()
        },
    );
    let auction = sim.crestline_auction().await;
    let post = sim.post_json(CRESTLINE_POST_PATH, &crestline_post(&auction)).await;
    assert_eq!(
        post.body,
        r#"{"leadId":"CL-000001","price":9.00,"redirectUrl":"https://crestline.example/q/1","status":"accepted"}"#
    );
}

#[tokio::test]
async fn crestline_refuses_another_content_type_and_method() {
    let sim = start().await;
    for content_type in ["text/plain", "application/x-www-form-urlencoded"] {
        let reply = sim.post_raw(CRESTLINE_PING_PATH, content_type, crestline_ping().to_string()).await;
        assert_refused(&reply, 415, "application/json");
        assert_eq!(reply.json()["status"], "error");
    }
    let reply = sim.send(sim.http.get(format!("{}{CRESTLINE_PING_PATH}", sim.base))).await;
    assert_eq!(reply.status, 405);
    assert_eq!(reply.headers.get("allow").and_then(|v| v.to_str().ok()), Some("POST"));
    assert_eq!(reply.json()["status"], "error");
    let reply = sim.post_raw(CRESTLINE_PING_PATH, "application/json", "{\"ApiToken\": ").await;
    assert_refused(&reply, 400, "not valid JSON");
    let reply = sim.post_raw(CRESTLINE_PING_PATH, "application/json", "[]").await;
    assert_refused(&reply, 400, "must be a JSON object");
    assert!(sim.buyers.exchanges().iter().all(|e| e.status >= 400), "nothing opened an auction");
}

#[tokio::test]
async fn crestline_refuses_a_missing_or_wrong_api_token_before_anything_else() {
    let sim = start().await;
    let mut missing = crestline_ping();
    missing.as_object_mut().unwrap().remove("ApiToken");
    missing["Lead"]["ZipCode"] = json!("9021");
    let reply = sim.post_json(CRESTLINE_PING_PATH, &missing).await;
    assert_refused(&reply, 401, "ApiToken");
    assert!(!reply.body.contains("ZipCode"), "an unknown caller is told nothing more: {}", reply.body);

    for token in [json!("demo-crestline-api-token"), json!(""), json!(12345)] {
        let mut wrong = crestline_post("LA-000001");
        wrong["ApiToken"] = token;
        let reply = sim.post_json(CRESTLINE_POST_PATH, &wrong).await;
        assert_refused(&reply, 401, "ApiToken");
    }
}

#[tokio::test]
async fn crestline_refuses_a_ping_reference_it_never_issued_or_already_posted() {
    let sim = start().await;
    let unknown = sim.post_json(CRESTLINE_POST_PATH, &crestline_post("LA-999999")).await;
    assert_refused(&unknown, 400, "leadAuctionId");
    let missing = {
        let mut body = crestline_post("x");
        body.as_object_mut().unwrap().remove("leadAuctionId");
        sim.post_json(CRESTLINE_POST_PATH, &body).await
    };
    assert_refused(&missing, 400, "leadAuctionId");

    let auction = sim.crestline_auction().await;
    let first = sim.post_json(CRESTLINE_POST_PATH, &crestline_post(&auction)).await;
    assert_eq!(first.status, 200, "{}", first.body);
    let again = sim.post_json(CRESTLINE_POST_PATH, &crestline_post(&auction)).await;
    assert_refused(&again, 409, "leadAuctionId");

    // A sandbox auction is unknown to the live endpoint, and the reverse.
    let sandbox = sim.post_json(&format!("{SANDBOX_PREFIX}{CRESTLINE_PING_PATH}"), &crestline_ping()).await;
    let sandbox_auction = sandbox.json()["leadAuctionId"].as_str().unwrap().to_string();
    assert_eq!(sandbox_auction, "TLA-000002");
    let live_auction = sim.crestline_auction().await;
    let crossed = sim.post_json(CRESTLINE_POST_PATH, &crestline_post(&sandbox_auction)).await;
    assert_refused(&crossed, 400, "leadAuctionId");
    let crossed =
        sim.post_json(&format!("{SANDBOX_PREFIX}{CRESTLINE_POST_PATH}"), &crestline_post(&live_auction)).await;
    assert_refused(&crossed, 400, "leadAuctionId");
    let sold =
        sim.post_json(&format!("{SANDBOX_PREFIX}{CRESTLINE_POST_PATH}"), &crestline_post(&sandbox_auction)).await;
    assert_eq!((sold.status, sold.json()["leadId"].as_str()), (200, Some("TCL-000002")));
    assert!(sim.buyers.exchanges().last().unwrap().sandbox);
}

#[tokio::test]
async fn crestline_refuses_each_field_missing_or_in_another_format() {
    let sim = start().await;
    // (call, field pointer, value; None removes it)
    let cases: &[(bool, &str, Option<Value>)] = &[
        (false, "/tagId", Some(json!(4418))),
        (false, "/tagId", Some(json!("4417"))),
        (false, "/Lead/ZipCode", Some(json!("9021"))),
        (false, "/Lead/ZipCode", Some(json!(90210))),
        (false, "/Lead/State", Some(json!("California"))),
        (false, "/Lead/Age", Some(json!("34"))),
        (false, "/Lead/Age", Some(json!(34.5))),
        (false, "/Lead/Age", Some(json!(12))),
        (false, "/Lead/Gender", Some(json!("female"))),
        (false, "/Lead/Gender", Some(json!(3))),
        (false, "/Lead/Gender", None),
        (true, "/Lead/Phone", Some(json!("5551234567"))),
        (true, "/Lead/Phone", Some(json!("+1555123456"))),
        (true, "/Lead/DateOfBirth", Some(json!("04/15/1990"))),
        (true, "/Lead/Email", Some(json!("jane.example.com"))),
        (true, "/Lead/LastName", None),
        (true, "/Lead/FirstName", Some(json!(""))),
        (true, "/Lead/FirstName", Some(json!("J".repeat(51)))),
    ];
    for (post, pointer, value) in cases {
        let auction = sim.crestline_auction().await;
        let (path, mut body) = if *post {
            (CRESTLINE_POST_PATH, crestline_post(&auction))
        } else {
            (CRESTLINE_PING_PATH, crestline_ping())
        };
        let (parent, name) = pointer.rsplit_once('/').unwrap();
        let parent = body.pointer_mut(parent).unwrap().as_object_mut().unwrap();
        match value {
            Some(value) => parent.insert(name.to_string(), value.clone()),
            None => parent.remove(name),
        };
        let reply = sim.post_json(path, &body).await;
        let field = pointer.trim_start_matches('/').replace('/', ".");
        assert_eq!(reply.status, 400, "{field} = {value:?} was taken: {}", reply.body);
        assert_eq!(reply.json()["errors"][0]["field"], field.as_str(), "{}", reply.body);
    }
}

// ---------------------------------------------------------------- ridgeline (form, Basic)

#[tokio::test]
async fn ridgeline_buys_a_form_post_with_basic_auth_and_answers_in_text() {
    let sim = start().await;
    let reply = sim.ridgeline(&RIDGELINE_LEAD).await;
    assert_eq!((reply.status, reply.body.as_str()), (200, "SUCCESS|lead_id=RL-000001"));
    assert_eq!(reply.content_type, "text/plain; charset=utf-8");

    sim.buyers.update(RIDGELINE, |b| {
        b.price = Some("14.00".into());
        b.redirect_url = Some("https://ridgeline.example/r/2".into());
    });
    let reply = sim.ridgeline(&RIDGELINE_LEAD).await;
    assert_eq!(reply.body, "SUCCESS|lead_id=RL-000002|price=14.00|redirect=https://ridgeline.example/r/2");
    for (verdict, expected) in
        [(PostReply::Duplicate, "DUPLICATE"), (PostReply::Reject, "REJECTED|Lead does not meet buying criteria")]
    {
        sim.buyers.update(RIDGELINE, |b| b.post = verdict);
        assert_eq!(sim.ridgeline(&RIDGELINE_LEAD).await.body, expected);
    }

    let exchange = sim.buyers.exchanges().into_iter().next().unwrap();
    assert_eq!(exchange.body_text(), form(&RIDGELINE_LEAD));
    assert_eq!(exchange.header("authorization"), Some("Basic cGluZ3Bvc3Q6dGVzdC1yaWRnZWxpbmUtcGFzc3dvcmQ="));
    assert_eq!(sim.buyers.received()[0].body["Lead.DOB"], "04/15/1990");
}

#[tokio::test]
async fn ridgeline_refuses_another_content_type() {
    let sim = start().await;
    let creds = credentials();
    let fields: serde_json::Map<String, Value> =
        RIDGELINE_LEAD.iter().map(|(n, v)| (n.to_string(), json!(v))).collect();
    let request = sim
        .http
        .post(format!("{}{RIDGELINE_POST_PATH}", sim.base))
        .basic_auth(&creds.ridgeline_username, Some(&creds.ridgeline_password))
        .header("content-type", "application/json")
        .body(Value::Object(fields).to_string());
    let reply = sim.send(request).await;
    assert_eq!(reply.status, 415);
    assert_eq!(reply.body, "ERROR|content type must be application/x-www-form-urlencoded");
    let reply = sim.send(sim.http.get(format!("{}{RIDGELINE_POST_PATH}", sim.base))).await;
    assert_eq!((reply.status, reply.body.as_str()), (405, "ERROR|method not allowed: use POST"));
}

#[tokio::test]
async fn ridgeline_refuses_missing_or_wrong_basic_credentials() {
    let sim = start().await;
    let url = format!("{}{RIDGELINE_POST_PATH}", sim.base);
    let creds = credentials();
    let unauthenticated = [
        sim.http.post(&url),
        sim.http.post(&url).basic_auth(&creds.ridgeline_username, Some("demo-ridgeline-password")),
        sim.http.post(&url).basic_auth("someone", Some(&creds.ridgeline_password)),
        sim.http.post(&url).bearer_auth(&creds.ridgeline_password),
    ];
    for request in unauthenticated {
        let request = request.header("content-type", "application/x-www-form-urlencoded").body(form(&RIDGELINE_LEAD));
        let reply = sim.send(request).await;
        assert_eq!(reply.status, 401, "{}", reply.body);
        assert!(reply.body.starts_with("ERROR|"), "{}", reply.body);
        assert_eq!(
            reply.headers.get("www-authenticate").and_then(|v| v.to_str().ok()),
            Some("Basic realm=\"Ridgeline Leads\"")
        );
    }
    assert_eq!(sim.buyers.count(RIDGELINE, "post"), 4, "each was received, none bought");
}

#[tokio::test]
async fn ridgeline_refuses_each_field_missing_or_in_another_format() {
    let sim = start().await;
    let cases: &[(&str, Option<&'static str>)] = &[
        ("Lead.Phone", Some("555123456")),
        ("Lead.Phone", Some("555-123-4567")),
        ("Lead.Phone", Some("+15551234567")),
        ("Lead.DOB", Some("1990-04-15")),
        ("Lead.DOB", Some("4/15/1990")),
        ("Lead.ZipCode", Some("9021")),
        ("Lead.State", Some("ca")),
        ("Lead.Gender", Some("female")),
        ("Lead.Email", Some("jane@")),
        ("Lead.LastName", None),
        ("Lead.FirstName", Some(" ")),
        ("Lead.LastName", Some("Doe\r\nX-Injected: 1")),
    ];
    for (name, value) in cases {
        let reply = sim.ridgeline(&ridgeline_with(name, *value)).await;
        assert_eq!(reply.status, 400, "{name} = {value:?} was taken: {}", reply.body);
        assert!(reply.body.starts_with(&format!("ERROR|{name}: ")), "{}", reply.body);
    }
    let mut twice = RIDGELINE_LEAD.to_vec();
    twice.push(("Lead.Phone", "5559876543"));
    let reply = sim.ridgeline(&twice).await;
    assert_eq!((reply.status, reply.body.as_str()), (400, "ERROR|Lead.Phone: was sent more than once"));
}

// ---------------------------------------------------------------- pinecrest (XML in a form)

#[tokio::test]
async fn pinecrest_buys_xml_in_its_form_field_and_answers_xml() {
    let sim = start().await;
    let reply = sim.pinecrest(&pinecrest_xml(None)).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.content_type, "application/xml; charset=utf-8");
    assert_eq!(
        reply.body,
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<response><result>success</result><lead_id>PC-000001</lead_id></response>"
    );
    sim.buyers.update(PINECREST, |b| {
        b.price = Some("13.00".into());
        b.redirect_url = Some("https://pinecrest.example/t?a=1&b=2".into());
    });
    let reply = sim.pinecrest(&pinecrest_xml(None)).await;
    assert!(
        reply.body.ends_with(
            "<lead_id>PC-000002</lead_id><price>13.00</price><redirect>https://pinecrest.example/t?a=1&amp;b=2</redirect></response>"
        ),
        "{}",
        reply.body
    );
    for (verdict, result) in [(PostReply::Duplicate, "duplicate"), (PostReply::Reject, "rejected")] {
        sim.buyers.update(PINECREST, |b| b.post = verdict);
        let reply = sim.pinecrest(&pinecrest_xml(None)).await;
        assert_eq!(reply.status, 200);
        assert!(reply.body.contains(&format!("<result>{result}</result><message>")), "{}", reply.body);
    }
    let exchange = sim.buyers.exchanges().into_iter().next().unwrap();
    assert_eq!(exchange.body_text(), form(&[("xml", &pinecrest_xml(None))]));
    assert_eq!(sim.buyers.received()[0].body["xml"], pinecrest_xml(None));
}

#[tokio::test]
async fn pinecrest_refuses_xml_that_is_not_in_a_form() {
    let sim = start().await;
    let reply = sim.post_raw(PINECREST_POST_PATH, "application/xml", pinecrest_xml(None)).await;
    assert_eq!(reply.status, 415);
    assert!(reply.body.contains("<result>error</result>"), "{}", reply.body);
    assert!(reply.body.contains("content type must be application/x-www-form-urlencoded"), "{}", reply.body);
    let reply = sim
        .post_raw(PINECREST_POST_PATH, "application/x-www-form-urlencoded", form(&[("lead", &pinecrest_xml(None))]))
        .await;
    assert_refused(&reply, 400, "xml: is required");
}

#[tokio::test]
async fn pinecrest_refuses_a_missing_or_wrong_api_key() {
    let sim = start().await;
    let missing = pinecrest_xml(Some(("<api_key>test-pinecrest-key</api_key>", "")));
    let reply = sim.pinecrest(&missing).await;
    assert_refused(&reply, 401, "source.api_key: is required");
    assert!(reply.body.contains("<result>error</result>"));
    let wrong = pinecrest_xml(Some(("test-pinecrest-key", "demo-pinecrest-api-key")));
    assert_refused(&sim.pinecrest(&wrong).await, 401, "source.api_key: is not valid");
}

#[tokio::test]
async fn pinecrest_refuses_each_field_missing_or_in_another_format() {
    let sim = start().await;
    let cases: &[(&str, &str, &str)] = &[
        ("contact.phone", "<phone>555-123-4567</phone>", "<phone>555-123-456</phone>"),
        ("contact.phone", "<phone>555-123-4567</phone>", "<phone>5551234567</phone>"),
        ("applicant.dob", "<dob>04/15/1990</dob>", "<dob>1990-04-15</dob>"),
        ("contact.zip", "<zip>90210</zip>", "<zip>902100</zip>"),
        ("contact.state", "<state>CA</state>", "<state>XX</state>"),
        ("contact.email", "<email>jane@example.com</email>", "<email>jane</email>"),
        ("contact.first_name", "<first_name>Jane</first_name>", ""),
        ("contact.zip", "<zip>90210</zip>", "<zip>90210</zip><zip>90211</zip>"),
        ("source.vendor_id", "PP-2207", "PP-0001"),
    ];
    for (field, from, to) in cases {
        let reply = sim.pinecrest(&pinecrest_xml(Some((from, to)))).await;
        assert_refused(&reply, 400, &format!("{field}: "));
        assert!(reply.body.contains("<result>error</result>"), "{}", reply.body);
    }
    for (what, xml) in [
        ("not XML", "<lead><contact>".to_string()),
        ("another root", pinecrest_xml(None).replace("<lead>", "<Lead>").replace("</lead>", "</Lead>")),
        ("a DOCTYPE", pinecrest_xml(None).replace("<lead>", "<!DOCTYPE lead SYSTEM \"http://x/\"><lead>")),
    ] {
        let reply = sim.pinecrest(&xml).await;
        assert_refused(&reply, 400, "xml: ");
        assert!(!reply.body.contains("PC-"), "{what} was bought: {}", reply.body);
    }
}

// ---------------------------------------------------------------- every strict buyer

#[tokio::test]
async fn a_raw_or_redirect_post_reply_is_sent_before_anything_is_read() {
    let sim = start().await;
    sim.buyers.update(RIDGELINE, |b| b.post = PostReply::Raw(503, "Service Unavailable".into()));
    let reply = sim.post_raw(RIDGELINE_POST_PATH, "text/plain", "anything").await;
    assert_eq!((reply.status, reply.body.as_str()), (503, "Service Unavailable"));
    sim.buyers.update(PINECREST, |b| b.post = PostReply::Redirect("http://127.0.0.1:1/elsewhere".into()));
    let reply = sim
        .send(
            reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap()
                .post(format!("{}{PINECREST_POST_PATH}", sim.base))
                .body("x"),
        )
        .await;
    assert_eq!(reply.status, 307);
    // The ping is no post: a Raw post reply leaves crestline's bids alone.
    sim.buyers.update(CRESTLINE, |b| b.post = PostReply::Raw(500, String::new()));
    assert_eq!(sim.post_json(CRESTLINE_PING_PATH, &crestline_ping()).await.status, 200);
}

#[tokio::test]
async fn held_strict_requests_count_as_received_and_answer_on_release() {
    let sim = start().await;
    sim.buyers.hold();
    let pending = {
        let sim_http = sim.http.clone();
        let url = format!("{}{PINECREST_POST_PATH}", sim.base);
        tokio::spawn(async move {
            sim_http
                .post(url)
                .header("content-type", "application/x-www-form-urlencoded")
                .body(form(&[("xml", &pinecrest_xml(None))]))
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        })
    };
    sim.buyers.received_at_least(PINECREST, "post", 1).await;
    assert!(sim.buyers.exchanges().is_empty(), "not answered while held");
    sim.buyers.release();
    assert_eq!(pending.await.unwrap(), 200);
    assert_eq!(sim.buyers.exchanges().len(), 1);
}

#[test]
fn credentials_come_from_the_engines_secret_variables_else_the_demo_values() {
    let demo = Credentials::demo();
    assert_eq!(Credentials::from_lookup(|_| None), demo);
    assert_eq!(Credentials::from_lookup(|_| Some(String::new())), demo, "an empty variable is unset");
    let configured = credentials();
    assert_eq!(configured.crestline_api_token, "test-crestline-token");
    assert_eq!(configured.ridgeline_password, "test-ridgeline-password");
    assert_eq!(configured.pinecrest_api_key, "test-pinecrest-key");
    assert_eq!(configured.ridgeline_username, demo.ridgeline_username, "the user name is no secret");
    assert_eq!(Credentials::env_var("ridgeline_password"), "PINGPOST_SECRET_RIDGELINE_PASSWORD");
    assert_eq!(pinecrest::FORM_FIELD, "xml");
}
