//! What the shop can still sell: the retained `menu/availability` from inventory, kept in
//! memory and never stored (the broker hands it back after a restart), and the one check
//! orders are held to ([`MenuAvailability::refusal`]).

use milo_bus::Rejection;
use milo_contracts::counter::MenuAvailability;
use milo_contracts::events::{Ingredients, OrderLine};
use milo_contracts::{Menu, RawEnvelope};
use time::OffsetDateTime;
use tracing::debug;

/// The latest availability heard, and when inventory published it.
#[derive(Debug, Clone, Default)]
pub(super) struct Availability(Option<(OffsetDateTime, MenuAvailability)>);

impl Availability {
    /// Takes a `menu/availability` payload, unless an older one than what is held (an outbox
    /// replayed after a reconnect).
    pub(super) fn take(&mut self, payload: &[u8]) -> Result<(), Rejection> {
        let env = RawEnvelope::parse(payload)?;
        let latest: MenuAvailability = env.decode()?;
        if self.0.as_ref().is_none_or(|(at, _)| env.occurred_at >= *at) {
            debug!(out = ?latest.out, low = ?latest.low, "Menu availability.");
            self.0 = Some((env.occurred_at, latest));
        }
        Ok(())
    }

    /// Why an order asking for `lines`, which need `needs` by the menu, cannot be sold now;
    /// `None` if it can, or before any availability is known (inventory refuses what it
    /// cannot reserve anyway).
    pub(super) fn refusal(
        &self,
        menu: &Menu,
        lines: &[OrderLine],
        needs: &Ingredients,
    ) -> Option<String> {
        let (_, latest) = self.0.as_ref()?;
        // Most orders fit: check the stock first, and only then price the order again for
        // the refusal's words.
        let short = needs
            .iter()
            .any(|(ing, need)| latest.stock.get(ing).copied().unwrap_or(0) < *need);
        if !short {
            return None;
        }
        latest.refusal(menu, lines)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use milo_contracts::Envelope;
    use uuid::Uuid;

    fn payload(oat: u64, at: OffsetDateTime) -> Vec<u8> {
        let data = MenuAvailability {
            stock: Ingredients::from([
                ("beans_g".into(), 1000),
                ("whole_milk_ml".into(), 1000),
                ("oat_milk_ml".into(), oat),
                ("cups".into(), 10),
            ]),
            ..Default::default()
        };
        let mut env = Envelope::new("inventory", Uuid::nil(), None, data);
        env.occurred_at = at;
        env.to_json()
    }

    fn latte(milk: &str) -> Vec<OrderLine> {
        vec![OrderLine {
            item: "latte".into(),
            size: None,
            milk: Some(milk.into()),
            qty: 1,
            modifiers: Vec::new(),
        }]
    }

    #[test]
    fn orders_are_held_to_the_latest_availability_once_one_is_known() {
        let menu = Menu::from_toml(milo_config_menu()).unwrap();
        let needs = |lines: &[OrderLine]| menu.price(lines).unwrap().ingredients;
        let (oat, whole) = (latte("oat"), latte("whole"));
        let mut a = Availability::default();
        assert_eq!(
            a.refusal(&menu, &oat, &needs(&oat)),
            None,
            "nothing known yet"
        );
        let now = OffsetDateTime::now_utc();
        a.take(&payload(100, now)).unwrap();
        let why = a.refusal(&menu, &oat, &needs(&oat)).unwrap();
        assert!(why.contains("oat_milk_ml"), "{why}");
        assert_eq!(a.refusal(&menu, &whole, &needs(&whole)), None);
        // An older one (an outbox replayed) changes nothing; a newer one does.
        a.take(&payload(5000, now - time::Duration::seconds(5)))
            .unwrap();
        assert!(a.refusal(&menu, &oat, &needs(&oat)).is_some());
        a.take(&payload(5000, now + time::Duration::seconds(1)))
            .unwrap();
        assert_eq!(a.refusal(&menu, &oat, &needs(&oat)), None);
        assert!(a.take(b"{not an envelope").is_err());
    }

    fn milo_config_menu() -> &'static str {
        r#"
        [ingredients]
        beans_g = "beans"
        whole_milk_ml = "whole milk"
        oat_milk_ml = "oat milk"
        cups = "cups"
        [milks.whole]
        ingredient = "whole_milk_ml"
        [milks.oat]
        ingredient = "oat_milk_ml"
        [items.latte]
        name = "Latte"
        default_size = "medium"
        default_milk = "whole"
        [items.latte.sizes.medium]
        price_cents = 430
        recipe = { beans_g = 18, milk_ml = 280, cups = 1 }
        "#
    }
}
