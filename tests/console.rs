//! The operators' console in a real browser: headless Chromium driven through chromedriver
//! (Debian's `chromium` and `chromium-driver`, installed by `scripts/test.sh`) against the
//! real binary. Each test saves a screenshot of its page under
//! `target/console-screenshots/` for a reviewer to look at.

#![allow(clippy::unwrap_used)] // a test that unwraps fails with the value in its message

mod common;

use common::process::{start_engine_with, temp_dir, Running};
use common::wait::eventually;
use fantoccini::{Client, ClientBuilder, Locator};
use pingpost_buyersim::Buyers;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;

const KEY: &str = "console-partner-key-0001";
const BUYER_KEY: &str = "console-buyer-key-00001";
/// The operator token `common::process` starts every engine with.
const OPERATOR_TOKEN: &str = "e2e-admin-token-000000000000";

/// Three verticals, an offer in each, and buyer b1 (prepaid 100.00) on all three, its
/// contracts deduplicating for 30 days: a consumer b1 bought on one offer is dropped on the
/// others (checkpoint 4).
fn market(buyers_url: &str) -> String {
    let key_hash = hex::encode(Sha256::digest(KEY.as_bytes()));
    let mut s = String::new();
    for v in ["auto", "solar", "home"] {
        s.push_str(&format!("[[verticals]]\nid = \"{v}\"\ndedup_window_days = 30\n\n"));
        s.push_str(&format!("[[offers]]\nid = \"o-{v}\"\nvertical = \"{v}\"\ndisclosure = \"full\"\n\n"));
        s.push_str(&format!(
            "[[contracts]]\nid = \"c-{v}\"\nbuyer = \"b1\"\noffer = \"o-{v}\"\nprice = \"10.00\"\ndedup = {{ window_days = 30 }}\n\n"
        ));
    }
    s.push_str(&format!(
        "[[partners]]\nid = \"p1\"\napi_key_sha256 = \"{key_hash}\"\noffers = [\"o-auto\", \"o-solar\", \"o-home\"]\n\n"
    ));
    let buyer_hash = hex::encode(Sha256::digest(BUYER_KEY.as_bytes()));
    s.push_str(&format!(
        "[[buyers]]\nid = \"b1\"\npost_url = \"{buyers_url}/b1/post\"\ntimeout_ms = 2000\napi_key_sha256 = \"{buyer_hash}\"\nbalance = \"100.00\"\n\
         returns = {{ auto_approve = false, max_rate_percent = \"100.00\" }}\n"
    ));
    s
}

/// chromedriver on a free port, killed with the test.
struct Driver {
    _process: Running,
    url: String,
}

impl Driver {
    async fn start() -> Driver {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let child = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver (scripts/test.sh installs Debian's chromium-driver)");
        let process = Running(child);
        let url = format!("http://127.0.0.1:{port}");
        eventually(Duration::from_secs(20), "chromedriver to listen", async || {
            tokio::net::TcpStream::connect(("127.0.0.1", port)).await.map(|_| ()).map_err(|e| e.to_string())
        })
        .await;
        Driver { _process: process, url }
    }

    async fn browser(&self) -> Client {
        let mut caps = serde_json::Map::new();
        let mut chrome = json!({"args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1280,1000"]});
        if std::path::Path::new("/usr/bin/chromium").exists() {
            chrome["binary"] = json!("/usr/bin/chromium");
        }
        caps.insert("goog:chromeOptions".into(), chrome);
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        ClientBuilder::new(connector).capabilities(caps).connect(&self.url).await.expect("a browser session")
    }
}

/// Saves the browser's page as `target/console-screenshots/<name>.png`.
/// A browser signed in to an in-process harness's console (the driver kept as long as it).
async fn signed_in(h: &common::Harness) -> (Driver, Client) {
    let driver = Driver::start().await;
    let browser = driver.browser().await;
    browser.goto(&format!("{}/console", h.base)).await.unwrap();
    browser.find(Locator::Css("#token")).await.unwrap().send_keys(common::ADMIN_TOKEN).await.unwrap();
    browser.find(Locator::Css("form[action='/console/sign-in'] button")).await.unwrap().click().await.unwrap();
    (driver, browser)
}

/// Two attributes of every element `css` finds, in document order.
async fn attr_pairs(browser: &Client, css: &str, first: &str, second: &str) -> Vec<(String, String)> {
    let mut pairs = Vec::new();
    for e in browser.find_all(Locator::Css(css)).await.unwrap() {
        pairs.push((
            e.attr(first).await.unwrap().unwrap_or_default(),
            e.attr(second).await.unwrap().unwrap_or_default(),
        ));
    }
    pairs
}

async fn screenshot(browser: &Client, name: &str) {
    let png = browser.screenshot().await.unwrap();
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/console-screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join(format!("{name}.png")), png).unwrap();
}

/// The engine, its simulated buyers and a browser.
struct Console {
    _engine: Running,
    base: String,
    _driver: Driver,
    browser: Client,
    _dir: Dir,
    http: reqwest::Client,
}

/// The test's contracts directory, removed with the test.
struct Dir(PathBuf);

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

impl Console {
    async fn start(name: &str) -> Console {
        Console::start_with(name, &[]).await
    }

