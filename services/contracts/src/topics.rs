//! Every topic Milo uses. Lowercase, `/`-separated, plural nouns, no leading slash.

use uuid::Uuid;

/// A POS (or the HTTP API) asks for an order: the command that starts the flow.
pub const ORDERS_PLACED: &str = "orders/placed";
/// The order service accepted an order and priced it.
pub const ORDERS_CREATED: &str = "orders/created";
/// The order service refused an order (unknown item, bad quantity...).
pub const ORDERS_REJECTED: &str = "orders/rejected";
/// The order is paid and its stock reserved: a drink to make.
pub const ORDERS_READY: &str = "orders/ready";
/// A barista device finished the drink.
pub const ORDERS_PREPARED: &str = "orders/prepared";
/// The order could not be completed (payment declined, stock short); carries the reason.
pub const ORDERS_FAILED: &str = "orders/failed";
/// The order was canceled; carries the reason and the compensations done.
pub const ORDERS_CANCELED: &str = "orders/canceled";
/// A station began making the order: from now on it cannot be canceled.
pub const ORDERS_STARTED: &str = "orders/started";
/// A station could not make the order (machine fault, ingredient run out at the bar).
pub const TICKETS_FAILED: &str = "tickets/failed";
/// The bar's answer to a withdrawal: the ticket was taken back, or it was too late.
pub const TICKETS_WITHDRAWN: &str = "tickets/withdrawn";
/// The customer asks to cancel an order.
pub const CANCELLATIONS_REQUESTED: &str = "cancellations/requested";
/// A cancellation was refused (the drink is already being made).
pub const CANCELLATIONS_REFUSED: &str = "cancellations/refused";
/// Coordinator → inventory: set the order's ingredients aside.
pub const COMMANDS_INVENTORY_RESERVE: &str = "commands/inventory/reserve";
/// Coordinator → inventory: give the reservation back.
pub const COMMANDS_INVENTORY_RELEASE: &str = "commands/inventory/release";
/// Coordinator → payment: charge the order.
pub const COMMANDS_PAYMENT_CHARGE: &str = "commands/payment/charge";
/// Coordinator → payment: refund (or void) the order's charge.
pub const COMMANDS_PAYMENT_REFUND: &str = "commands/payment/refund";
/// Coordinator → barista: make the order.
pub const COMMANDS_BARISTA_PREPARE: &str = "commands/barista/prepare";
/// Flow owner → barista: take the order's ticket back if it is not started.
pub const COMMANDS_BARISTA_WITHDRAW: &str = "commands/barista/withdraw";
/// Order service → coordinator (orchestration): a customer's cancellation of an order the
/// order service has (it alone knows which orders exist).
pub const COMMANDS_SAGA_CANCEL: &str = "commands/saga/cancel";
/// The payment gateway charged the order.
pub const PAYMENTS_COMPLETED: &str = "payments/completed";
/// The payment gateway declined the order.
pub const PAYMENTS_FAILED: &str = "payments/failed";
/// A charge was given back.
pub const PAYMENTS_REFUNDED: &str = "payments/refunded";
/// Retained: whether card payments work right now (the payment service's circuit breaker
/// around the card processor).
pub const PAYMENTS_GATEWAY: &str = "payments/gateway";
/// A charge authorized offline (announced on `payments/completed`) was declined by the card
/// processor when it was captured: the drink was made, the money was not taken.
pub const PAYMENTS_DECLINED_OFFLINE: &str = "payments/declined_offline";
/// Inventory set the order's ingredients aside.
pub const INVENTORY_RESERVED: &str = "inventory/reserved";
/// Inventory could not set the order's ingredients aside.
pub const INVENTORY_FAILED: &str = "inventory/failed";
/// Inventory gave a reservation back to stock.
pub const INVENTORY_RELEASED: &str = "inventory/released";
/// The customer was told about their order.
pub const CUSTOMERS_NOTIFIED: &str = "customers/notified";
/// Retained pickup board: orders ready for pickup and recently failed ones.
pub const BOARDS_PICKUP: &str = "boards/pickup";

