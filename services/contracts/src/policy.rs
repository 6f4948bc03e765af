//! Who may say what: the one table of authority (which part may publish on each topic, and
//! which event types it carries), what each kind of credential may read, and which client ids
//! belong to whom. The broker's gate (`milo_broker::gate`) enforces it at the edge of the
//! embedded broker, on every CONNECT, PUBLISH and SUBSCRIBE.
//!
//! Identities: every service (`order`, `payment`, ...), every barista station (`bar-1`), every
//! POS terminal or kiosk (`pos-1`) and the operator has its own credential. An anonymous client
//! is an observer: it may read, never write (and only a loopback-only store admits one).

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::topics;

/// What kind of part a credential belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// A service of the store (`order`, `payment`, `inventory`, `barista`, `notification`,
    /// `analytics`, `saga`).
    Service,
    /// A barista station (its device), e.g. `bar-1`.
    Station,
    /// A POS terminal or kiosk, e.g. `pos-1`.
    Pos,
    /// The person running the shop: reads everything, restocks, drives devices, handles dead
    /// letters.
    Operator,
    /// An anonymous client on a loopback-only store: reads everything, writes nothing.
    Observer,
    /// The embedded broker's own watchdog.
    Broker,
}

impl Role {
    /// The role's name as the credentials file and logs spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Service => "service",
            Role::Station => "station",
            Role::Pos => "pos",
            Role::Operator => "operator",
            Role::Observer => "observer",
            Role::Broker => "broker",
        }
    }
}

/// An authenticated client: the credential's name and its role.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Identity {
    /// The credential's name (`payment`, `bar-1`, `pos-1`, `operator`).
    pub name: String,
    /// Its role.
    pub role: Role,
}

impl fmt::Display for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)
    }
}

/// The services a `service` credential may be named after.
pub const SERVICES: [&str; 7] = [
    "order",
    "payment",
    "inventory",
    "barista",
    "notification",
    "analytics",
    "saga",
];

/// The name of a station's device part (its store, its client id, its events' `source`).
pub fn station_part(station: &str) -> String {
    format!("barista-device-{station}")
}

/// The client id stem the watchdog uses (`milo-watchdog-<pid>`).
pub const WATCHDOG: &str = "watchdog";

impl Identity {
    /// A new identity.
    pub fn new(name: impl Into<String>, role: Role) -> Self {
        Identity {
            name: name.into(),
            role,
        }
    }

    /// The names this identity speaks as: its events' `source`, the part named in its own
    /// topics (`services/<name>/status`, `dlq/<name>/...`) and its client ids
    /// (`milo-<name>` or `milo-<name>-...`). A station also speaks as its device part.
    pub fn names(&self) -> Vec<String> {
        match self.role {
            Role::Station => vec![self.name.clone(), station_part(&self.name)],
            Role::Broker => vec![WATCHDOG.to_owned()],
            _ => vec![self.name.clone()],
        }
    }

    /// True if `name` is one of [`Identity::names`].
    pub fn is(&self, name: &str) -> bool {
        match self.role {
            Role::Station => {
                name == self.name
                    || name
                        .strip_prefix("barista-device-")
                        .is_some_and(|s| s == self.name)
            }
            Role::Broker => name == WATCHDOG,
            _ => name == self.name,
        }
    }

