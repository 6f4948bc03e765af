//! Whether card payments work right now: the retained `payments/gateway` from the payment
//! service's circuit breaker, kept in memory and never stored (the broker hands it back after
//! a restart, and payment publishes it again at start). While it says the breaker is not
//! closed and the store refuses card orders then (`payment.when_offline = "refuse"`), a card
//! order is refused at intake with [`CARDS_UNAVAILABLE`]; a cash order is taken.
//!
//! [`CARDS_UNAVAILABLE`]: milo_contracts::payments::CARDS_UNAVAILABLE

use milo_bus::Rejection;
use milo_contracts::payments::{GatewayStatus, PaymentMethod};
use milo_contracts::RawEnvelope;
use time::OffsetDateTime;
use tracing::debug;

/// The latest card processor status heard, and when payment published it.
#[derive(Debug, Clone, Default)]
pub(super) struct Cards(Option<(OffsetDateTime, GatewayStatus)>);

impl Cards {
    /// Takes a `payments/gateway` payload, unless older than what is held.
    pub(super) fn take(&mut self, payload: &[u8]) -> Result<(), Rejection> {
        let env = RawEnvelope::parse(payload)?;
        let latest: GatewayStatus = env.decode()?;
        if self.0.as_ref().is_none_or(|(at, _)| env.occurred_at >= *at) {
            let before = self.0.as_ref().map(|(_, s)| s.state);
            if before != Some(latest.state) {
                // Payment logs each change once; the probes repeat it all through an outage.
                debug!(state = latest.state.as_str(), "Card processor status.");
            }
            self.0 = Some((env.occurred_at, latest));
        }
        Ok(())
    }

    /// Why an order paid by `method` must be refused now; `None` if it can be taken (cash
    /// always, card unless the breaker is known to be open or half-open).
    pub(super) fn refusal(&self, method: PaymentMethod) -> Option<&'static str> {
        let (_, status) = self.0.as_ref()?;
        match method {
            PaymentMethod::Cash => None,
            PaymentMethod::Card => status.refuses_cards(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use milo_contracts::payments::{BreakerState, WhenOffline, CARDS_UNAVAILABLE};
    use milo_contracts::Envelope;
    use uuid::Uuid;

    fn payload(state: BreakerState, at: OffsetDateTime) -> Vec<u8> {
        let data = GatewayStatus {
            state,
            when_offline: WhenOffline::Refuse,
            reason: None,
            ..Default::default()
        };
        let mut env = Envelope::new("payment", Uuid::nil(), None, data);
        env.occurred_at = at;
        env.to_json()
    }

    #[test]
    fn card_orders_are_refused_while_open_cash_never() {
        let mut cards = Cards::default();
        assert_eq!(
            cards.refusal(PaymentMethod::Card),
            None,
            "nothing known yet"
        );
        let now = OffsetDateTime::now_utc();
        cards.take(&payload(BreakerState::Open, now)).unwrap();
        assert_eq!(cards.refusal(PaymentMethod::Card), Some(CARDS_UNAVAILABLE));
        assert_eq!(cards.refusal(PaymentMethod::Cash), None);
        // An older status (a replayed outbox) changes nothing; a newer one does.
        let older = now - time::Duration::seconds(1);
        cards.take(&payload(BreakerState::Closed, older)).unwrap();
        assert!(cards.refusal(PaymentMethod::Card).is_some());
        let newer = now + time::Duration::seconds(1);
        cards.take(&payload(BreakerState::Closed, newer)).unwrap();
        assert_eq!(cards.refusal(PaymentMethod::Card), None);
    }
}
