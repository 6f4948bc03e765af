//! Presence: `online` once connected and subscribed (see [`super::spawn_gated`]),
//! `offline` as the last will and on a graceful stop.

use std::time::Duration;

use rumqttc::{Event, EventLoop, Outgoing, QoS};
use tokio::sync::watch;

use super::LinkTask;

impl LinkTask {
    /// Says `online` if it is due on this connection and the gate is open.
    pub(super) fn announce_when_open(&mut self) {
        let open = self.gate.as_ref().is_none_or(|g| *g.borrow());
        if !(self.presence_due && self.connected && open) {
            return;
        }
        self.presence_due = false;
        if let Some(topic) = self.config.presence.clone() {
            if self
                .client
                .try_publish(topic.clone(), QoS::AtLeastOnce, true, "online")
                .is_ok()
            {
                self.fifo.push_back(None);
                // From now on this link puts `online` back if someone else changes it.
                self.own(&topic, b"online");
            }
        }
    }

    /// Graceful stop: presence `offline` (a clean disconnect fires no last will), then DISCONNECT.
    pub(super) async fn say_goodbye(&mut self, eventloop: &mut EventLoop) {
        if !self.connected {
            return;
        }
        if let Some(topic) = self.config.presence.clone() {
            let _ = self
                .client
                .try_publish(topic, QoS::AtLeastOnce, true, "offline");
        }
        let _ = self.client.try_disconnect();
        let drain = async {
            loop {
                match eventloop.poll().await {
                    Ok(Event::Outgoing(Outgoing::Disconnect)) | Err(_) => break,
                    Ok(_) => {}
                }
            }
        };
        let _ = tokio::time::timeout(Duration::from_secs(2), drain).await;
    }
}

/// Resolves when `gate` changes: true while its owner lives, false once it is gone. Never
/// resolves without a gate.
pub(super) async fn gate_changed(gate: &mut Option<watch::Receiver<bool>>) -> bool {
    match gate {
        Some(g) => g.changed().await.is_ok(),
        None => std::future::pending().await,
    }
}
