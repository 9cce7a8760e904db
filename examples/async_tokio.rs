//! Concurrent async workflows on a multi-thread tokio runtime: every tool call, spawned or
//! awaited in place, stays in the trace of the request that made it.
//!
//! ```text
//! cargo run --example async_tokio
//! ```

use std::time::Duration;

#[llmobs::tool]
async fn fetch_price(sku: String) -> f64 {
    tokio::time::sleep(Duration::from_millis(5)).await;
    sku.len() as f64 * 100.0
}

#[llmobs::tool]
async fn fetch_stock(sku: String) -> u32 {
    tokio::time::sleep(Duration::from_millis(3)).await;
    sku.len() as u32
}

#[llmobs::workflow(session_id = session.as_str())]
async fn quote(session: String, sku: String) -> String {
    // Created here, so a child of this workflow even though it runs on another worker thread.
    let stock = tokio::spawn(fetch_stock(sku.clone()));
    let price = fetch_price(sku.clone()).await;
    let stock = stock.await.unwrap_or(0);
    format!("{sku}: {price:.0} USD, {stock} in stock")
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let _llmobs = llmobs::Config::from_env()?
        .default_ml_app("async-demo")
        .init()?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .build()?;
    rt.block_on(async {
        let handles: Vec<_> = (0..8)
            .map(|i| {
                tokio::spawn(quote(
                    format!("session-{i}"),
                    format!("SKU-{}", "X".repeat(i + 1)),
                ))
            })
            .collect();
        for h in handles {
            println!("{}", h.await.unwrap_or_default());
        }
    });
    Ok(())
}