    /// With more environment variables for the engine.
    async fn start_with(name: &str, env: &[(&str, &str)]) -> Console {
        let buyers = Buyers::new();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let buyers_url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(pingpost_buyersim::serve(listener, Arc::clone(&buyers), std::future::pending()));
        let dir = temp_dir(name);
        std::fs::write(dir.join("market.toml"), market(&buyers_url)).unwrap();
        let (engine, base) = start_engine_with(&dir, "memory", env);
        let driver = Driver::start().await;
        let browser = driver.browser().await;
        Console { _engine: engine, base, _driver: driver, browser, _dir: Dir(dir), http: reqwest::Client::new() }
    }

    async fn open(&self, path: &str) {
        self.browser.goto(&format!("{}{path}", self.base)).await.unwrap();
    }

    async fn sign_in(&self, token: &str) {
        self.open("/console").await;
        let field = self.browser.find(Locator::Css("#token")).await.unwrap();
        field.send_keys(token).await.unwrap();
        self.browser.find(Locator::Css("form[action='/console/sign-in'] button")).await.unwrap().click().await.unwrap();
    }

    /// The element's text; an element missing, or replaced by a navigation meanwhile, is an
    /// error to retry.
    async fn text(&self, css: &str) -> Result<String, String> {
        let element = self.browser.find(Locator::Css(css)).await.map_err(|e| e.to_string())?;
        element.text().await.map_err(|e| e.to_string())
    }

    /// Waits for the element to read `want` (the console's scripts answer asynchronously).
    async fn text_becomes(&self, css: &str, want: &str) {
        eventually(Duration::from_secs(10), &format!("{css} to read {want:?}"), async || {
            let got = self.text(css).await?;
            if got.contains(want) {
                Ok(())
            } else {
                Err(got)
            }
        })
        .await;
    }

    async fn screenshot(&self, name: &str) {
        screenshot(&self.browser, name).await;
    }

    async fn api(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let mut req = self.http.request(method, format!("{}{path}", self.base));
        if path.starts_with("/v1/admin") {
            req = req.bearer_auth(OPERATOR_TOKEN);
        } else if path.starts_with("/v1/buyer") {
            req = req.bearer_auth(BUYER_KEY);
        } else {
            req = req.bearer_auth(KEY);
        }
        if let Some(b) = body {
            req = req.header("content-type", "application/json").body(b.to_string());
        }
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        (status, serde_json::from_slice(&resp.bytes().await.unwrap()).unwrap_or(Value::Null))
    }