    /// Whether this identity may publish on `topic`: `Ok(rule)` with the event types the
    /// topic carries (empty: not an envelope), or the reason it may not.
    pub fn may_publish(&self, topic: &str) -> Result<&'static Rule, Denied> {
        let Some(rule) = rule_for(topic) else {
            return Err(Denied::UnknownTopic {
                who: self.clone(),
                topic: topic.to_owned(),
            });
        };
        let relays = self.role == Role::Service && rule.relays.contains(&self.name.as_str());
        if relays || rule.producers.iter().any(|p| p.admits(self, topic)) {
            Ok(rule)
        } else {
            Err(Denied::Topic {
                who: self.clone(),
                topic: topic.to_owned(),
            })
        }
    }

    /// Whether this identity may emit an envelope of `kind` from `source` on `topic`, whose
    /// rule is `rule`: as itself, if it is one of the rule's producers; or, if the rule lets
    /// it relay, an event of one of the rule's producers as it heard it.
    pub fn may_emit(
        &self,
        rule: &Rule,
        topic: &str,
        kind: &str,
        source: &str,
    ) -> Result<(), Denied> {
        if !rule.types.contains(&kind) {
            return Err(Denied::Type {
                who: self.clone(),
                kind: kind.to_owned(),
                topic: rule.topic,
            });
        }
        let producer = rule.producers.iter().any(|p| p.admits(self, topic));
        let relayer = self.role == Role::Service && rule.relays.contains(&self.name.as_str());
        let as_itself = producer && self.is(source);
        let relayed = relayer && rule.produced_by(source);
        if !as_itself && !relayed {
            return Err(Denied::Source {
                who: self.clone(),
                claimed: source.to_owned(),
            });
        }
        Ok(())
    }

    /// Whether this identity may subscribe to `filter`: every topic the filter can match must
    /// be readable by it.
    pub fn may_subscribe(&self, filter: &str) -> bool {
        if !valid_filter(filter) {
            return false;
        }
        match self.role {
            // Services run on the store's own board and need the whole flow; the operator and
            // an observer (loopback only) read everything.
            Role::Service | Role::Operator | Role::Observer => true,
            // The watchdog pings; it reads no topic.
            Role::Broker => false,
            Role::Station => self
                .names()
                .iter()
                .flat_map(|n| station_reads(n))
                .chain(common_reads())
                .any(|allowed| filter_within(filter, &allowed)),
            Role::Pos => pos_reads(&self.name)
                .into_iter()
                .chain(common_reads())
                .any(|allowed| filter_within(filter, &allowed)),
        }
    }

    /// Whether this identity may connect with `client_id`, given every identity the store
    /// knows (`known`): a client id `milo-<name>` or `milo-<name>-...` belongs to the known
    /// identity with the longest such name, and only it may use it. Other client ids are free
    /// (an operator's `mosquitto_sub`), except for an observer, which may not pose as a part.
    pub fn may_use_client_id<'a>(
        &self,
        client_id: &str,
        known: impl IntoIterator<Item = &'a Identity>,
    ) -> Result<(), Denied> {
        let Some(stem) = client_id.strip_prefix("milo-") else {
            return Ok(());
        };
        let owns = |name: &str| {
            stem == name
                || stem
                    .strip_prefix(name)
                    .is_some_and(|rest| rest.starts_with('-'))
        };
        let mut best: Option<(usize, bool)> = None;
        let mine = self.names();
        let known: Vec<&Identity> = known.into_iter().collect();
        for id in known.into_iter().chain(std::iter::once(self)) {
            for name in id.names() {
                if owns(&name) && best.is_none_or(|(len, _)| name.len() > len) {
                    best = Some((name.len(), mine.contains(&name) && id.role == self.role));
                }
            }
        }
        match best {
            Some((_, true)) => Ok(()),
            _ => Err(Denied::ClientId {
                who: self.clone(),
                client_id: client_id.to_owned(),
            }),
        }
    }
}

/// Why something was refused. The text is what the log and the dead-letter store record.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Denied {
    /// A topic no rule names.
    #[error("unauthorised: {who} may not publish on {topic} (not a topic of Milo's)")]
    UnknownTopic {
        /// Who.
        who: Identity,
        /// The topic.
        topic: String,
    },
    /// A topic this identity may not publish on.
    #[error("unauthorised: {who} ({role}) may not publish on {topic}", role = who.role.as_str())]
    Topic {
        /// Who.
        who: Identity,
        /// The topic.
        topic: String,
    },
    /// An event type this topic does not carry.
    #[error("unauthorised: {who} may not emit {kind} on {topic}")]
    Type {
        /// Who.
        who: Identity,
        /// The type found.
        kind: String,
        /// The topic.
        topic: &'static str,
    },
    /// An envelope whose `source` is not the identity that sent it.
    #[error("unauthorised: {who} may not emit as {claimed:?} (tampered source)")]
    Source {
        /// Who.
        who: Identity,
        /// The source claimed.
        claimed: String,
    },
    /// A payload on an event topic that is not an envelope.
    #[error("unauthorised: {who} sent a payload that is not an event envelope on {topic}: {why}")]
    NotAnEnvelope {
        /// Who.
        who: Identity,
        /// The topic.
        topic: String,
        /// Why it does not read.
        why: String,
    },
    /// A client id that belongs to another part.
    #[error("client id {client_id:?} belongs to another part, not to {who}")]
    ClientId {
        /// Who.
        who: Identity,
        /// The client id.
        client_id: String,
    },
}

impl Denied {
    /// The short reason, for counters and metrics labels.
    pub fn kind(&self) -> &'static str {
        match self {
            Denied::UnknownTopic { .. } | Denied::Topic { .. } => "topic",
            Denied::Type { .. } => "type",
            Denied::Source { .. } => "source",
            Denied::NotAnEnvelope { .. } => "envelope",
            Denied::ClientId { .. } => "client-id",
        }
    }
}

