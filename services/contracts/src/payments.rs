//! How an order is paid, and whether card payments work right now.
//!
//! The payment service keeps a circuit breaker around the card processor and publishes its
//! state as a retained fact on `payments/gateway` ([`GatewayStatus`]): the order service
//! refuses card orders at intake while it is not closed (`when_offline = "refuse"`), or lets
//! payment authorize them offline within limits (`when_offline = "queue"`), and a POS says
//! "card payments offline" before the customer pays. Cash never touches the processor.

use serde::{Deserialize, Serialize};

use crate::envelope::Event;
use crate::topics;

/// What a card order is refused with while the card processor is offline (at intake), and
/// what a charge in flight fails with when the breaker opens or the processor does not answer.
pub const CARDS_UNAVAILABLE: &str = "card payments unavailable: take cash or try again";

/// How every reason that comes from the card processor being offline (not from an issuer)
/// starts.
pub const CARDS_PREFIX: &str = "card payments ";

/// What a card order over `payment.offline.per_order_limit_cents` fails with while card
/// payments are taken offline (`when_offline = "queue"`).
pub const OFFLINE_OVER_ORDER_LIMIT: &str =
    "card payments offline: this order is over the offline limit per order; take cash";

/// What a card order fails with while card payments are taken offline when it would push the
/// total not yet captured past `payment.offline.exposure_limit_cents`.
pub const OFFLINE_OVER_EXPOSURE: &str =
    "card payments offline: the offline limit for all orders is reached; take cash";

/// Why an order failed when its payment did, as the flow's owner records it: "payment
/// declined: …" for a decline, the reason itself when card payments were unavailable (nobody
/// declined anything).
pub fn failure_reason(payment_reason: &str) -> String {
    if payment_reason.starts_with(CARDS_PREFIX) {
        payment_reason.to_owned()
    } else {
        format!("payment declined: {payment_reason}")
    }
}

/// How the customer pays. Card is the default, so events from before cash existed read as
/// card orders.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PaymentMethod {
    /// Charged through the card processor.
    #[default]
    Card,
    /// Paid in cash at the till: recorded by the payment service without the processor.
    Cash,
}

impl PaymentMethod {
    /// True for a card order (what serde leaves out of the JSON, so a card order's event
    /// reads byte for byte as it did before cash existed).
    pub fn is_card(&self) -> bool {
        *self == PaymentMethod::Card
    }

    /// The method's name as events and the books spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            PaymentMethod::Card => "card",
            PaymentMethod::Cash => "cash",
        }
    }
}

/// The circuit breaker's state around the card processor.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BreakerState {
    /// Card payments go to the processor.
    #[default]
    Closed,
    /// Too many failures: card charges fail at once, without asking the processor.
    Open,
    /// After the cool-down: probes ask the processor whether it is back; card charges still
    /// fail at once until it closes.
    HalfOpen,
}

impl BreakerState {
    /// The state's name as logs and the POS spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            BreakerState::Closed => "closed",
            BreakerState::Open => "open",
            BreakerState::HalfOpen => "half_open",
        }
    }
}

/// What the store does with card orders while the breaker is not closed (`payment.when_offline`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WhenOffline {
    /// Refuse card orders at once with [`CARDS_UNAVAILABLE`]; cash orders go on.
    #[default]
    Refuse,
    /// Take card orders and authorize them offline (the drink is made), within a per-order and
    /// a total limit; payment captures each exactly once when the processor is back.
    Queue,
}

/// The card processor as the payment service sees it (retained on `payments/gateway`):
/// published at start, at each change of the breaker's state and of the offline queue.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GatewayStatus {
    /// The breaker's state.
    pub state: BreakerState,
    /// What the store does with card orders while it is not closed.
    pub when_offline: WhenOffline,
    /// Why it last opened (failures seen), when it is not closed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Offline authorizations waiting to be captured (`when_offline = "queue"`).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub queued: u64,
    /// Their total, in cents: the store's exposure.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub queued_cents: u64,
    /// The limits of the offline queue (`[payment.offline]`), in queue mode.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limits: Option<OfflineLimits>,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// How much the store takes in card payments it cannot capture yet (`[payment.offline]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct OfflineLimits {
    /// The largest order authorized offline, in cents.
    pub per_order_limit_cents: u64,
    /// The most authorized offline and not yet captured, in cents.
    pub exposure_limit_cents: u64,
}