    async fn ping(&self, offer: &str, email: &str) -> Value {
        let (status, ping) =
            self.api("POST", "/v1/ping", Some(json!({"offer": offer, "lead": {"email": email}}))).await;
        assert_eq!(status, 200, "{ping}");
        ping
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_token_is_told_so_and_the_right_one_opens_the_console() {
    let c = Console::start("console-sign-in").await;
    c.sign_in("not-the-token").await;
    c.text_becomes("#signin-error", "not the operator token").await;
    c.screenshot("sign-in-refused").await;
    c.sign_in(OPERATOR_TOKEN).await;
    c.text_becomes("h1", "Offers and contracts").await;
    assert_eq!(c.browser.current_url().await.unwrap().path(), "/console/contracts");
    c.screenshot("contracts").await;
    // Signed out, the pages send the browser back to the sign-in form.
    c.browser.find(Locator::Css("form[action='/console/sign-out'] button")).await.unwrap().click().await.unwrap();
    c.open("/console/contracts").await;
    c.text_becomes("h1", "Sign in").await;
    c.browser.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_edit_is_honoured_by_the_next_ping_and_a_window_of_zero_is_refused_at_its_field() {
    let c = Console::start("console-edit").await;
    // b1 buys the consumer on the auto offer: its solar and home contracts now drop it.
    let ping = c.ping("o-auto", "jane@example.com").await;
    let (status, post) = c
        .api("POST", "/v1/post", Some(json!({"ping_id": ping["ping_id"], "lead": {"email": "jane@example.com"}})))
        .await;
    assert_eq!((status, post["status"].as_str()), (200, Some("sold")), "{post}");

    c.sign_in(OPERATOR_TOKEN).await;
    c.text_becomes("h1", "Offers and contracts").await;
    // A window of 0 is refused next to its field, and nothing changes.
    c.browser.find(Locator::Css("#c-solar-edit summary")).await.unwrap().click().await.unwrap();
    let window = c.browser.find(Locator::Css("#c-solar-window")).await.unwrap();
    window.clear().await.unwrap();
    window.send_keys("0").await.unwrap();
    c.browser.find(Locator::Css("form[data-id='c-solar'] button[type=submit]")).await.unwrap().click().await.unwrap();
    c.text_becomes("form[data-id='c-solar'] .error[data-for='dedup.window_days']", "window_days").await;
    c.screenshot("window-zero-refused").await;
    let (_, stored) = c.api("GET", "/v1/admin/contracts/c-solar", None).await;
    assert_eq!(stored["dedup"], json!({"enabled": null, "window_days": 30}), "{stored}");

    // Dedup off on the solar contract, saved through the console.
    window.clear().await.unwrap();
    window.send_keys("30").await.unwrap();
    c.browser.find(Locator::Css("#c-solar-dedup-enabled")).await.unwrap().click().await.unwrap();
    c.browser.find(Locator::Css("form[data-id='c-solar'] button[type=submit]")).await.unwrap().click().await.unwrap();
    c.text_becomes("form[data-id='c-solar'] .status", "Saved").await;
    c.screenshot("dedup-off-saved").await;
    let (_, stored) = c.api("GET", "/v1/admin/contracts/c-solar", None).await;
    assert_eq!(stored["dedup"]["enabled"], json!(false), "{stored}");

    // The next ping honours it: the solar contract bids, the untouched home contract still drops.
    let solar = c.ping("o-solar", "jane@example.com").await;
    assert_eq!(solar["bids"].as_array().map(Vec::len), Some(1), "{solar}");
    let home = c.ping("o-home", "jane@example.com").await;
    assert_eq!((home["status"].as_str(), home["reason"].as_str()), (Some("rejected"), Some("no_bids")), "{home}");

    // Repeats on the home contract: a threshold as long as its window is refused at its field;
    // 14 days at 40 % is saved; both fields emptied, the contract takes no repeats again.
    c.open("/console/contracts").await;
    c.text_becomes("h1", "Offers and contracts").await;
    c.browser.find(Locator::Css("#c-home-edit summary")).await.unwrap().click().await.unwrap();
    let after = c.browser.find(Locator::Css("#c-home-repeat-after")).await.unwrap();
    let amount = c.browser.find(Locator::Css("#c-home-repeat-price")).await.unwrap();
    let save = "form[data-id='c-home'] button[type=submit]";
    after.send_keys("30").await.unwrap();
    amount.send_keys("40.00").await.unwrap();
    c.browser.find(Locator::Css(save)).await.unwrap().click().await.unwrap();
    c.text_becomes("form[data-id='c-home'] .error[data-for='repeat.after_days']", "shorter than").await;
    after.clear().await.unwrap();
    after.send_keys("14").await.unwrap();
    c.browser.find(Locator::Css(save)).await.unwrap().click().await.unwrap();
    c.text_becomes("form[data-id='c-home'] .status", "Saved").await;
    c.screenshot("repeat-saved").await;
    let (_, stored) = c.api("GET", "/v1/admin/contracts/c-home", None).await;
    assert_eq!(stored["repeat"], json!({"after_days": 14, "price": {"percent": "40.00"}}), "{stored}");
    after.clear().await.unwrap();
    amount.clear().await.unwrap();
    c.browser.find(Locator::Css(save)).await.unwrap().click().await.unwrap();
    c.text_becomes("form[data-id='c-home'] .status", "Saved").await;
    let (_, stored) = c.api("GET", "/v1/admin/contracts/c-home", None).await;
    assert_eq!(stored.get("repeat"), None, "{stored}");
    c.browser.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_without_the_session_or_its_csrf_token_are_refused() {
    let c = Console::start("console-refusals").await;
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    // No session: the admin API refuses, the pages send back to sign in.
    let resp = http.get(format!("{}/v1/admin/contracts", c.base)).send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 401);
    let resp = http.get(format!("{}/console/contracts", c.base)).send().await.unwrap();
    assert_eq!((resp.status().as_u16(), resp.headers()["location"].to_str().unwrap()), (303, "/console"));
    // A session, but a change without its CSRF token (what another site's form would send).
    let resp =
        http.post(format!("{}/console/sign-in", c.base)).form(&[("token", OPERATOR_TOKEN)]).send().await.unwrap();
    let cookie = resp.headers()["set-cookie"].to_str().unwrap().to_string();
    assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"), "{cookie}");
    let session = cookie.split(';').next().unwrap().to_string();
    let resp = http
        .patch(format!("{}/v1/admin/contracts/c-solar", c.base))
        .header("cookie", &session)
        .header("content-type", "application/json")
        .body(r#"{"status":"paused"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 403);
    let (_, stored) = c.api("GET", "/v1/admin/contracts/c-solar", None).await;
    assert_eq!(stored["status"], Value::Null, "nothing changed: {stored}");
    let resp =
        http.get(format!("{}/v1/admin/contracts/c-solar", c.base)).header("cookie", &session).send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 200, "a read with the session needs no CSRF token");
    c.open("/console/contracts").await;
    c.text_becomes("h1", "Sign in").await;
    c.screenshot("no-session").await;
    c.browser.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_ping_tester_shows_a_vertical_duplicates_checkpoint_and_the_audit_log_filters_to_exactly_its_rows() {
    let c = Console::start("console-tools").await;
    c.sign_in(OPERATOR_TOKEN).await;
    c.text_becomes("h1", "Offers and contracts").await;
    c.open("/console/ping").await;
    c.browser.find(Locator::Css("#ping-offer option[value='o-auto']")).await.unwrap().click().await.unwrap();
    c.browser.find(Locator::Css("#ping-email")).await.unwrap().send_keys("twice@example.com").await.unwrap();
    let send = c.browser.find(Locator::Css("#ping-form button[type=submit]")).await.unwrap();
    send.click().await.unwrap();
    c.text_becomes("#ping-result", "accepted").await;
    c.text_becomes("#ping-contracts tr[data-contract='c-auto']", "bid 10.00").await;
    // The same consumer again: turned away at checkpoint 2.
    send.click().await.unwrap();
    c.text_becomes("#ping-result", "rejected (vertical_duplicate)").await;
    c.text_becomes("#ping-contracts tr[data-contract='c-auto']", "dropped: vertical_duplicate").await;
    c.screenshot("ping-tester-vertical-duplicate").await;

    // A drop of another kind, through the API: b1 bought a consumer, its home contract drops it.
    let ping = c.ping("o-auto", "bought@example.com").await;
    let post = json!({"ping_id": ping["ping_id"], "lead": {"email": "bought@example.com"}});
    assert_eq!(c.api("POST", "/v1/post", Some(post)).await.0, 200);
    c.ping("o-home", "bought@example.com").await;

    c.open("/console/audit").await;
    c.browser
        .find(Locator::Css("#audit-checkpoint option[value='vertical_duplicate']"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    c.browser.find(Locator::Css("#audit-filters button[type=submit]")).await.unwrap().click().await.unwrap();
    let rows = eventually(Duration::from_secs(10), "the filtered audit rows", async || {
        let rows = c.browser.find_all(Locator::Css("#audit-table tbody tr")).await.map_err(|e| e.to_string())?;
        let mut texts = Vec::new();
        for r in rows {
            texts.push(r.text().await.map_err(|e| e.to_string())?);
        }
        if texts.len() == 1 {
            Ok(texts)
        } else {
            Err(format!("{texts:?}"))
        }
    })
    .await;
    assert!(rows[0].contains("vertical_duplicate") && rows[0].contains("p1") && rows[0].contains("o-auto"), "{rows:?}");
    c.screenshot("audit-filtered").await;
    c.browser
        .find(Locator::Css("#audit-checkpoint option[value='contract_duplicate']"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    c.browser.find(Locator::Css("#audit-offer")).await.unwrap().send_keys("o-home").await.unwrap();
    c.browser.find(Locator::Css("#audit-filters button[type=submit]")).await.unwrap().click().await.unwrap();
    eventually(Duration::from_secs(10), "only the home contract's drop", async || {
        let rows = c.browser.find_all(Locator::Css("#audit-table tbody tr")).await.map_err(|e| e.to_string())?;
        let mut texts = Vec::new();
        for r in rows {
            texts.push(r.text().await.map_err(|e| e.to_string())?);
        }
        match texts.as_slice() {
            [one] if one.contains("contract_duplicate") && one.contains("c-home") => Ok(()),
            other => Err(format!("{other:?}")),
        }
    })
    .await;
    c.browser.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_csv_import_shows_its_progress_to_the_end_with_the_right_counts() {
    let c = Console::start("console-import").await;
    c.sign_in(OPERATOR_TOKEN).await;
    c.text_becomes("h1", "Offers and contracts").await;
    // 2 000 emails, one of them already suppressed, and one invalid row.
    assert_eq!(c.api("POST", "/v1/admin/suppression", Some(json!({"emails": ["row7@example.com"]}))).await.0, 200);
    let mut csv = String::from("email\n");
    for i in 0..2_000 {
        csv.push_str(&format!("row{i}@example.com\n"));
    }
    csv.push_str("not-an-email\n");
    let file = c._dir.0.join("suppress.csv");
    std::fs::write(&file, csv).unwrap();

    c.open("/console/suppression").await;
    c.browser.find(Locator::Css("#import-file")).await.unwrap().send_keys(file.to_str().unwrap()).await.unwrap();
    c.browser.find(Locator::Css("#suppress-import button[type=submit]")).await.unwrap().click().await.unwrap();
    c.text_becomes("#import-result", "Imported 2001 rows: 1999 added, 1 already suppressed, 1 invalid.").await;
    let progress = c.browser.execute("return document.getElementById('import-progress').value", vec![]).await.unwrap();
    assert_eq!(progress, json!(100), "the progress bar finished");
    c.screenshot("import-finished").await;

    // One identifier: checked, then erased with its suppression lifted.
    let one = c.browser.find(Locator::Css("#suppress-identifier")).await.unwrap();
    one.send_keys("row42@example.com").await.unwrap();
    c.browser.find(Locator::Css("#suppress-one button[value=check]")).await.unwrap().click().await.unwrap();
    c.text_becomes("#suppress-result", "Suppressed since").await;
    c.browser.find(Locator::Css("#erase-email")).await.unwrap().send_keys("row42@example.com").await.unwrap();
    c.browser.find(Locator::Css("#erase-suppression")).await.unwrap().click().await.unwrap();
    c.browser.find(Locator::Css("#erase button[type=submit]")).await.unwrap().click().await.unwrap();
    c.text_becomes("#erase-result", "1 suppression entries lifted").await;
    c.browser.find(Locator::Css("#suppress-one button[value=check]")).await.unwrap().click().await.unwrap();
    c.text_becomes("#suppress-result", "Not suppressed").await;
    c.browser.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn statistics_chart_the_dedup_rate_and_each_checkpoints_drops() {
    let c = Console::start("console-stats").await;
    // Two pings of one consumer: the second is a vertical duplicate (1 of 2 turned away).
    c.ping("o-auto", "charted@example.com").await;
    c.ping("o-auto", "charted@example.com").await;
    c.sign_in(OPERATOR_TOKEN).await;
    c.text_becomes("h1", "Offers and contracts").await;
    c.open("/console/stats?by=partner").await;
    c.text_becomes("#chart-rate", "50.0%").await;
    let bar = c
        .browser
        .find(Locator::Css("#chart-drops rect.bar[data-key='p1'][data-checkpoint='vertical_duplicate']"))
        .await
        .expect("a bar for p1's vertical duplicates");
    assert!(bar.attr("width").await.unwrap().is_some_and(|w| w != "0"));
    c.screenshot("statistics").await;
    // A bad range is refused with the API's message.
    c.open("/console/stats?by=partner&since=yesterday").await;
    c.text_becomes("main .error", "since").await;
    c.browser.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pending_return_is_approved_from_the_console_and_the_accounts_show_its_refund() {
    let c = Console::start("console-money").await;
    let ping = c.ping("o-auto", "returned@example.com").await;
    let post = json!({"ping_id": ping["ping_id"], "lead": {"email": "returned@example.com"}});
    let (_, sold) = c.api("POST", "/v1/post", Some(post)).await;
    let sale_id = sold["sales"][0]["sale_id"].as_str().unwrap().to_string();
    let (status, ret) = c.api("POST", "/v1/buyer/returns", Some(json!({"sale_id": sale_id, "reason": "fraud"}))).await;
    assert_eq!((status, ret["status"].as_str()), (201, Some("pending")), "{ret}");
    let return_id = ret["return_id"].as_str().unwrap().to_string();

    c.sign_in(OPERATOR_TOKEN).await;
    c.text_becomes("h1", "Offers and contracts").await;
    c.open("/console/money").await;
    c.text_becomes(&format!("#returns-table tr[data-return='{return_id}']"), "fraud").await;
    c.text_becomes("#accounts-table tr[data-key='p1']", "10.00").await;
    c.screenshot("returns-pending").await;
    c.browser
        .find(Locator::Css(&format!("#returns-table tr[data-return='{return_id}'] button[data-decision='approve']")))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    c.text_becomes("#returns-result", &format!("{return_id} approved")).await;
    let (_, stored) = c.api("GET", &format!("/v1/admin/returns/{return_id}"), None).await;
    assert_eq!(stored["status"], "approved", "{stored}");
    c.browser.find(Locator::Css("#accounts-form button[type=submit]")).await.unwrap().click().await.unwrap();
    // p1's row: 1 sale, gross 10.00, refunds 10.00.
    c.text_becomes("#accounts-table tr[data-key='p1']", "10.00 10.00 0.00").await;
    c.browser.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_prepaid_buyers_balance_shows_beside_the_accounts() {
    let c = Console::start("console-balance").await;
    let ping = c.ping("o-auto", "balance@example.com").await;
    let (status, sold) = c
        .api("POST", "/v1/post", Some(json!({"ping_id": ping["ping_id"], "lead": {"email": "balance@example.com"}})))
        .await;
    assert_eq!((status, sold["status"].as_str()), (200, Some("sold")), "{sold}");
    let (status, topped) = c.api("POST", "/v1/admin/buyers/b1/balance", Some(json!({"add": "5.00"}))).await;
    assert_eq!(status, 200, "{topped}");

    c.sign_in(OPERATOR_TOKEN).await;
    c.text_becomes("h1", "Offers and contracts").await;
    c.open("/console/money").await;
    // Buyer, balance, credit, spent, reserved: 100.00 + 5.00 − 10.00.
    c.text_becomes("#balances-table tr[data-buyer='b1']", "b1 95.00 5.00 10.00 0.00").await;
    c.screenshot("balances").await;
    c.browser.close().await.unwrap();
}

/// The window's effect takes days to show, so this one runs the server in-process on a clock
/// the test moves (the same router and handlers the binary serves), with the same browser.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_window_shortened_in_the_console_is_honoured_by_the_next_ping() {
    // solar's own vertical window is 1 day, so the contract's window is what decides.
    let config = format!(
        "{}{}",
        common::base_config(),
        common::contract("c1", "b1", "solar-excl", "10.00", "dedup = { window_days = 30 }")
    );
    let h = common::Harness::start(&config).await;
    let consumer = common::email("window-console@example.com");
    let (_, post) = h.sell("solar-excl", consumer.clone()).await;
    assert_eq!(common::sold_to(&post), ["b1"]);
    // Four days on, b1's 30-day window drops the consumer: the what-if's one ping to allow.
    h.advance_days(4).await;
    let dropped = h.ping("solar-excl", consumer.clone()).await;
    assert_eq!(dropped["reason"], "no_bids", "{dropped}");
    h.advance_days(1).await;

    let (_driver, browser) = signed_in(&h).await;
    browser.wait().for_element(Locator::Css("#c1-edit summary")).await.unwrap().click().await.unwrap();
    let window = browser.find(Locator::Css("#c1-window")).await.unwrap();
    window.clear().await.unwrap();
    window.send_keys("3").await.unwrap();
    // Before saving, beside the field: the last 7 days with 3 days instead of 30.
    let expected = "Last 7 days with 3 days instead of 30 days: of 2 pings that reached this window, 0 newly blocked \
                    and 1 newly allowed; 0 sales (0.00) would have been stopped.";
    eventually(Duration::from_secs(10), "the what-if beside the window", async || {
        let out = browser.find(Locator::Css("form[data-id='c1'] output.whatif")).await.map_err(|e| e.to_string())?;
        match out.text().await.map_err(|e| e.to_string())? {
            t if t == expected => Ok(()),
            other => Err(other),
        }
    })
    .await;
    screenshot(&browser, "window-whatif").await;
    browser.find(Locator::Css("form[data-id='c1'] button[type=submit]")).await.unwrap().click().await.unwrap();
    eventually(Duration::from_secs(10), "the edit to be saved", async || {
        let status = browser.find(Locator::Css("form[data-id='c1'] .status")).await.map_err(|e| e.to_string())?;
        match status.text().await.map_err(|e| e.to_string())? {
            t if t == "Saved" => Ok(()),
            other => Err(other),
        }
    })
    .await;
    screenshot(&browser, "window-shortened").await;
    let ping = h.ping("solar-excl", consumer).await;
    assert_eq!(common::bid_contracts(&ping), ["c1"], "bought 5 days ago, outside the new 3-day window: {ping}");
    browser.close().await.unwrap();
}

/// The statistics as time series, the range picked with date-and-time pickers: three hours of
/// a partner's pings, 50 %, 0 % and 100 % turned away, drawn per hour; the form's pickers
/// submit their zone-less values, read as UTC.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn statistics_are_time_series_per_hour_over_a_range_picked_with_date_and_time_pickers() {
    let h = common::Harness::start(&common::base_config()).await;
    let charted = common::email("series@example.com");
    h.ping("auto-excl", charted.clone()).await;
    let again = h.ping("auto-excl", charted.clone()).await;
    assert_eq!(again["reason"], "vertical_duplicate");
    h.advance_secs(3600).await;
    h.ping("auto-excl", common::email("fresh-1@example.com")).await;
    h.ping("auto-excl", common::email("fresh-2@example.com")).await;
    h.advance_secs(3600).await;
    h.ping("auto-excl", charted).await;

    let (_driver, browser) = signed_in(&h).await;
    browser.wait().for_element(Locator::Css("h1")).await.unwrap();
    browser.goto(&format!("{}/console/stats", h.base)).await.unwrap();
    for (id, value) in [("stats-since", "2026-11-23T15:00"), ("stats-until", "2026-11-23T18:00")] {
        let input = browser.find(Locator::Css(&format!("#{id}"))).await.unwrap();
        assert_eq!(input.attr("type").await.unwrap().as_deref(), Some("datetime-local"));
        browser.execute(&format!("document.getElementById('{id}').value = '{value}'"), vec![]).await.unwrap();
    }
    browser.find(Locator::Css("form[action='/console/stats'] button")).await.unwrap().click().await.unwrap();
    browser.wait().for_element(Locator::Css("#series-rate")).await.unwrap();
    let rates = attr_pairs(&browser, "#series-rate circle.point[data-key='p1']", "data-at", "data-rate").await;
    assert_eq!(
        rates,
        [
            ("2026-11-23T15:00:00+00:00".to_string(), "50.0%".to_string()),
            ("2026-11-23T16:00:00+00:00".to_string(), "0.0%".to_string()),
            ("2026-11-23T17:00:00+00:00".to_string(), "100.0%".to_string()),
        ]
    );
    let drops =
        attr_pairs(&browser, "#series-drops rect.bar[data-checkpoint='vertical_duplicate']", "data-at", "data-count")
            .await;
    assert_eq!(
        drops,
        [
            ("2026-11-23T15:00:00+00:00".to_string(), "1".to_string()),
            ("2026-11-23T17:00:00+00:00".to_string(), "1".to_string())
        ]
    );
    // The pickers show the range as it was read back.
    let since = browser.find(Locator::Css("#stats-since")).await.unwrap();
    assert_eq!(since.prop("value").await.unwrap().as_deref(), Some("2026-11-23T15:00"));
    screenshot(&browser, "statistics-series").await;
    // Per day over the same range: one bucket holding all five pings, 2 of them turned away.
    browser
        .goto(&format!("{}/console/stats?by=partner&since=2026-11-23T15:00&until=2026-11-23T18:00&step=day", h.base))
        .await
        .unwrap();
    let day = browser.wait().for_element(Locator::Css("#series-rate circle.point[data-key='p1']")).await.unwrap();
    assert_eq!(day.attr("data-rate").await.unwrap().as_deref(), Some("40.0%"));
    browser.close().await.unwrap();
}

/// The offers page with 300 contracts: one compact row each, and the search narrows them to
/// the one asked for, whose edit form opens in its row.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_hundred_contracts_are_one_compact_table_the_search_narrows() {
    let mut config = common::base_config();
    for n in 0..300 {
        let (buyer, offer) = (format!("b{}", 1 + n % 5), if n % 2 == 0 { "auto-excl" } else { "auto-2" });
        config.push_str(&common::contract(&format!("c-{n:03}"), &buyer, offer, "10.00", ""));
    }
    let h = common::Harness::start(&config).await;
    let (_driver, browser) = signed_in(&h).await;
    let search = browser.wait().for_element(Locator::Css("#contract-search")).await.unwrap();
    let rows = browser.find_all(Locator::Css("#contracts tbody tr")).await.unwrap();
    assert_eq!(rows.len(), 300);
    assert_eq!(browser.find(Locator::Css("#contract-count")).await.unwrap().text().await.unwrap(), "300 contracts");
    search.send_keys("c-25 b2 auto-2").await.unwrap();
    // c-250 to c-259 hold "c-25"; b2 has c-251 and c-256, and only c-251 is on auto-2.
    eventually(Duration::from_secs(10), "the search to narrow the table", async || {
        let count = browser.find(Locator::Css("#contract-count")).await.map_err(|e| e.to_string())?;
        match count.text().await.map_err(|e| e.to_string())? {
            t if t == "1 of 300 contracts" => Ok(()),
            other => Err(other),
        }
    })
    .await;
    let mut shown = Vec::new();
    for row in browser.find_all(Locator::Css("#contracts tbody tr")).await.unwrap() {
        if row.is_displayed().await.unwrap() {
            shown.push(row.attr("data-contract").await.unwrap().unwrap_or_default());
        }
    }
    assert_eq!(shown, ["c-251"]);
    let row = browser.find(Locator::Css("tr[data-contract='c-251']")).await.unwrap();
    let text = row.text().await.unwrap();
    assert!(text.starts_with("c-251 auto-2 b2 10.00 active vertical's no\nEdit"), "{text}");
    browser.find(Locator::Css("#c-251-edit summary")).await.unwrap().click().await.unwrap();
    assert!(browser.find(Locator::Css("#c-251-window")).await.unwrap().is_displayed().await.unwrap());
    screenshot(&browser, "contracts-searched").await;
    browser.close().await.unwrap();
}

/// A secret set, refused and deleted from the console; no page ever holds its value, and one
/// from the engine's environment is listed as such, without a delete button.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_secret_is_set_refused_at_its_field_and_deleted_from_the_console_and_its_value_never_shown() {
    const VALUE: &str = "sk_live_Console7Xv3Kp9Wm2";
    const FROM_ENV: &str = "env_Yh4Jd8Lc1Bf6Gs0U";
    let c = Console::start_with("console-secrets", &[("PINGPOST_SECRET_FROM_ENV", FROM_ENV)]).await;
    c.sign_in(OPERATOR_TOKEN).await;
    c.text_becomes("h1", "Offers and contracts").await;
    c.browser.find(Locator::LinkText("Secrets")).await.unwrap().click().await.unwrap();
    c.text_becomes("#secrets-table tr[data-secret='from_env']", "from_env — this node's environment").await;
    assert!(
        c.browser.find(Locator::Css("#secrets-table tr[data-secret='from_env'] button")).await.is_err(),
        "an environment's secret has no delete button"
    );

    let set = async |name: &str, value: &str| {
        let field = c.browser.find(Locator::Css("#secret-name")).await.unwrap();
        field.clear().await.unwrap();
        field.send_keys(name).await.unwrap();
        c.browser.find(Locator::Css("#secret-value")).await.unwrap().send_keys(value).await.unwrap();
        c.browser.find(Locator::Css("#secret-form button[type=submit]")).await.unwrap().click().await.unwrap();
    };
    set("carrier-x", VALUE).await;
    c.text_becomes("#secret-form .error[data-for='name']", "name must be letters, digits and _ only").await;
    c.screenshot("secret-refused").await;
    set("carrier_x_key", "").await; // the value field still holds the refused one's
    c.text_becomes("#secret-form .status", "Created carrier_x_key").await;
    c.text_becomes("#secrets-table tr[data-secret='carrier_x_key']", "carrier_x_key").await;
    assert_eq!(c.text("#secret-form .error[data-for='name']").await.unwrap(), "", "the refusal is cleared");
    let value_field = c.browser.find(Locator::Css("#secret-value")).await.unwrap();
    assert_eq!(value_field.prop("value").await.unwrap().as_deref(), Some(""), "the value is not kept in the form");
    c.screenshot("secrets").await;

    let (_, list) = c.api("GET", "/v1/admin/secrets", None).await;
    let names: Vec<&str> = list["items"].as_array().unwrap().iter().filter_map(|i| i["name"].as_str()).collect();
    assert_eq!(names, ["carrier_x_key", "from_env"]);
    for (page, heading) in
        [("/console/secrets", "Secrets"), ("/console/contracts", "Offers"), ("/console/money", "Returns")]
    {
        c.open(page).await;
        c.text_becomes("h1", heading).await;
        let source = c.browser.source().await.unwrap();
        assert!(!source.contains(VALUE) && !source.contains(FROM_ENV), "{page} holds a secret's value");
    }

    c.open("/console/secrets").await;
    c.text_becomes("#secrets-table tr[data-secret='carrier_x_key']", "store").await;
    let delete = c.browser.find(Locator::Css("#secrets-table tr[data-secret='carrier_x_key'] button")).await.unwrap();
    delete.click().await.unwrap();
    c.text_becomes("#secret-form .status", "Deleted carrier_x_key").await;
    let (_, list) = c.api("GET", "/v1/admin/secrets", None).await;
    assert_eq!(list["items"].as_array().map(Vec::len), Some(1), "only the environment's is left: {list}");
    c.browser.close().await.unwrap();
}

/// A buyer's page: its calls edited (a broken template refused next to the calls, nothing
/// applied; then saved), previewed on the sample lead (exactly the body the adapter builds),
/// and tested against its sandbox URL (read as accepted) without writing to the store.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_buyers_calls_are_edited_previewed_and_tested_from_its_page() {
    let config = format!("{}{}", common::base_config(), common::contract("c1", "b1", "auto-excl", "10.00", ""));
    let h = common::Harness::start(&config).await;
    let (_driver, browser) = signed_in(&h).await;
    browser.wait().for_element(Locator::Css("header nav")).await.unwrap();
    browser.goto(&format!("{}/console/buyers/b1", h.base)).await.unwrap();
    browser.wait().for_element(Locator::Css("#buyer-calls-json")).await.unwrap();
    let set_calls = |calls: Value| {
        let browser = browser.clone();
        async move {
            let script = "document.getElementById('buyer-calls-json').value = arguments[0];";
            browser.execute(script, vec![json!(calls.to_string())]).await.unwrap();
            browser.find(Locator::Css("#buyer-calls button[type=submit]")).await.unwrap().click().await.unwrap();
        }
    };
    let post = |zip: &str| {
        json!({"post": {
            "url": format!("{}/b1/post", h.buyers_url()),
            "sandbox_url": format!("{}/b1/post", h.buyers_url()),
            "encoding": "json",
            "fields": {"Lead.FirstName": "{{ lead.first_name | upper }}", "Lead.Zip": zip}}})
    };
    let before = h.admin("GET", "/buyers/b1", None).await;
    set_calls(post("{{ lead.zip | no_such_filter }}")).await;
    let refusal = "#buyer-calls .error[data-for='calls']";
    eventually(Duration::from_secs(10), "the refusal next to the calls", async || {
        let text = browser
            .find(Locator::Css(refusal))
            .await
            .map_err(|e| e.to_string())?
            .text()
            .await
            .map_err(|e| e.to_string())?;
        if text.contains("calls.post.fields.Lead.Zip") {
            Ok(())
        } else {
            Err(text)
        }
    })
    .await;
    screenshot(&browser, "buyer-calls-refused").await;
    assert_eq!(h.admin("GET", "/buyers/b1", None).await, before, "nothing applied");

    set_calls(post("{{ lead.zip }}")).await;
    eventually(Duration::from_secs(10), "the calls to be saved", async || {
        let status = browser.find(Locator::Css("#buyer-calls .status")).await.map_err(|e| e.to_string())?;
        match status.text().await.map_err(|e| e.to_string())? {
            t if t == "Saved" => Ok(()),
            other => Err(other),
        }
    })
    .await;

    browser.find(Locator::Css("#buyer-try button[value=preview]")).await.unwrap().click().await.unwrap();
    let expected = r#"{"Lead":{"FirstName":"JANE","Zip":"90210"}}"#;
    eventually(Duration::from_secs(10), "the preview", async || {
        let text = browser
            .find(Locator::Css("#try-request"))
            .await
            .map_err(|e| e.to_string())?
            .text()
            .await
            .map_err(|e| e.to_string())?;
        if text.contains(expected) && text.starts_with("POST ") {
            Ok(())
        } else {
            Err(text)
        }
    })
    .await;
    assert_eq!(h.buyers.count("b1", "post"), 0, "a preview sends nothing");

    let store_before = h.dump_store().await;
    browser.find(Locator::Css("#buyer-try button[value=test]")).await.unwrap().click().await.unwrap();
    eventually(Duration::from_secs(10), "the test's answer", async || {
        let text = browser
            .find(Locator::Css("#try-answer"))
            .await
            .map_err(|e| e.to_string())?
            .text()
            .await
            .map_err(|e| e.to_string())?;
        if text.contains(r#""outcome":"accepted""#) {
            Ok(())
        } else {
            Err(text)
        }
    })
    .await;
    screenshot(&browser, "buyer-call-tested").await;
    let sent = h.buyers.received().into_iter().find(|r| r.kind == "post").expect("the test reached the buyer");
    assert_eq!(sent.body.to_string(), expected, "what was tested is what the preview showed");
    assert_eq!(h.dump_store().await, store_before, "a test writes nothing to the store");
    browser.close().await.unwrap();
}

/// From the console's partners list to a partner's posting instructions: the page the
/// partner reads at `GET /v1/partner/docs`, with its fields, consent, aliases and examples.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partners_posting_instructions_open_from_the_console() {
    let config = format!(
        r#"
[[verticals]]
id = "auto"
name = "Auto insurance"
dedup_window_days = 30
fields = [
  {{ name = "zip", type = "zip", required = "ping" }},
  {{ name = "state", type = "state", required = "ping" }},
  {{ name = "age", type = "integer", min = 18, max = 120 }},
  {{ name = "gender", type = "enum", values = ["male", "female", "other"] }},
  {{ name = "first_name", type = "text", required = "post", pii = true, max_length = 100 }},
  {{ name = "birth_date", type = "date", pii = true }},
]

[[offers]]
id = "auto-excl"
name = "Auto insurance, exclusive"
vertical = "auto"
consent = {{ ping = ["jornaya_leadid"], post = ["tcpa_optin", "trustedform_cert_url"] }}

[[partners]]
id = "acme"
name = "Acme Media"
api_key_sha256 = "{}"
offers = ["auto-excl"]
field_aliases = {{ zipcode = "zip", leadid_token = "jornaya_leadid" }}

[[buyers]]
id = "b1"
name = "Hidden Buyer Inc"
post_url = "{{buyers}}/b1/post"
timeout_ms = 1000
"#,
        hex::encode(Sha256::digest(KEY.as_bytes()))
    ) + &common::contract("c-hidden", "b1", "auto-excl", "31.75", "");
    let h = common::Harness::start(&config).await;
    let (_driver, browser) = signed_in(&h).await;
    browser.wait().for_element(Locator::Css("header nav")).await.unwrap();
    browser.find(Locator::LinkText("Partners")).await.unwrap().click().await.unwrap();
    browser.wait().for_element(Locator::Css("#partners-table")).await.unwrap();
    browser
        .find(Locator::Css("#partners-table a[href='/console/partners/acme/docs']"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let h1 = browser.wait().for_element(Locator::Css("h1")).await.unwrap();
    assert_eq!(h1.text().await.unwrap(), "Posting instructions for Acme Media (acme)");
    assert_eq!(browser.current_url().await.unwrap().path(), "/console/partners/acme/docs");
    let text = browser.find(Locator::Css("main")).await.unwrap().text().await.unwrap();
    for shown in [
        "Offer auto-excl",
        "first_name",
        "yes: on the post only",
        "male, female, other",
        "jornaya_leadid",
        "zipcode",
        "YOUR_API_KEY",
        "curl -s",
    ] {
        assert!(text.contains(shown), "the page lacks {shown:?}: {text}");
    }
    for hidden in ["Hidden Buyer", "c-hidden", "31.75", KEY] {
        assert!(!text.contains(hidden), "the page shows {hidden:?}: {text}");
    }
    screenshot(&browser, "partner-docs").await;
    browser.close().await.unwrap();
}
