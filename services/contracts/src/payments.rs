//! How an order is paid, and whether card payments work right now.
//!
//! The payment service keeps a circuit breaker around the card processor and publishes its
//! state as a retained fact on `payments/gateway` ([`GatewayStatus`]): the order service
//! refuses card orders at intake while it is not closed (`when_offline = "refuse"`), and a POS
//! says "card payments offline" before the customer pays. Cash never touches the processor.

use serde::{Deserialize, Serialize};

use crate::envelope::Event;
use crate::topics;

/// What a card order is refused with while the card processor is offline (at intake), and
/// what a charge in flight fails with when the breaker opens or the processor does not answer.
pub const CARDS_UNAVAILABLE: &str = "card payments unavailable: take cash or try again";

/// Why an order failed when its payment did, as the flow's owner records it: "payment
/// declined: …" for a decline, the reason itself when card payments were unavailable (nobody
/// declined anything).
pub fn failure_reason(payment_reason: &str) -> String {
    if payment_reason == CARDS_UNAVAILABLE {
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
}

/// The card processor as the payment service sees it (retained on `payments/gateway`):
/// published at start and at each change of the breaker's state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GatewayStatus {
    /// The breaker's state.
    pub state: BreakerState,
    /// What the store does with card orders while it is not closed.
    pub when_offline: WhenOffline,
    /// Why it last opened (failures seen), when it is not closed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
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
        };
        assert_eq!(s.refuses_cards(), None);
        for state in [BreakerState::Open, BreakerState::HalfOpen] {
            s.state = state;
            assert_eq!(s.refuses_cards(), Some(CARDS_UNAVAILABLE));
        }
        let json = serde_json::to_string(&s).unwrap();
        assert_eq!(json, r#"{"state":"half_open","when_offline":"refuse"}"#);
        assert_eq!(serde_json::from_str::<GatewayStatus>(&json).unwrap(), s);
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
        assert_eq!(
            failure_reason("stolen card"),
            "payment declined: stolen card"
        );
    }
}
