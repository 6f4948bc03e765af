//! One order's reservation, how a failed order's reservation splits between stock and what
//! the bar used, and the reservation's recorded answers.

use milo_bus::{Published, Rejection, Tx};
use milo_contracts::events::{Ingredients, InventoryFailed, InventoryReserved};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Where a reservation stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ReservationState {
    /// Set aside.
    Reserved,
    /// Could not be set aside.
    Failed,
    /// Used by a prepared drink.
    Consumed,
    /// Given back to stock, less what the bar used; or the order failed before any
    /// reservation (a tombstone: a late request reserves nothing).
    Released,
}

/// One order's reservation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reservation {
    /// The order.
    pub order_id: Uuid,
    /// What the order needs.
    pub ingredients: Ingredients,
    /// Where it stands.
    pub state: ReservationState,
    /// Why it failed.
    pub reason: Option<String>,
    /// What was short.
    pub missing: Ingredients,
    /// The event that asked (`orders/created` or `commands/inventory/reserve`).
    pub cause: Uuid,
    /// The outcome as announced, to answer a repeat with the same event.
    #[serde(default)]
    pub announced: Option<Published>,
    /// The answer to the release (what went back to stock, maybe nothing), as announced.
    #[serde(default)]
    pub compensated: Option<Published>,
    /// Of `ingredients`, what the bar used before the order failed: kept out of stock when
    /// the rest went back (state `released`). Empty otherwise.
    #[serde(default)]
    pub consumed: Ingredients,
}

pub(crate) fn resv_key(order_id: Uuid) -> String {
    format!("resv/{order_id}")
}

/// Splits a reservation whose order failed after the bar used `consumed`: per ingredient,
/// what goes back to stock (reserved minus used, never below zero) and what stays out of it
/// (used, at most what was reserved). Ingredients with nothing to tell are left out.
pub(crate) fn split(reserved: &Ingredients, consumed: &Ingredients) -> (Ingredients, Ingredients) {
    let (mut back, mut used) = (Ingredients::new(), Ingredients::new());
    for (ing, units) in reserved {
        let kept = consumed.get(ing).copied().unwrap_or(0).min(*units);
        if kept > 0 {
            used.insert(ing.clone(), kept);
        }
        let rest = units.saturating_sub(kept);
        if rest > 0 {
            back.insert(ing.clone(), rest);
        }
    }
    (back, used)
}

/// Publishes a reservation's outcome; a repeat gets the very same event. The caller writes `r`.
pub(crate) fn announce(tx: &mut Tx, r: &mut Reservation) -> Result<(), Rejection> {
    let (id, cause) = (r.order_id, Some(r.cause));
    match r.state {
        // The order failed before anything was reserved: a late request gets nothing.
        ReservationState::Released if r.announced.is_none() => {}
        ReservationState::Failed => {
            let (reason, missing) = (r.reason.clone().unwrap_or_default(), r.missing.clone());
            tx.answer(&mut r.announced, id, cause, || InventoryFailed {
                order_id: id,
                reason,
                missing,
            })?
        }
        _ => {
            let ingredients = r.ingredients.clone();
            tx.answer(&mut r.announced, id, cause, || InventoryReserved {
                order_id: id,
                ingredients,
            })?
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ing(pairs: &[(&str, u64)]) -> Ingredients {
        pairs.iter().map(|(k, v)| ((*k).to_owned(), *v)).collect()
    }

    #[test]
    fn release_gives_back_only_what_the_bar_did_not_use() {
        let reserved = ing(&[("beans_g", 36), ("milk_ml", 400), ("cups", 2)]);
        let consumed = ing(&[("beans_g", 18), ("milk_ml", 500), ("syrup_ml", 10)]);
        let (back, used) = split(&reserved, &consumed);
        assert_eq!(back, ing(&[("beans_g", 18), ("cups", 2)]));
        assert_eq!(used, ing(&[("beans_g", 18), ("milk_ml", 400)]));
        assert_eq!(
            split(&reserved, &Ingredients::new()),
            (reserved, Ingredients::new())
        );
    }
}