/// A station hands a ticket back (machine fault, restart): the barista service gives it to
/// another station, or compensates the order when none can make it.
pub const TICKETS_RETURNED: &str = "tickets/returned";
/// A station bumped a recalled ticket again (the first bump is `orders/prepared`).
pub const TICKETS_BUMPED: &str = "tickets/bumped";
/// A station recalled its last bumped ticket (undo the bump): it is back on the rail.
pub const TICKETS_RECALLED: &str = "tickets/recalled";
/// A ticket waited past the warn or late threshold.
pub const TICKETS_AGED: &str = "tickets/aged";
/// The estimated ready time of an order, published when its ticket is queued and again as the
/// queue moves.
pub const ORDERS_ETA: &str = "orders/eta";
/// The customer picked the order up: it leaves the pickup board.
pub const ORDERS_COLLECTED: &str = "orders/collected";
/// Retained availability of every menu item, from stock minus reservations (86'ing).
pub const MENU_AVAILABILITY: &str = "menu/availability";
/// An ingredient fell below its low-stock threshold (or ran out).
pub const INVENTORY_LOW: &str = "inventory/low";
/// Stock was added (`milo inventory restock`).
pub const INVENTORY_RESTOCKED: &str = "inventory/restocked";
/// Operator → inventory: add stock of one ingredient.
pub const COMMANDS_INVENTORY_RESTOCK: &str = "commands/inventory/restock";

/// A consumer asks producers for events again: the ranges it misses, or, after it lost its
/// broker session, everything after what it has (a plain JSON
/// [`ReplayRequest`](crate::replay::ReplayRequest), not an envelope).
pub const REPLAY_REQUESTS: &str = "replays/requests";
/// A producer says a range a consumer asked for is no longer in its log
/// ([`EventsUnavailable`](crate::replay::EventsUnavailable)).
pub const REPLAY_UNAVAILABLE: &str = "replays/unavailable";

/// Every order-flow topic, for subscribers that want them all (analytics, POS).
pub const ORDER_FLOW: &[&str] = &[
    ORDERS_PLACED,
    ORDERS_CREATED,
    ORDERS_REJECTED,
    ORDERS_READY,
    ORDERS_PREPARED,
    ORDERS_FAILED,
    ORDERS_CANCELED,
    ORDERS_STARTED,
    TICKETS_FAILED,
    CANCELLATIONS_REQUESTED,
    CANCELLATIONS_REFUSED,
    PAYMENTS_COMPLETED,
    PAYMENTS_FAILED,
    PAYMENTS_REFUNDED,
    INVENTORY_RESERVED,
    INVENTORY_FAILED,
    INVENTORY_RELEASED,
    TICKETS_RETURNED,
    ORDERS_ETA,
    ORDERS_COLLECTED,
];

/// Retained presence of a service: `services/<name>/status` (`online` / `offline`).
pub fn service_status(name: &str) -> String {
    format!("services/{name}/status")
}

/// Retained presence of a device: `devices/<id>/status` (`online` / `offline`).
pub fn device_status(id: &str) -> String {
    format!("devices/{id}/status")
}

/// Tickets the barista service hands to one barista device: `devices/<id>/tickets`.
pub fn device_tickets(id: &str) -> String {
    format!("devices/{id}/tickets")
}

/// Commands to one barista device (bump, recall, inject or clear a fault, refill):
/// `devices/<id>/commands`.
pub fn device_commands(id: &str) -> String {
    format!("devices/{id}/commands")
}

/// Retained telemetry of one device (plain JSON, like presence: state, boiler temperature,
/// shots, consumables): `devices/<id>/telemetry`.
pub fn device_telemetry(id: &str) -> String {
    format!("devices/{id}/telemetry")
}

/// Extracts the device id from a `devices/<id>/telemetry` topic.
pub fn device_of_telemetry(topic: &str) -> Option<&str> {
    device_of(topic, "/telemetry")
}

/// Extracts the device id from a `devices/<id>/commands` topic.
pub fn device_of_commands(topic: &str) -> Option<&str> {
    device_of(topic, "/commands")
}

/// Filter matching the presence of every service (and POS terminal).
pub const SERVICE_STATUS_ALL: &str = "services/+/status";

/// Filter matching the presence of every device.
pub const DEVICE_STATUS_ALL: &str = "devices/+/status";

/// Everything under one device: `devices/<id>/#`.
pub fn device_all(id: &str) -> String {
    format!("devices/{id}/#")
}

