//! The saga record: where an order's saga stands and every step it took.

use milo_bus::{Published, Timer};
use milo_contracts::events::{Ingredients, PricedLine};
use milo_contracts::payments::PaymentMethod;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

/// Where a saga stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SagaState {
    /// Waiting for inventory to set the ingredients aside.
    Reserving,
    /// Waiting for the payment.
    Charging,
    /// At the bar.
    Preparing,
    /// A cancellation asked the bar to withdraw the ticket.
    Withdrawing,
    /// Undoing the completed steps in reverse order.
    Compensating,
    /// Made (terminal).
    Completed,
    /// Canceled, every step undone (terminal).
    Canceled,
}

impl SagaState {
    /// Every state.
    pub const ALL: [SagaState; 7] = [
        SagaState::Reserving,
        SagaState::Charging,
        SagaState::Preparing,
        SagaState::Withdrawing,
        SagaState::Compensating,
        SagaState::Completed,
        SagaState::Canceled,
    ];

    /// The lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            SagaState::Reserving => "reserving",
            SagaState::Charging => "charging",
            SagaState::Preparing => "preparing",
            SagaState::Withdrawing => "withdrawing",
            SagaState::Compensating => "compensating",
            SagaState::Completed => "completed",
            SagaState::Canceled => "canceled",
        }
    }

    /// Parses a lowercase name.
    pub fn parse(s: &str) -> Option<SagaState> {
        SagaState::ALL.into_iter().find(|st| st.as_str() == s)
    }

    /// No further change will happen.
    pub fn is_terminal(self) -> bool {
        matches!(self, SagaState::Completed | SagaState::Canceled)
    }
}

/// A step of the saga.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StepName {
    /// `commands/inventory/reserve`.
    Reserve,
    /// `commands/payment/charge`.
    Charge,
    /// `commands/barista/prepare`.
    Prepare,
    /// `commands/barista/withdraw` (a cancellation).
    Withdraw,
    /// `commands/payment/refund` (compensates `charge`).
    Refund,
    /// `commands/inventory/release` (compensates `reserve`).
    Release,
}

/// How a step ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StepOutcome {
    /// Asked; no answer yet.
    Pending,
    /// Done.
    Succeeded,
    /// The participant said no (declined, out of stock, machine fault, too late to withdraw).
    Failed,
    /// No answer after the last attempt.
    TimedOut,
    /// Left unanswered because the saga turned to compensation.
    Abandoned,
}

/// One step as it happened.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StepRecord {
    /// Which step.
    pub step: StepName,
    /// How it ended.
    pub outcome: StepOutcome,
    /// Times the command was sent.
    pub attempts: u32,
    /// The participant's answer or the failure's reason.
    pub detail: Option<String>,
    /// First sent.
    #[serde(with = "time::serde::rfc3339")]
    pub started_at: OffsetDateTime,
    /// Last sent.
    #[serde(with = "time::serde::rfc3339")]
    pub last_attempt_at: OffsetDateTime,
    /// Answered (or given up).
    #[serde(with = "time::serde::rfc3339::option")]
    pub finished_at: Option<OffsetDateTime>,
}

/// One order's saga.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Saga {
    /// The order.
    pub order_id: Uuid,
    /// Where it stands.
    pub state: SagaState,
    /// Why it is compensating or canceled.
    pub reason: Option<String>,
    /// Amount to charge, in cents.
    pub amount_cents: u64,
    /// Ingredients to reserve.
    pub ingredients: Ingredients,
    /// What to make.
    pub lines: Vec<PricedLine>,
    /// Name to call out.
    pub customer: Option<String>,
    /// How the customer pays (card for sagas from before cash existed).
    #[serde(default)]
    pub payment: PaymentMethod,
    /// Every step, in the order taken.
    pub steps: Vec<StepRecord>,
    /// Compensation steps still to do, next first.
    pub to_undo: Vec<StepName>,
    /// A station began the drink: too late to cancel.
    pub started: bool,
    /// A cancellation waiting for the bar's answer: its reason.
    pub cancel: Option<String>,
    /// Ingredients the bar used before it stopped.
    pub consumed: Ingredients,
    /// Cents refunded.
    pub refunded_cents: u64,
    /// Ingredients back in stock.
    pub released: Ingredients,
    /// Compensations done, in order.
    pub compensations: Vec<String>,
    /// The event that started it (`orders/created`), cause of the commands.
    pub cause: Option<Uuid>,
    /// Created.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// Last state change.
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
    /// The pending timeout.
    pub timer: Option<Timer<StepName>>,
    /// The latest fact announced to the order service (`orders/ready`, the bar's
    /// `orders/prepared`, `orders/failed`, `orders/canceled`), to say again, byte for byte,
    /// when the order service asks (a repeated `orders/created`).
    #[serde(default)]
    pub announced: Option<Published>,
}

impl Saga {
    /// A saga for `order_id` with nothing asked yet, in `state`.
    pub fn new(order_id: Uuid, state: SagaState, cause: Option<Uuid>) -> Saga {
        let now = OffsetDateTime::now_utc();
        Saga {
            order_id,
            state,
            reason: None,
            amount_cents: 0,
            ingredients: Ingredients::new(),
            lines: Vec::new(),
            customer: None,
            payment: PaymentMethod::Card,
            steps: Vec::new(),
            to_undo: Vec::new(),
            started: false,
            cancel: None,
            consumed: Ingredients::new(),
            refunded_cents: 0,
            released: Ingredients::new(),
            compensations: Vec::new(),
            cause,
            created_at: now,
            updated_at: now,
            timer: None,
            announced: None,
        }
    }

    /// The latest record of `step`.
    pub fn step(&self, step: StepName) -> Option<&StepRecord> {
        self.steps.iter().rev().find(|s| s.step == step)
    }

    /// The latest record of `step`, to change.
    pub fn step_mut(&mut self, step: StepName) -> Option<&mut StepRecord> {
        self.steps.iter_mut().rev().find(|s| s.step == step)
    }
}

/// Key of a saga.
pub fn saga_key(id: Uuid) -> String {
    format!("saga/{id}")
}

/// Prefix of every saga.
pub const SAGA_PREFIX: &str = "saga/";

/// Prefix of the index of sagas in one state.
pub fn state_prefix(state: SagaState) -> String {
    format!("state/{}/", state.as_str())
}
