//! `pingpost reconcile`: asks a running engine to check its books against its store
//! (`GET /v1/admin/reconcile`), prints every difference, and exits non-zero when there is
//! one — so a cron job or a deploy step can stop on it. It asks a running node rather than
//! opening the store and the books itself: that works the same on the embedded store and
//! books (which live inside the node) as on Redis and PostgreSQL, and needs no database
//! credentials where it runs.

use anyhow::{bail, Context, Result};
use std::time::Duration;

#[derive(clap::Args)]
pub struct ReconcileArgs {
    /// Base URL of a running engine.
    #[arg(long, env = "PINGPOST_URL", default_value = "http://127.0.0.1:8080")]
    pub url: String,
    /// Operator token.
    #[arg(long, env = "PINGPOST_ADMIN_TOKEN", hide_env_values = true)]
    pub admin_token: String,
}

/// Exit status when the books and the store differ.
pub const DIFFERENCES_FOUND: i32 = 1;
/// Exit status when the check could not be made (the engine unreachable, the books down).
pub const FAILED: i32 = 2;

/// Answers whether the books and the store agree.
pub async fn run(args: ReconcileArgs) -> Result<bool> {
    let url = format!("{}/v1/admin/reconcile", args.url.trim_end_matches('/'));
    let client = reqwest::Client::builder().timeout(Duration::from_secs(600)).build()?;
    let resp = client
        .get(&url)
        .bearer_auth(&args.admin_token)
        .send()
        .await
        .with_context(|| format!("reaching the engine at {url}"))?;
    let status = resp.status();
    let bytes = resp.bytes().await.context("reading the engine's answer")?;
    let body: serde_json::Value = serde_json::from_slice(&bytes).context("the engine's answer is not JSON")?;
    if !status.is_success() {
        bail!("the engine answered {status}: {}", body["error"]["message"].as_str().unwrap_or("(no message)"));
    }
    let differences = body["differences"].as_array().cloned().unwrap_or_default();
    for d in &differences {
        println!(
            "{}\t{}\t{}",
            d["code"].as_str().unwrap_or(""),
            d["subject"].as_str().unwrap_or(""),
            d["detail"].as_str().unwrap_or("")
        );
    }
    eprintln!(
        "compared {} sales, {} books entries, {} balances: {} difference(s)",
        body["sales"],
        body["entries"],
        body["balances"],
        differences.len()
    );
    Ok(differences.is_empty())
}
