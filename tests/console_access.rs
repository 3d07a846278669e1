//! Who may use the console, over HTTP: its pages cannot be framed or cached, one address
//! cannot keep guessing the operator token, signing out ends a session even where its cookie
//! was copied, "sign out everywhere" ends them all, and the cookie can be made `Secure`.
//! Runs on the store `PINGPOST_TEST_STORE` names (sessions are checked against it).

#![allow(clippy::unwrap_used)] // a test that unwraps fails with the value in its message

mod common;

use common::process::{start_engine_with_flags, temp_dir};
use common::*;
use pingpost_server::console::session;
use pingpost_server::AdminToken;

fn http() -> reqwest::Client {
    // Redirects are answers here: sign-in and sign-out answer 303s that set the cookie.
    reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap()
}

async fn sign_in(h: &Harness, http: &reqwest::Client, token: &str) -> reqwest::Response {
    http.post(format!("{}/console/sign-in", h.base)).form(&[("token", token)]).send().await.unwrap()
}

/// Signs in with the operator token and answers the session cookie's value.
async fn session_cookie(h: &Harness, http: &reqwest::Client) -> String {
    let resp = sign_in(h, http, ADMIN_TOKEN).await;
    assert_eq!(resp.status().as_u16(), 303);
    cookie_value(&resp).expect("a session cookie")
}

fn cookie_value(resp: &reqwest::Response) -> Option<String> {
    let set = resp.headers().get("set-cookie")?.to_str().ok()?;
    let pair = set.split(';').next()?;
    pair.strip_prefix(&format!("{}=", session::COOKIE)).map(String::from)
}

/// The admin API as the console's scripts call it: with the session cookie.
async fn admin_with_cookie(h: &Harness, http: &reqwest::Client, cookie: &str) -> u16 {
    let resp = http
        .get(format!("{}/v1/admin/contracts", h.base))
        .header("cookie", format!("{}={cookie}", session::COOKIE))
        .send()
        .await
        .unwrap();
    resp.status().as_u16()
}

async fn sign_out(h: &Harness, http: &reqwest::Client, cookie: &str, path: &str) -> u16 {
    let csrf = session::csrf(&AdminToken::new(ADMIN_TOKEN), cookie);
    let resp = http
        .post(format!("{}{path}", h.base))
        .header("cookie", format!("{}={cookie}", session::COOKIE))
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    resp.status().as_u16()
}

#[tokio::test]
async fn console_pages_cannot_be_framed_run_foreign_scripts_or_be_cached() {
    let h = Harness::start(&base_config()).await;
    let http = http();
    let cookie = session_cookie(&h, &http).await;
    for path in ["/console", "/console/contracts", "/console/assets/console.js"] {
        let resp = http
            .get(format!("{}{path}", h.base))
            .header("cookie", format!("{}={cookie}", session::COOKIE))
            .send()
            .await
            .unwrap();
        assert!(resp.status().is_success() || resp.status().is_redirection(), "{path}: {}", resp.status());
        let header = |name: &str| resp.headers().get(name).and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
        let csp = header("content-security-policy");
        for directive in ["frame-ancestors 'none'", "script-src 'self'", "form-action 'self'", "default-src 'none'"] {
            assert!(csp.contains(directive), "{path}: {directive} missing from {csp:?}");
        }
        assert_eq!(header("x-frame-options"), "DENY", "{path}");
        assert_eq!(header("cache-control"), "no-store", "{path}");
    }
}

#[tokio::test]
async fn one_address_gets_five_wrong_tokens_a_minute_then_waits() {
    let h = Harness::start(&base_config()).await;
    let http = http();
    for attempt in 1..=5 {
        let resp = sign_in(&h, &http, "a-wrong-guess-at-the-token").await;
        assert_eq!(resp.status().as_u16(), 401, "attempt {attempt}");
    }
    // Now even the right token is refused unread, with how long to wait.
    let resp = sign_in(&h, &http, ADMIN_TOKEN).await;
    assert_eq!(resp.status().as_u16(), 429);
    assert!(resp.headers().get("retry-after").is_some());
    assert!(cookie_value(&resp).is_none());
    h.advance_secs(61).await;
    let resp = sign_in(&h, &http, ADMIN_TOKEN).await;
    assert_eq!(resp.status().as_u16(), 303, "the window ended");
    assert!(cookie_value(&resp).is_some());
}

#[tokio::test]
async fn signing_out_ends_the_session_where_its_cookie_was_copied_too() {
    let h = Harness::start(&base_config()).await;
    let http = http();
    let cookie = session_cookie(&h, &http).await;
    let other = session_cookie(&h, &http).await;
    assert_eq!(admin_with_cookie(&h, &http, &cookie).await, 200);
    // The copy is the same value, sent from elsewhere after the owner signed out.
    let copied = cookie.clone();
    assert_eq!(sign_out(&h, &http, &cookie, "/console/sign-out").await, 303);
    assert_eq!(admin_with_cookie(&h, &http, &copied).await, 401, "a copied cookie outlives its sign-out");
    let page = http
        .get(format!("{}/console/contracts", h.base))
        .header("cookie", format!("{}={copied}", session::COOKIE))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status().as_u16(), 303, "the console sends the copy to sign in");
    assert_eq!(admin_with_cookie(&h, &http, &other).await, 200, "another session is not this one");
}

#[tokio::test]
async fn sign_out_everywhere_ends_every_session_and_a_new_sign_in_works() {
    let h = Harness::start(&base_config()).await;
    let http = http();
    let (a, b) = (session_cookie(&h, &http).await, session_cookie(&h, &http).await);
    assert_eq!(sign_out(&h, &http, &a, "/console/sign-out-everywhere").await, 303);
    assert_eq!(admin_with_cookie(&h, &http, &a).await, 401);
    assert_eq!(admin_with_cookie(&h, &http, &b).await, 401, "every session ended, not only the caller's");
    let fresh = session_cookie(&h, &http).await;
    assert_eq!(admin_with_cookie(&h, &http, &fresh).await, 200);
}

/// Behind TLS the cookie must never travel in clear: `--console-secure-cookie` marks it so.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_marks_the_session_cookie_secure_when_asked() {
    let dir = temp_dir("secure-cookie");
    std::fs::write(dir.join("market.toml"), "[[verticals]]\nid = \"auto\"\n").unwrap();
    for (flags, secure) in [(vec!["--console-secure-cookie"], true), (vec![], false)] {
        let (_engine, base) = start_engine_with_flags(&dir, "memory", &flags);
        let resp = http()
            .post(format!("{base}/console/sign-in"))
            .form(&[("token", common::process::E2E_ADMIN_TOKEN)])
            .send()
            .await
            .unwrap();
        let set = resp.headers().get("set-cookie").unwrap().to_str().unwrap().to_string();
        assert_eq!(set.contains("; Secure"), secure, "{flags:?}: {set}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}