impl Event for GatewayStatus {
    const TYPE: &'static str = "GatewayStatus";
    const VERSION: u32 = 1;
    const TOPIC: &'static str = topics::PAYMENTS_GATEWAY;
}

impl GatewayStatus {
    /// Why a card order must be refused at intake now, or `None` if card orders are taken.
    pub fn refuses_cards(&self) -> Option<&'static str> {
        let offline = self.state != BreakerState::Closed;
        (offline && self.when_offline == WhenOffline::Refuse).then_some(CARDS_UNAVAILABLE)
    }

    /// What a POS says before the customer pays while card payments are offline, or `None`
    /// while they work.
    pub fn offline_note(&self) -> Option<String> {
        if self.state == BreakerState::Closed {
            return None;
        }
        let Some(l) = self
            .limits
            .filter(|_| self.when_offline == WhenOffline::Queue)
        else {
            return Some("card payments offline: take cash or try again".to_owned());
        };
        Some(format!(
            "card payments offline: cards are taken offline (captured later), up to {} an \
             order and {} in all; {} queued ({})",
            money(l.per_order_limit_cents),
            money(l.exposure_limit_cents),
            self.queued,
            money(self.queued_cents)
        ))
    }
}

/// Cents as the shop's money, `12.50` (the POS, the screens and the CLI all print it so).
pub fn money(cents: u64) -> String {
    format!("{}.{:02}", cents / 100, cents % 100)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn card_orders_are_refused_only_while_not_closed() {
        let mut s = GatewayStatus {
            state: BreakerState::Closed,
            when_offline: WhenOffline::Refuse,
            reason: None,
            queued: 0,
            queued_cents: 0,
            limits: None,
        };
        assert_eq!(s.refuses_cards(), None);
        for state in [BreakerState::Open, BreakerState::HalfOpen] {
            s.state = state;
            assert_eq!(s.refuses_cards(), Some(CARDS_UNAVAILABLE));
        }
        let json = serde_json::to_string(&s).unwrap();
        assert_eq!(json, r#"{"state":"half_open","when_offline":"refuse"}"#);
        assert_eq!(serde_json::from_str::<GatewayStatus>(&json).unwrap(), s);
        // Taking cards offline: never refused at intake; the POS says how far it goes.
        s.when_offline = WhenOffline::Queue;
        s.limits = Some(OfflineLimits {
            per_order_limit_cents: 2500,
            exposure_limit_cents: 20000,
        });
        (s.queued, s.queued_cents) = (2, 700);
        assert_eq!(s.refuses_cards(), None);
        let note = s.offline_note().unwrap();
        assert!(
            note.contains("up to 25.00 an order and 200.00 in all; 2 queued (7.00)"),
            "{note}"
        );
        let json = serde_json::to_string(&s).unwrap();
        assert_eq!(serde_json::from_str::<GatewayStatus>(&json).unwrap(), s);
        s.state = BreakerState::Closed;
        assert_eq!(s.offline_note(), None);
    }

    #[test]
    fn a_card_order_reads_and_writes_as_before_cash_existed() {
        use crate::events::OrderPlaced;
        let old =
            r#"{"order_id":"0190a5a4-5b8e-7000-8000-000000000001","items":[],"customer":null}"#;
        let placed: OrderPlaced = serde_json::from_str(old).unwrap();
        assert_eq!(placed.payment, PaymentMethod::Card);
        assert_eq!(
            serde_json::to_string(&placed).unwrap(),
            old,
            "byte for byte"
        );
        let cash = OrderPlaced {
            payment: PaymentMethod::Cash,
            ..placed
        };
        let json = serde_json::to_string(&cash).unwrap();
        assert!(json.ends_with(r#","payment":"cash"}"#), "{json}");
        assert_eq!(serde_json::from_str::<OrderPlaced>(&json).unwrap(), cash);
        assert_eq!(failure_reason(CARDS_UNAVAILABLE), CARDS_UNAVAILABLE);
        assert_eq!(failure_reason(OFFLINE_OVER_EXPOSURE), OFFLINE_OVER_EXPOSURE);
        assert_eq!(
            failure_reason("stolen card"),
            "payment declined: stolen card"
        );
    }
}
