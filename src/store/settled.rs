//! "These messages are settled" notices: a caller waiting for Meta's answer to a send
//! (`POST /v1/messages?wait=`) is woken by the commit that recorded the answer, on whichever
//! replica made it, instead of polling the database.
//!
//! A message settles when it leaves the states the sender still works on (queued, sending,
//! unconfirmed) for sent, delivered, read or failed: Meta accepted or refused the send, a status
//! webhook confirmed an interrupted one, or a disconnect failed it. Every such move happens in a
//! transaction that [`Store::commit_settled`] commits, which names the messages:
//! - to this process's waiters right after the commit (a broadcast), and
//! - on PostgreSQL, to every replica by `NOTIFY` on [`SETTLED_CHANNEL`] inside the transaction
//!   (PostgreSQL delivers it at commit and drops it at rollback, so no waiter is woken for a
//!   move that did not happen). Each replica's listener (`app::run_db_listener`) hands the ids
//!   to its waiters with [`Store::settled_elsewhere`].
//!
//! A notice is a hint to read the message again, never the answer itself: the waiter reads
//! the row. A notice can be lost (the listener's connection dropped; a write by another process
//! on SQLite, the CLI); [`SettledNotice::Recheck`] then wakes every waiter, and waiters still
//! read again at a slow safety interval.

use tokio::sync::broadcast;

use super::{Result, Store, Tx};
use crate::config::Backend;
use crate::ids::MessageId;

/// The PostgreSQL `LISTEN` channel of settled-message notices.
pub const SETTLED_CHANNEL: &str = "metabridge_settled";

/// At most this many ids per `NOTIFY` payload (PostgreSQL's limit is 8,000 bytes; an id is
/// 40 characters and a separator).
const IDS_PER_NOTIFY: usize = 150;

/// How many notices a slow waiter may fall behind before it is told to read again
/// ([`broadcast::error::RecvError::Lagged`]).
const HUB_CAPACITY: usize = 4096;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SettledNotice {
    /// This message settled.
    Message(MessageId),
    /// Notices may have been lost: every waiter reads its message again.
    Recheck,
}

/// The process's fan-out of notices to its waiters.
#[derive(Clone)]
pub struct SettledHub(broadcast::Sender<SettledNotice>);

impl Default for SettledHub {
    fn default() -> Self {
        Self(broadcast::channel(HUB_CAPACITY).0)
    }
}

impl SettledHub {
    fn announce(&self, ids: &[MessageId]) {
        // No receiver (nobody waits) is not an error.
        for id in ids {
            let _ = self.0.send(SettledNotice::Message(id.clone()));
        }
    }
}

/// The `NOTIFY` payloads naming `ids` (comma-separated, at most [`IDS_PER_NOTIFY`] each).
fn payloads(ids: &[MessageId]) -> Vec<String> {
    ids.chunks(IDS_PER_NOTIFY)
        .map(|c| {
            c.iter()
                .map(MessageId::as_str)
                .collect::<Vec<_>>()
                .join(",")
        })
        .collect()
}

/// The ids a `NOTIFY` payload names; anything that is not a message id is skipped.
pub fn decode_payload(payload: &str) -> Vec<MessageId> {
    payload
        .split(',')
        .filter_map(|s| MessageId::parse(s).ok())
        .collect()
}

impl Store {
    /// A receiver of this process's settled-message notices.
    pub fn subscribe_settled(&self) -> broadcast::Receiver<SettledNotice> {
        self.settled.0.subscribe()
    }

    /// Commits `tx`, in which the messages `ids` settled, and tells the waiters (module doc).
    pub async fn commit_settled(&self, mut tx: Tx, ids: &[MessageId]) -> Result<()> {
        if self.backend == Backend::Postgres {
            for payload in payloads(ids) {
                sqlx::query("SELECT pg_notify($1, $2)")
                    .bind(SETTLED_CHANNEL)
                    .bind(payload)
                    .execute(&mut *tx)
                    .await?;
            }
        }
        tx.commit().await?;
        self.settled.announce(ids);
        Ok(())
    }

    /// Hands a replica's `NOTIFY` payload (from [`SETTLED_CHANNEL`]) to this process's waiters.
    pub fn settled_elsewhere(&self, payload: &str) {
        self.settled.announce(&decode_payload(payload));
    }

    /// Notices may have been lost (the feed was interrupted): every waiter reads again.
    pub fn settled_recheck(&self) {
        let _ = self.settled.0.send(SettledNotice::Recheck);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: usize) -> MessageId {
        MessageId::parse(&format!("msg_{n:032x}")).expect("id")
    }

    #[test]
    fn payloads_fit_postgres_notify_and_name_every_id_once() {
        let ids: Vec<MessageId> = (0..401).map(id).collect();
        let p = payloads(&ids);
        assert_eq!(p.len(), 3);
        assert!(
            p.iter().all(|s| s.len() < 8000),
            "under NOTIFY's 8,000 bytes"
        );
        let back: Vec<MessageId> = p.iter().flat_map(|s| decode_payload(s)).collect();
        assert_eq!(back, ids);
        assert!(payloads(&[]).is_empty());
    }

    #[test]
    fn a_payload_that_is_not_ids_wakes_nobody() {
        assert!(decode_payload("").is_empty());
        assert!(decode_payload("drop table,ins_x").is_empty());
    }
}
