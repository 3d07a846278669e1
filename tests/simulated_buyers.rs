//! `pingpost buyers`, the real binary: its strict buyers expect the secrets the engine is
//! given (`PINGPOST_SECRET_<NAME>`, the demo value where one is unset), and it names where
//! each comes from without ever showing a value.

#![allow(clippy::unwrap_used)] // a test that unwraps fails with the value in its message

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

/// Kills the simulator however the test ends.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test]
async fn pingpost_buyers_expects_the_secrets_the_engine_is_given() {
    let password = "ridgeline-password-from-the-environment";
    let mut child = Command::new(env!("CARGO_BIN_EXE_pingpost"))
        .args(["buyers", "--listen", "127.0.0.1:0"])
        .env("PINGPOST_SECRET_RIDGELINE_PASSWORD", password)
        .env_remove("PINGPOST_SECRET_CRESTLINE_API_TOKEN")
        .env_remove("PINGPOST_SECRET_PINECREST_API_KEY")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let _running = Running(child);
    // What it prints before serving, up to the address it serves on: reading it waits for
    // it to listen.
    let mut lines = Vec::new();
    let mut stdout = BufReader::new(stdout).lines();
    let base = loop {
        let line = stdout.next().expect("it printed where it listens").unwrap();
        match line.strip_prefix("simulated buyers listening on ") {
            Some(base) => break base.to_string(),
            None => lines.push(line),
        }
    };
    assert_eq!(
        lines,
        [
            "strict buyers' secret crestline_api_token from PINGPOST_SECRET_CRESTLINE_API_TOKEN (unset: demo value)",
            "strict buyers' secret ridgeline_password from PINGPOST_SECRET_RIDGELINE_PASSWORD (set)",
            "strict buyers' secret pinecrest_api_key from PINGPOST_SECRET_PINECREST_API_KEY (unset: demo value)",
        ]
    );

    let http = reqwest::Client::new();
    let lead = "Lead.FirstName=Jane&Lead.LastName=Doe&Lead.Email=jane%40example.com&Lead.Phone=5551234567\
                &Lead.DOB=04%2F15%2F1990&Lead.ZipCode=90210&Lead.State=CA&Lead.Gender=F";
    let post = |password: &str| {
        http.post(format!("{base}/ridgeline/api/leads"))
            .basic_auth("pingpost", Some(password))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(lead)
            .send()
    };
    let sold = post(password).await.unwrap();
    assert_eq!(sold.status(), 200);
    assert_eq!(sold.text().await.unwrap(), "SUCCESS|lead_id=RL-000001");
    let refused = post("demo-ridgeline-password").await.unwrap();
    assert_eq!(refused.status(), 401, "the demo password is not the configured one");

    // Unset, a secret is its demo value.
    let ping = http
        .post(format!("{base}/crestline/v2/ping"))
        .header("content-type", "application/json")
        .body(r#"{"ApiToken":"demo-crestline-api-token","tagId":4417,"Lead":{"ZipCode":"90210","State":"CA","Age":34,"Gender":2}}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(ping.status(), 200);
    assert_eq!(ping.text().await.unwrap(), r#"{"leadAuctionId":"LA-000001","price":10.00,"status":"success"}"#);
}