/// Who may publish on a topic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Producer {
    /// One service, by name.
    Service(&'static str),
    /// Any POS terminal.
    Pos,
    /// Any station (in a topic that names no part).
    Stations,
    /// The operator.
    Operator,
    /// The part the topic names at this level (0-based), whatever its role but an observer's:
    /// `services/<part>/status`, `dlq/<part>/...`.
    Named(usize),
    /// The station the topic names at this level: `devices/<station>/status`.
    NamedStation(usize),
    /// Any part that keeps an outbox (services, stations, POS terminals).
    AnyPart,
}

impl Producer {
    fn admits(self, who: &Identity, topic: &str) -> bool {
        match self {
            Producer::Service(s) => who.role == Role::Service && who.name == s,
            Producer::Pos => who.role == Role::Pos,
            Producer::Stations => who.role == Role::Station,
            Producer::Operator => who.role == Role::Operator,
            Producer::Named(level) => {
                who.role != Role::Observer
                    && who.role != Role::Broker
                    && topic.split('/').nth(level).is_some_and(|n| who.is(n))
            }
            Producer::NamedStation(level) => {
                who.role == Role::Station
                    && topic.split('/').nth(level).is_some_and(|n| n == who.name)
            }
            Producer::AnyPart => matches!(who.role, Role::Service | Role::Station | Role::Pos),
        }
    }
}

/// One row of the table: a topic (or a pattern with `+` / `#`), the event types it carries
/// (empty: plain text or JSON that is not an envelope), who may publish on it, and which
/// services may say a producer's event again, byte for byte as they heard it.
#[derive(Debug)]
pub struct Rule {
    /// Topic or pattern.
    pub topic: &'static str,
    /// Event types (`type` of the envelope); empty when the payload is not an envelope.
    pub types: &'static [&'static str],
    /// Who may publish.
    pub producers: &'static [Producer],
    /// Services that keep a producer's final event and say it again to a POS that asks about
    /// an order already done (the order service and the coordinator), source unchanged.
    pub relays: &'static [&'static str],
}

impl Rule {
    /// True if `source` names one of this rule's producers (a service, or a station's part).
    pub fn produced_by(&self, source: &str) -> bool {
        self.producers.iter().any(|p| match p {
            Producer::Service(s) => *s == source,
            Producer::Stations => source
                .strip_prefix("barista-device-")
                .is_some_and(|s| !s.is_empty()),
            _ => false,
        })
    }
}

use Producer::{AnyPart, Named, NamedStation, Operator, Pos, Service, Stations};

