//! Group commit: collects submissions into batches for the single sequencer.
//!
//! A batch starts with the first waiting submission and closes when it holds `max_entries` or
//! when `interval` has passed since it started, whichever comes first. While one batch is being
//! committed the next one fills, so under load batches grow toward `max_entries` and the cost of
//! each durable commit is shared by many entries; when idle, a submission waits at most
//! `interval` plus one commit.

use std::time::Duration;

use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

/// One submission waiting for its batch, with the channel its outcome goes back on.
#[derive(Debug)]
pub struct Pending<T, R> {
    /// The submission.
    pub item: T,
    /// Where to send the outcome. A dropped receiver (client gone) is not an error.
    pub reply: oneshot::Sender<R>,
}

/// Batch limits.
#[derive(Debug, Clone, Copy)]
pub struct BatchLimits {
    /// Longest time the first submission of a batch waits for others.
    pub interval: Duration,
    /// Most submissions in one batch.
    pub max_entries: usize,
}

/// Runs until every sender is dropped, handing each batch to `process` on a blocking thread
/// (storage is synchronous), one batch at a time: batches are sequenced strictly in order.
pub async fn run<T, R, F>(mut rx: mpsc::Receiver<Pending<T, R>>, limits: BatchLimits, process: F)
where
    T: Send + 'static,
    R: Send + 'static,
    F: Fn(Vec<Pending<T, R>>) + Send + Sync + Clone + 'static,
{
    let max = limits.max_entries.max(1);
    while let Some(first) = rx.recv().await {
        let deadline = Instant::now() + limits.interval;
        let mut batch = vec![first];
        while batch.len() < max {
            // Take what is already queued without waiting.
            match rx.try_recv() {
                Ok(p) => {
                    batch.push(p);
                    continue;
                }
                Err(mpsc::error::TryRecvError::Disconnected) => break,
                Err(mpsc::error::TryRecvError::Empty) => {}
            }
            tokio::select! {
                next = rx.recv() => match next {
                    Some(p) => batch.push(p),
                    None => break,
                },
                () = tokio::time::sleep_until(deadline) => break,
            }
        }
        let process = process.clone();
        if let Err(e) = tokio::task::spawn_blocking(move || process(batch)).await {
            // A panic in the sequencer must not be survived silently: the replies of that
            // batch were dropped (clients saw an error) and the state may be half-updated.
            tracing::error!(error = %e, "sequencer batch panicked; stopping the sequencer");
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    #[tokio::test]
    async fn batches_by_size_and_by_interval_in_order() {
        let (tx, rx) = mpsc::channel::<Pending<u32, usize>>(1024);
        let seen: Arc<Mutex<Vec<Vec<u32>>>> = Arc::default();
        let record = Arc::clone(&seen);
        let limits = BatchLimits {
            interval: Duration::from_millis(50),
            max_entries: 4,
        };
        let task = tokio::spawn(run(rx, limits, move |batch: Vec<Pending<u32, usize>>| {
            let n = batch.len();
            record
                .lock()
                .expect("lock")
                .push(batch.iter().map(|p| p.item).collect());
            for p in batch {
                let _ = p.reply.send(n);
            }
        }));
        let mut replies = Vec::new();
        for i in 0..10 {
            let (reply, rx) = oneshot::channel();
            tx.send(Pending { item: i, reply }).await.expect("send");
            replies.push(rx);
        }
        for r in replies {
            assert!(r.await.expect("reply") <= 4);
        }
        let (reply, rx_last) = oneshot::channel();
        let started = Instant::now();
        tx.send(Pending { item: 99, reply }).await.expect("send");
        assert_eq!(rx_last.await.expect("reply"), 1);
        assert!(
            started.elapsed() >= Duration::from_millis(45),
            "waited for the interval"
        );
        drop(tx);
        task.await.expect("runner ends when senders are gone");
        let batches = seen.lock().expect("lock").clone();
        let flat: Vec<u32> = batches.iter().flatten().copied().collect();
        assert_eq!(flat, (0..10).chain([99]).collect::<Vec<_>>(), "order kept");
        assert!(batches.iter().all(|b| !b.is_empty() && b.len() <= 4));
    }
}
