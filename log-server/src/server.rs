//! Wires the sequencer, the rate limiters and the router together and serves until shutdown.

use std::future::Future;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::mpsc;

use crate::batcher::{self, BatchLimits};
use crate::config::LimitsConfig;
use crate::http::{AppState, router};
use crate::listener::ConnectionLimits;
use crate::log::Log;
use crate::metrics::Metrics;
use crate::ratelimit::{Limiter, Rate, SubmissionLimits, TrustedProxies};
use crate::tile_cache::{DEFAULT_TILE_CACHE_BYTES, TileCache};
use crate::witness_client::{self, PublisherOptions};

/// How the server runs.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// Batch limits of the sequencer.
    pub batch: BatchLimits,
    /// Submission rate limits.
    pub limits: LimitsConfig,
    /// Witness cosigning and the publication hook.
    pub publisher: PublisherOptions,
    /// Connection timeouts, cap and body limit.
    pub connections: ConnectionLimits,
}

fn rate(per_second: u32) -> Option<Rate> {
    NonZeroU32::new(per_second).map(Rate::per_second)
}

/// Serves `log` on `listener` until `shutdown` resolves, then lets the sequencer finish the
/// batch in progress (every acknowledged entry is committed) and returns.
pub async fn run(
    log: Arc<Log>,
    metrics: Arc<Metrics>,
    options: ServeOptions,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    // Enough queue for a few full batches; beyond that, senders wait (back-pressure).
    let (tx, rx) = mpsc::channel(options.batch.max_entries.saturating_mul(4).max(64));
    let sequencer_log = Arc::clone(&log);
    let sequencer = tokio::spawn(batcher::run(rx, options.batch, move |batch| {
        let (subs, replies): (Vec<_>, Vec<_>) =
            batch.into_iter().map(|p| (p.item, p.reply)).unzip();
        let outcomes = sequencer_log.sequence(subs);
        for (reply, outcome) in replies.into_iter().zip(outcomes) {
            // The client may have gone away; its entry is logged all the same.
            let _ = reply.send(outcome);
        }
    }));
    log.set_witnessed(!options.publisher.witnesses.is_empty());
    let witnessed = if options.publisher.is_active() {
        let (sizes, receiver) = tokio::sync::watch::channel((0, 0));
        let wait = if options.publisher.witnesses.is_empty() {
            None
        } else {
            // One round for an earlier checkpoint may be in flight, then one for this one.
            Some((
                receiver,
                options.publisher.timeout * 2 + Duration::from_secs(1),
            ))
        };
        tokio::spawn(witness_client::run(
            Arc::clone(&log),
            Arc::clone(&metrics),
            options.publisher.clone(),
            sizes,
        ));
        wait
    } else {
        None
    };
    let trusted_proxies = TrustedProxies::parse(&options.limits.trusted_proxies)
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
    let limits = SubmissionLimits {
        per_address: Limiter::new(rate(options.limits.per_address_per_second)),
        per_key: Limiter::new(rate(options.limits.per_key_per_second)),
        trusted_proxies,
    };
    let witness_lines: Vec<(String, String, Option<String>)> = (options.publisher.witnesses.iter())
        .map(|w| (w.name.clone(), w.verifier.to_vkey(), None))
        .collect();
    let trust_policy = crate::explorer::trust_policy(&log.log_vkeys(), &witness_lines);
    let app = Arc::new(AppState {
        trust_policy,
        log,
        submit: tx,
        limits,
        metrics,
        tiles: TileCache::new(DEFAULT_TILE_CACHE_BYTES),
        witnessed,
    });
    let pruner_app = Arc::downgrade(&app);
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(60));
        loop {
            tick.tick().await;
            let Some(app) = pruner_app.upgrade() else {
                break;
            };
            app.limits.per_address.prune();
            app.limits.per_key.prune();
        }
    });
    crate::listener::serve(listener, router(app), options.connections, shutdown).await?;
    // The router and its queue sender are gone: the sequencer drains what was queued and stops.
    if let Err(e) = sequencer.await {
        tracing::error!(error = %e, "sequencer task failed");
    }
    Ok(())
}
