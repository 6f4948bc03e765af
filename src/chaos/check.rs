//! The invariants checked after a chaos run, read from the stores of the stopped store.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use milo_analytics::Summary;
use milo_bus::{Store, StoreConfig};
use milo_contracts::events::Ingredients;
use milo_contracts::payments::PaymentMethod;
use milo_contracts::SagaMode;
use milo_inventory::{Reservation, ReservationState};
use milo_order::{OrderRecord, Status};
use milo_payment::{Transaction, TxnState};
use milo_saga::{Saga, SagaState};
use uuid::Uuid;

use super::ChaosError;
use crate::MiloConfig;

/// What a chaos run found.
#[derive(Debug, Default)]
pub struct Report {
    /// Orders placed.
    pub placed: usize,
    /// Final orders per status.
    pub by_status: BTreeMap<String, usize>,
    /// Kills per part.
    pub kills: BTreeMap<String, usize>,
    /// Orders not final when the harness stopped waiting.
    pub unsettled_at_deadline: usize,
    /// Each invariant and the violations found (empty: it holds).
    pub invariants: Vec<(&'static str, Vec<String>)>,
    /// Not invariants: anything worth saying about the run.
    pub observations: Vec<String>,
    /// Wall time.
    pub elapsed: Duration,
}

impl Report {
    /// True if every invariant holds.
    pub fn passed(&self) -> bool {
        self.invariants.iter().all(|(_, v)| v.is_empty())
    }
}

fn open(config: &MiloConfig, part: &str) -> Result<Store, ChaosError> {
    Store::open(&config.data_of(part), &StoreConfig::default())
        .map_err(|e| ChaosError::Harness(format!("cannot read the {part} store: {e}")))
}

fn scan<T: serde::de::DeserializeOwned>(
    store: &Store,
    prefix: &str,
) -> Result<BTreeMap<String, T>, ChaosError> {
    let all = store
        .scan::<T>(prefix, None, usize::MAX)
        .map_err(|e| ChaosError::Harness(e.to_string()))?;
    Ok(all.into_iter().collect())
}

/// Checks every invariant for the orders in `placed`.
pub fn check(config: &MiloConfig, placed: &[Uuid]) -> Result<Report, ChaosError> {
    let orders: BTreeMap<String, OrderRecord> = scan(&open(config, "order")?, "order/")?;
    let txns: BTreeMap<String, Transaction> = scan(&open(config, "payment")?, "txn/")?;
    let inventory = open(config, "inventory")?;
    let resv: BTreeMap<String, Reservation> = scan(&inventory, "resv/")?;
    let stock: Ingredients = inventory
        .get("stock")
        .ok()
        .flatten()
        .unwrap_or_else(|| config.inventory.stock.clone());
    // What the bar threw away (drinks begun at a station that then faulted or restarted) and
    // what an operator added, as inventory totals them.
    let total =
        |key: &str| -> Ingredients { inventory.get(key).ok().flatten().unwrap_or_default() };
    let (waste, restocked) = (total("waste"), total("restocked"));
    let summary: Summary = open(config, "analytics")?
        .get("summary")
        .ok()
        .flatten()
        .unwrap_or_default();

    let sagas: Option<BTreeMap<String, Saga>> = match config.saga.mode {
        SagaMode::Orchestration => Some(scan(&open(config, "saga")?, "saga/")?),
        SagaMode::Choreography => None,
    };
    let mut saga_violations = Vec::new();
    let mut report = Report {
        placed: placed.len(),
        ..Report::default()
    };
    let (mut terminal, mut money, mut reservations) = (Vec::new(), Vec::new(), Vec::new());
    let mut used = Ingredients::new();
    let (mut prepared_cents, mut drinks) = (0u64, 0u64);
    let mut drinks_by_item: BTreeMap<String, u64> = BTreeMap::new();
    for id in placed {
        let key = id.to_string();
        let Some(order) = orders.get(&key) else {
            terminal.push(format!("{id}: lost"));
            continue;
        };
        *report
            .by_status
            .entry(order.status.as_str().to_owned())
            .or_default() += 1;
        if !order.status.is_terminal() {
            terminal.push(format!("{id}: still {}", order.status.as_str()));
        }
        let txn = txns.get(&key).map(|t| &t.state);
        let r = resv.get(&key).map(|r| &r.state);
        let prepared = order.status == Status::Prepared;
        let money_ok = match order.status {
            Status::Prepared => txn == Some(&TxnState::Charged),
            Status::Canceled => matches!(
                txn,
                None | Some(TxnState::Declined | TxnState::Refunded | TxnState::Voided)
            ),
            Status::Rejected => txn.is_none(),
            _ => true,
        };
        if !money_ok {
            money.push(format!(
                "{id}: {} but payment {txn:?}",
                order.status.as_str()
            ));
        }
        let stock_ok = match order.status {
            Status::Prepared => r == Some(&ReservationState::Consumed),
            Status::Canceled => matches!(
                r,
                None | Some(ReservationState::Failed | ReservationState::Released)
            ),
            Status::Rejected => r.is_none(),
            _ => true,
        };
        if !stock_ok {
            reservations.push(format!(
                "{id}: {} but reservation {r:?}",
                order.status.as_str()
            ));
        }
        if let Some(r) = resv.get(&key).filter(|_| !prepared) {
            // What the bar used before it stopped stays out of stock.
            for (ing, units) in &r.consumed {
                *used.entry(ing.clone()).or_default() += units;
            }
        }
        if let Some(v) = saga_mismatch(sagas.as_ref(), &key, order.status) {
            saga_violations.push(format!("{id}: {v}"));
        }
        if prepared {
            prepared_cents += order.total_cents;
            drinks += order.lines.iter().map(|l| u64::from(l.qty)).sum::<u64>();
            for l in &order.lines {
                *drinks_by_item.entry(l.item.clone()).or_default() += u64::from(l.qty);
            }
            if let Some(c) = &order.created {
                for (ing, units) in &c.ingredients {
                    *used.entry(ing.clone()).or_default() += units;
                }
            }
        }
    }
    let leftovers = txns
        .values()
        .filter(|t| {
            matches!(
                t.state,
                TxnState::Charging | TxnState::Refunding | TxnState::Voiding
            )
        })
        .count();
    if leftovers > 0 {
        money.push(format!(
            "{leftovers} payments still charging, voiding or refunding"
        ));
    }
    let mut stock_sum = Vec::new();
    for (ing, opening) in &config.inventory.stock {
        let gone = used.get(ing).copied().unwrap_or(0) + waste.get(ing).copied().unwrap_or(0);
        let added = restocked.get(ing).copied().unwrap_or(0);
        let expected = (opening + added).saturating_sub(gone);
        let have = stock.get(ing).copied().unwrap_or(*opening);
        if have != expected {
            stock_sum.push(format!("{ing}: {have} left, expected {expected}"));
        }
    }
    // Analytics must equal the books: the same orders by final status, the same money to the
    // cent, the same drinks by item. More means an event applied twice, less one it never got.
    let mut books = Vec::new();
    let count = |s: &str| summary.by_status.get(s).copied().unwrap_or(0);
    let mut compare = |what: &str, seen: u64, truth: u64| {
        if seen != truth {
            books.push(format!("analytics: {seen} {what}, the stores: {truth}"));
        }
    };
    for status in ["prepared", "canceled", "rejected"] {
        let truth = report.by_status.get(status).copied().unwrap_or(0) as u64;
        compare(&format!("{status} orders"), count(status), truth);
    }
    let not_final: u64 = (summary.by_status.iter())
        .filter(|(s, _)| !["prepared", "canceled", "rejected"].contains(&s.as_str()))
        .map(|(_, n)| n)
        .sum();
    compare("orders not final", not_final, 0);
    let charged: u64 = (txns.values())
        .filter(|t| {
            matches!(
                t.state,
                TxnState::Charged | TxnState::Refunding | TxnState::Refunded
            )
        })
        .map(|t| t.amount_cents)
        .sum();
    let refunded: u64 = (txns.values())
        .filter(|t| t.state == TxnState::Refunded)
        .map(|t| t.amount_cents)
        .sum();
    compare("cents charged", summary.charged_cents, charged);
    compare("cents refunded", summary.refunded_cents, refunded);
    let cash: u64 = (txns.values())
        .filter(|t| t.method == PaymentMethod::Cash && t.transaction_id.is_some())
        .map(|t| t.amount_cents)
        .sum();
    compare("cents taken in cash", summary.cash_charged_cents, cash);
    let revenue = summary.charged_cents.saturating_sub(summary.refunded_cents);
    compare("cents of revenue", revenue, prepared_cents);
    let mut items: BTreeMap<&String, (u64, u64)> = BTreeMap::new();
    for (item, n) in &summary.drinks_by_item {
        items.entry(item).or_default().0 = *n;
    }
    for (item, n) in &drinks_by_item {
        items.entry(item).or_default().1 = *n;
    }
    for (item, (seen, truth)) in items {
        compare(&format!("{item} made"), seen, truth);
    }
    compare("drinks", summary.drinks_by_item.values().sum(), drinks);
    let figures = |prepared: u64, canceled: u64, charged: u64, refunded: u64, drinks: u64| {
        format!(
            "{prepared} prepared, {canceled} canceled, {charged} cents charged, {refunded} \
             refunded, {drinks} drinks"
        )
    };
    let truth = |s: &str| report.by_status.get(s).copied().unwrap_or(0) as u64;
    let observations = vec![
        format!(
            "stores:    {}",
            figures(
                truth("prepared"),
                truth("canceled"),
                charged,
                refunded,
                drinks
            )
        ),
        format!(
            "analytics: {}",
            figures(
                count("prepared"),
                count("canceled"),
                summary.charged_cents,
                summary.refunded_cents,
                summary.drinks_by_item.values().sum()
            )
        ),
    ];
    report.observations = observations;
    report.invariants = vec![
        ("every order reached a final state", terminal),
        (
            "charged once: prepared orders charged, canceled ones refunded or never charged",
            money,
        ),
        (
            "stock adds up: opening + restocked − what prepared orders used − waste = left",
            stock_sum,
        ),
        (
            "orchestration: every saga finished as its order did",
            saga_violations,
        ),
        ("no reservation leaked", reservations),
        (
            "analytics equals the books: orders by status, money to the cent, drinks by item",
            books,
        ),
    ];
    Ok(report)
}

/// In orchestration, how the saga disagrees with its order's final status, if it does.
fn saga_mismatch(
    sagas: Option<&BTreeMap<String, Saga>>,
    key: &str,
    status: Status,
) -> Option<String> {
    let sagas = sagas?;
    let state = sagas.get(key).map(|s| s.state);
    let ok = match status {
        Status::Prepared => state == Some(SagaState::Completed),
        Status::Canceled => state == Some(SagaState::Canceled),
        Status::Rejected => state.is_none(),
        _ => state.is_some_and(|s| !s.is_terminal()),
    };
    (!ok).then(|| format!("order {} but saga {state:?}", status.as_str()))
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kills: usize = self.kills.values().sum();
        writeln!(
            f,
            "milo chaos: {} orders, {kills} kills in {:.1} s",
            self.placed,
            self.elapsed.as_secs_f64()
        )?;
        writeln!(f, "  kills      {:?}", self.kills)?;
        writeln!(f, "  orders     {:?}", self.by_status)?;
        for (name, violations) in &self.invariants {
            let mark = if violations.is_empty() {
                "ok  "
            } else {
                "FAIL"
            };
            writeln!(f, "  {mark} {name}")?;
            for v in violations.iter().take(10) {
                writeln!(f, "         {v}")?;
            }
        }
        for o in &self.observations {
            writeln!(f, "  note {o}")?;
        }
        write!(
            f,
            "  {}",
            if self.passed() {
                "all invariants hold"
            } else {
                "INVARIANTS VIOLATED"
            }
        )
    }
}