/// The authority table: every topic a part may publish on, what it carries, and who may.
pub const POLICY: &[Rule] = &[
    // The order flow.
    rule(
        topics::ORDERS_PLACED,
        &["OrderPlaced"],
        &[Pos, Service("order")],
    ),
    rule(
        topics::ORDERS_CREATED,
        &["OrderCreated"],
        &[Service("order")],
    ),
    rule(
        topics::ORDERS_REJECTED,
        &["OrderRejected"],
        &[Service("order")],
    ),
    rule(
        topics::ORDERS_READY,
        &["OrderReady"],
        &[Service("order"), Service("saga")],
    ),
    // How an order ended is kept and said again to a POS that asks about it (the order
    // service, the coordinator): the bar's or the owner's event, byte for byte.
    relayed(
        topics::ORDERS_PREPARED,
        &["OrderPrepared"],
        &[Stations],
        &["order", "saga"],
    ),
    rule(
        topics::ORDERS_FAILED,
        &["OrderFailed"],
        &[Service("order"), Service("saga")],
    ),
    relayed(
        topics::ORDERS_CANCELED,
        &["OrderCanceled"],
        &[Service("order"), Service("saga")],
        &["order", "saga"],
    ),
    rule(topics::ORDERS_STARTED, &["OrderStarted"], &[Stations]),
    rule(topics::ORDERS_ETA, &["OrderEta"], &[Service("barista")]),
    rule(
        topics::ORDERS_COLLECTED,
        &["OrderCollected"],
        &[Pos, Operator],
    ),
    rule(
        topics::CANCELLATIONS_REQUESTED,
        &["CancelRequested"],
        &[Pos, Service("order")],
    ),
    rule(
        topics::CANCELLATIONS_REFUSED,
        &["CancelRefused"],
        &[Service("order"), Service("saga")],
    ),
    // Payment and stock: only the service that did it says so.
    rule(
        topics::PAYMENTS_COMPLETED,
        &["PaymentCompleted"],
        &[Service("payment")],
    ),
    rule(
        topics::PAYMENTS_FAILED,
        &["PaymentFailed"],
        &[Service("payment")],
    ),
    rule(
        topics::PAYMENTS_REFUNDED,
        &["PaymentRefunded"],
        &[Service("payment")],
    ),
    rule(
        topics::PAYMENTS_GATEWAY,
        &["GatewayStatus"],
        &[Service("payment")],
    ),
    rule(
        topics::PAYMENTS_DECLINED_OFFLINE,
        &["PaymentDeclinedOffline"],
        &[Service("payment")],
    ),
    rule(
        topics::INVENTORY_RESERVED,
        &["InventoryReserved"],
        &[Service("inventory")],
    ),
    rule(
        topics::INVENTORY_FAILED,
        &["InventoryFailed"],
        &[Service("inventory")],
    ),
    rule(
        topics::INVENTORY_RELEASED,
        &["InventoryReleased"],
        &[Service("inventory")],
    ),
    rule(
        topics::INVENTORY_LOW,
        &["StockLow"],
        &[Service("inventory")],
    ),
    rule(
        topics::INVENTORY_RESTOCKED,
        &["StockRestocked"],
        &[Service("inventory")],
    ),
    rule(
        topics::MENU_AVAILABILITY,
        &["MenuAvailability"],
        &[Service("inventory")],
    ),
    // The bar.
    rule(
        topics::TICKETS_FAILED,
        &["TicketFailed"],
        &[Service("barista"), Stations],
    ),
    rule(
        topics::TICKETS_WITHDRAWN,
        &["TicketWithdrawn"],
        &[Service("barista"), Stations],
    ),
    rule(
        topics::TICKETS_RETURNED,
        &["TicketReturned"],
        &[Service("barista"), Stations],
    ),
    rule(topics::TICKETS_BUMPED, &["TicketBumped"], &[Stations]),
    rule(topics::TICKETS_RECALLED, &["TicketRecalled"], &[Stations]),
    rule(topics::TICKETS_AGED, &["TicketAged"], &[Service("barista")]),
    rule(
        topics::DEVICE_TICKETS_ALL,
        &["TicketAssigned", "TicketMoved", "WithdrawTicket"],
        &[Service("barista")],
    ),
    rule(
        topics::DEVICE_COMMANDS_ALL,
        &["DeviceCommand"],
        &[Operator, Service("barista")],
    ),
    rule(topics::DEVICE_STATUS_ALL, &[], &[NamedStation(1)]),
    rule(topics::DEVICE_TELEMETRY_ALL, &[], &[NamedStation(1)]),
    // Customers.
    rule(
        topics::CUSTOMERS_NOTIFIED,
        &["CustomerNotified"],
        &[Service("notification")],
    ),
    rule(
        topics::BOARDS_PICKUP,
        &["PickupBoard"],
        &[Service("notification")],
    ),
    // Orchestration commands: only the coordinator (and the order service for a customer's
    // cancellation, and the flow's owner for a withdrawal); restock only from the operator.
    rule(
        topics::COMMANDS_INVENTORY_RESERVE,
        &["ReserveStock"],
        &[Service("saga")],
    ),
    rule(
        topics::COMMANDS_INVENTORY_RELEASE,
        &["ReleaseStock"],
        &[Service("saga")],
    ),
    rule(
        topics::COMMANDS_PAYMENT_CHARGE,
        &["ChargePayment"],
        &[Service("saga")],
    ),
    rule(
        topics::COMMANDS_PAYMENT_REFUND,
        &["RefundPayment"],
        &[Service("saga")],
    ),
    rule(
        topics::COMMANDS_BARISTA_PREPARE,
        &["PrepareOrder"],
        &[Service("saga")],
    ),
    rule(
        topics::COMMANDS_BARISTA_WITHDRAW,
        &["WithdrawTicket"],
        &[Service("order"), Service("saga")],
    ),
    rule(
        topics::COMMANDS_SAGA_CANCEL,
        &["CancelOrder"],
        &[Service("order")],
    ),
    rule(
        topics::COMMANDS_INVENTORY_RESTOCK,
        &["RestockRequested"],
        &[Operator],
    ),
    // Housekeeping: presence, dead letters, replays.
    rule(topics::SERVICE_STATUS_ALL, &[], &[Named(1)]),
    rule(topics::DLQ_ALL, &["DeadLettered"], &[Named(1)]),
    rule(
        topics::DEAD_LETTER_REQUESTS_ALL,
        &["DeadLettersRequested"],
        &[Operator],
    ),
    rule(
        topics::DEAD_LETTER_REPLIES_ALL,
        &["DeadLettersAnswered"],
        &[Named(1)],
    ),
    rule(topics::REPLAY_REQUESTS, &[], &[AnyPart]),
    rule(
        topics::REPLAY_UNAVAILABLE,
        &["EventsUnavailable"],
        &[AnyPart],
    ),
];

