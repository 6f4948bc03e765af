//! The producer's side of replays: requests kept and served together from the log.

use std::time::{Duration, Instant};

use milo_contracts::replay::ReplayRequest;
use milo_contracts::{topics, Envelope};
use tracing::{debug, info, warn};
use uuid::Uuid;

use super::{LinkTask, REPLAY_GAP};

impl LinkTask {
    /// Keeps a replay request to serve with the others that come with it: every part
    /// reconnecting after a broker restart asks at once, and overlapping asks are published
    /// once. Served half a second after the first, and at most once per [`REPLAY_GAP`]; a
    /// request never waits longer than that and is never dropped.
    pub(super) fn on_replay_request(&mut self, payload: &[u8]) {
        let Some(relay) = &self.relay else { return };
        let Some(request) = ReplayRequest::parse(payload) else {
            debug!("Unreadable replay request ignored.");
            return;
        };
        if request.is_empty_for(relay.producer()) {
            return;
        }
        let asks = relay.asks(&request);
        if asks.is_empty() {
            return;
        }
        self.replays.extend(asks);
        if self.replay_at.is_none() {
            let soon = Instant::now() + Duration::from_millis(500);
            self.replay_at = Some(
                self.last_replay
                    .map_or(soon, |at| soon.max(at + REPLAY_GAP)),
            );
        }
    }

    /// Serves the waiting replay requests from the log, and says what it no longer holds.
    pub(super) fn serve_replays(&mut self) {
        self.replay_at = None;
        self.last_replay = Some(Instant::now());
        let asks = std::mem::take(&mut self.replays);
        let Some(relay) = &mut self.relay else { return };
        let (n, before) = (asks.len(), relay.queue.len());
        let gone = relay.serve(asks);
        let again = relay.queue.len() - before;
        info!(client = %self.config.client_id, asks = n, events = again, "Replayed from the log.");
        for notice in gone.into_iter() {
            if !notice.before_consumer {
                warn!(
                    consumer = %notice.consumer,
                    topic = %notice.topic,
                    from = notice.from,
                    to = notice.to,
                    "Asked for events older than the log holds."
                );
            }
            let event = Envelope::new(relay.producer(), Uuid::nil(), None, notice);
            self.direct.push_back((
                topics::REPLAY_UNAVAILABLE.to_owned(),
                event.to_json(),
                false,
            ));
        }
    }
}
