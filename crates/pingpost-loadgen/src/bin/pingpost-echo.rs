//! `pingpost-echo --listen 127.0.0.1:0`: the HTTP ceiling for benchmarks (see
//! `pingpost_loadgen::echo`). Prints `pingpost-echo listening on http://ADDR` once bound.

use anyhow::{Context, Result};
use clap::Parser;
use std::net::SocketAddr;

// The engine's allocator (see crates/pingpost/src/main.rs), so the ceiling differs from the
// engine only in the work done.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(name = "pingpost-echo", version, about = "Minimal axum JSON echo server: the HTTP ceiling for benchmarks")]
struct Cli {
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: SocketAddr,
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    // The engine's runtime, so the ceiling differs from the engine only in the work done.
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().context("starting the tokio runtime")?;
    rt.block_on(async {
        let listener =
            tokio::net::TcpListener::bind(cli.listen).await.with_context(|| format!("binding {}", cli.listen))?;
        println!("pingpost-echo listening on http://{}", listener.local_addr()?);
        // Accepted connections as the engine's: Nagle off, so the ceiling stays comparable.
        let listener = axum::serve::ListenerExt::tap_io(listener, |tcp| {
            let _ = tcp.set_nodelay(true);
        });
        axum::serve(listener, pingpost_loadgen::echo::router())
            .with_graceful_shutdown(async {
                let _ = tokio::signal::ctrl_c().await;
            })
            .await
            .context("serving")
    })
}
