//! What inventory tells the shop about its stock: a low-stock alert (`inventory/low`) at each
//! crossing, and the retained availability (`menu/availability`): at once when what can be
//! sold or the low/out lists change, at most once per `availability_ms` when only the stock
//! moved (at 1,000 orders a second every reservation moves it), and every `republish_secs`
//! anyway, since a restarted broker forgets retained messages.
//!
//! It is also published as soon as the service starts: the first republish is its first
//! command, staged in its outbox like any other and sent once it is connected. So a fresh
//! store's POS and order service know within moments what cannot be made, rather than
//! accepting everything for `republish_secs`.

use std::time::Duration;

use milo_bus::{retry, Commands, Rejection, Tx};
use milo_contracts::counter::StockLevel;
use milo_contracts::events::Ingredients;
use tracing::{info, warn};
use uuid::Uuid;

use crate::service::{InventoryService, STOCK_KEY};

/// Local requests to the inventory service.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command {
    /// Publish the availability if the stock changed since it was last published
    /// (every `availability_ms`).
    Tick,
    /// Check memory against the stored stock and publish the availability anyway (every
    /// `republish_secs`), so that a restarted broker has it again.
    Republish,
}

impl InventoryService {
    /// Writes the new `stock` after a change to the `changed` ingredients (caused by event
    /// `cause` of order or request `correlation`); alerts on crossings and publishes the
    /// availability at once if what can be sold changed. Call it last in a handler: it
    /// updates what the service keeps in memory.
    pub(crate) fn stock_changed<'a>(
        &mut self,
        tx: &mut Tx,
        stock: &Ingredients,
        changed: impl IntoIterator<Item = &'a String>,
        correlation: Uuid,
        cause: Uuid,
    ) -> Result<(), Rejection> {
        tx.put(STOCK_KEY, stock);
        let changed: Vec<&String> = changed.into_iter().collect();
        for ing in &changed {
            let level = stock.get(*ing).copied().unwrap_or(0);
            metrics::gauge!("milo_stock_level", "ingredient" => (*ing).clone()).set(level as f64);
        }
        let change = self.tracker.update(stock, changed);
        for alert in change.crossings.iter().cloned() {
            let (ing, left, threshold) = (&alert.ingredient, alert.remaining, alert.threshold);
            match alert.level {
                StockLevel::Out => warn!(ingredient = %ing, threshold, "Out of stock."),
                StockLevel::Low => {
                    warn!(ingredient = %ing, remaining = left, threshold, "Stock low.")
                }
                StockLevel::Ok => {
                    info!(ingredient = %ing, remaining = left, threshold, "Stock back above its threshold.")
                }
            }
            tx.publish(&tx.event(correlation, Some(cause), alert))?;
        }
        if change.visible() {
            self.publish(tx, Some(cause));
        } else if !self.dirty {
            self.dirty = true;
            self.alarm.after(self.config.availability_ms);
        }
        Ok(())
    }

    /// Stages the retained availability as the tracker has it.
    fn publish(&mut self, tx: &mut Tx, cause: Option<Uuid>) {
        let availability = self.tracker.snapshot();
        // An availability the broker would refuse must not fail the reservation that caused
        // it: the next change or republish tries again.
        match tx.publish_state_event(&tx.event(Uuid::nil(), cause, availability)) {
            Ok(()) => self.dirty = false,
            Err(e) => warn!(error = %e, "Availability not published."),
        }
    }

    /// Publishes the coalesced stock changes, if any.
    pub(crate) fn tick(&mut self, tx: &mut Tx) -> Result<(), Rejection> {
        if self.dirty {
            self.publish(tx, None);
        }
        let again = self
            .dirty
            .then(|| retry::now_ms() + self.config.availability_ms as i64);
        self.alarm.next(again);
        Ok(())
    }

    /// Re-reads the stored stock (memory follows every change, this only makes sure) and
    /// publishes the availability.
    pub(crate) fn republish(&mut self, tx: &mut Tx) -> Result<(), Rejection> {
        let stock = self.stock(tx)?;
        let change = self.tracker.resync(&stock);
        for alert in change.crossings {
            warn!(ingredient = %alert.ingredient, "Stock level out of step with memory; announcing it.");
            tx.publish(&tx.event(Uuid::nil(), None, alert))?;
        }
        self.publish(tx, None);
        Ok(())
    }

    /// Starts the coalescing tick and the periodic republish (the first one at once).
    pub(crate) fn spawn_ticks(&self, commands: &Commands<Command>) {
        let gap = self.config.availability_ms;
        self.alarm.start(commands.clone(), gap, || Command::Tick);
        let every = Duration::from_secs(self.config.republish_secs.max(1));
        let commands = commands.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
            loop {
                tick.tick().await;
                if !commands.send(Command::Republish).await {
                    break;
                }
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use milo_contracts::{Menu, SagaMode};
    use tokio::time::Instant;

    use super::*;
    use crate::Config;

    #[tokio::test(start_paused = true)]
    async fn the_availability_goes_out_at_start_then_every_republish_secs() {
        let menu = r#"
            [ingredients]
            beans_g = "beans"
            [items.espresso]
            name = "Espresso"
            default_size = "single"
            [items.espresso.sizes.single]
            price_cents = 250
            recipe = { beans_g = 9 }
        "#;
        let config = Config {
            low_stock: Ingredients::new(),
            republish_secs: 30,
            ..Config::default()
        };
        let menu = Arc::new(Menu::from_toml(menu).unwrap());
        let service = InventoryService::new(config, SagaMode::Choreography, menu);
        let (commands, mut rx) = Commands::channel();
        service.spawn_ticks(&commands);
        let start = Instant::now();
        let mut republished = Vec::new();
        while republished.len() < 3 {
            if rx.recv().await == Some(Command::Republish) {
                republished.push(start.elapsed().as_secs());
            }
        }
        assert_eq!(republished, [0, 30, 60]);
    }
}