/// Every dead-letter announcement of one part: `dlq/<part>/#`.
pub fn dlq_all(part: &str) -> String {
    format!("dlq/{part}/#")
}

/// Filter matching the commands of every device.
pub const DEVICE_COMMANDS_ALL: &str = "devices/+/commands";

/// Filter matching the telemetry of every device.
pub const DEVICE_TELEMETRY_ALL: &str = "devices/+/telemetry";

/// Filter matching the tickets of every device.
pub const DEVICE_TICKETS_ALL: &str = "devices/+/tickets";

/// Dead letters of a service: `dlq/<service>/<original topic>`.
pub fn dlq(service: &str, original_topic: &str) -> String {
    format!("dlq/{service}/{original_topic}")
}

/// For a dead letter's topic (`dlq/<part>/<original topic>`), its part's prefix (`dlq/<part>`).
pub fn dlq_part_of(topic: &str) -> Option<&str> {
    let end = topic.strip_prefix("dlq/")?.find('/')?;
    Some(&topic[..4 + end])
}

/// Operator → a part: requests about its dead letters (`milo dlq` while the part runs):
/// `commands/<part>/dead-letters`.
pub fn dead_letter_requests(part: &str) -> String {
    format!("commands/{part}/dead-letters")
}

/// Filter matching every part's dead-letter requests.
pub const DEAD_LETTER_REQUESTS_ALL: &str = "commands/+/dead-letters";

/// A part's answer to one dead-letter request: `replies/<part>/dead-letters/<request id>`
/// (the request's envelope id; a request names no other reply topic).
pub fn dead_letter_replies(part: &str, request: Uuid) -> String {
    format!("replies/{part}/dead-letters/{request}")
}

/// Filter matching every answer to dead-letter requests.
pub const DEAD_LETTER_REPLIES_ALL: &str = "replies/+/dead-letters/+";

/// Filter matching every dead-letter topic.
pub const DLQ_ALL: &str = "dlq/#";

/// Filter matching every order topic (`orders/…`).
pub const ORDERS_ALL: &str = "orders/#";

/// Filter matching every ticket topic (`tickets/…`).
pub const TICKETS_ALL: &str = "tickets/#";

/// Filter matching every inventory topic (`inventory/…`).
pub const INVENTORY_ALL: &str = "inventory/#";

/// Extracts the service name from a `services/<name>/status` topic.
pub fn service_of_status(topic: &str) -> Option<&str> {
    topic
        .strip_prefix("services/")?
        .strip_suffix("/status")
        .filter(|name| !name.is_empty() && !name.contains('/'))
}

/// Extracts the device id from a `devices/<id>/tickets` topic.
pub fn device_of_tickets(topic: &str) -> Option<&str> {
    device_of(topic, "/tickets")
}

/// Extracts the device id from a `devices/<id>/status` topic.
pub fn device_of_status(topic: &str) -> Option<&str> {
    device_of(topic, "/status")
}

fn device_of<'a>(topic: &'a str, suffix: &str) -> Option<&'a str> {
    topic
        .strip_prefix("devices/")?
        .strip_suffix(suffix)
        .filter(|id| !id.is_empty() && !id.contains('/'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builders_follow_the_design() {
        assert_eq!(service_status("order"), "services/order/status");
        assert_eq!(service_of_status("services/order/status"), Some("order"));
        assert_eq!(service_of_status("services/a/b/status"), None);
        assert_eq!(service_of_status("devices/bar-1/status"), None);
        assert_eq!(dlq("order", ORDERS_PLACED), "dlq/order/orders/placed");
        assert_eq!(device_tickets("bar-1"), "devices/bar-1/tickets");
        assert_eq!(device_of_tickets("devices/bar-1/tickets"), Some("bar-1"));
        assert_eq!(device_of_tickets("devices//tickets"), None);
        assert_eq!(device_of_tickets("devices/a/b/tickets"), None);
        assert_eq!(device_of_status(&device_status("bar-2")), Some("bar-2"));
        assert_eq!(
            dead_letter_requests("payment"),
            "commands/payment/dead-letters"
        );
        assert_eq!(
            dead_letter_replies("payment", Uuid::nil()),
            "replies/payment/dead-letters/00000000-0000-0000-0000-000000000000"
        );
    }
}