/// The policy's own name of `kind`, when some topic of the [`POLICY`] carries it: a label a
/// metric may use (a made-up type from a client past no gate must not grow a process's
/// metrics), living as long as the process, with no copy.
pub fn known_type(kind: &str) -> Option<&'static str> {
    POLICY
        .iter()
        .flat_map(|r| r.types.iter())
        .find(|t| **t == kind)
        .copied()
}

const fn rule(
    topic: &'static str,
    types: &'static [&'static str],
    producers: &'static [Producer],
) -> Rule {
    Rule {
        topic,
        types,
        producers,
        relays: &[],
    }
}

/// A rule whose final events `relays` say again as they heard them.
const fn relayed(
    topic: &'static str,
    types: &'static [&'static str],
    producers: &'static [Producer],
    relays: &'static [&'static str],
) -> Rule {
    Rule {
        topic,
        types,
        producers,
        relays,
    }
}

/// The rule for a concrete topic, if any.
pub fn rule_for(topic: &str) -> Option<&'static Rule> {
    if topic.contains(['+', '#']) || topic.is_empty() {
        return None;
    }
    POLICY.iter().find(|r| topic_matches(r.topic, topic))
}

/// What any part other than an observer may read besides its own: the shop's public state.
fn common_reads() -> Vec<String> {
    vec![
        topics::MENU_AVAILABILITY.to_owned(),
        topics::BOARDS_PICKUP.to_owned(),
        topics::PAYMENTS_GATEWAY.to_owned(),
        topics::REPLAY_REQUESTS.to_owned(),
        topics::REPLAY_UNAVAILABLE.to_owned(),
        topics::SERVICE_STATUS_ALL.to_owned(),
    ]
}

/// What a station reads (for each of its names): its tickets and commands, its own presence
/// and telemetry, and requests about its own dead letters.
fn station_reads(name: &str) -> Vec<String> {
    vec![
        topics::device_all(name),
        topics::dead_letter_requests(name),
        topics::dlq_all(name),
    ]
}

/// What a POS terminal reads: the outcome of orders (the gate takes other terminals'
/// customers' names out of what it delivers), its own dead letters.
fn pos_reads(name: &str) -> Vec<String> {
    let mut reads: Vec<String> = pos_flow().map(str::to_owned).collect();
    reads.push(topics::dead_letter_requests(name));
    reads.push(topics::dlq_all(name));
    reads
}

/// The order-flow topics a POS terminal follows: the whole flow but the requests terminals
/// send (other terminals' orders and cancellations).
pub fn pos_flow() -> impl Iterator<Item = &'static str> {
    topics::ORDER_FLOW
        .iter()
        .copied()
        .filter(|t| *t != topics::ORDERS_PLACED && *t != topics::CANCELLATIONS_REQUESTED)
}

/// True if the MQTT filter `filter` (with `+` and `#`) matches the concrete `topic`.
pub fn topic_matches(filter: &str, topic: &str) -> bool {
    let mut f = filter.split('/');
    let mut t = topic.split('/');
    loop {
        match (f.next(), t.next()) {
            (Some("#"), _) => return true,
            (Some("+"), Some(_)) => {}
            (Some(a), Some(b)) if a == b => {}
            (None, None) => return true,
            _ => return false,
        }
    }
}

/// True if every topic `filter` can match is also matched by `allowed` (both MQTT filters).
pub fn filter_within(filter: &str, allowed: &str) -> bool {
    let mut f = filter.split('/');
    let mut a = allowed.split('/');
    loop {
        match (f.next(), a.next()) {
            (_, Some("#")) => return true,
            (Some("#"), _) => return false,
            (Some(_), Some("+")) => {}
            (Some("+"), Some(_)) => return false,
            (Some(x), Some(y)) if x == y => {}
            (None, None) => return true,
            _ => return false,
        }
    }
}

/// A well-formed MQTT filter: not empty, `#` only as a whole last level, `+` only as a whole
/// level.
pub fn valid_filter(filter: &str) -> bool {
    if filter.is_empty() {
        return false;
    }
    let levels: Vec<&str> = filter.split('/').collect();
    levels.iter().enumerate().all(|(i, l)| match *l {
        "#" => i == levels.len() - 1,
        "+" => true,
        l => !l.contains(['+', '#']),
    })
}

#[cfg(test)]
mod tests;
