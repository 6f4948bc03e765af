//! `milo inventory show|restock`: stock as inventory publishes it (the retained
//! `menu/availability`), and restocking (`commands/inventory/restock`, answered on
//! `inventory/restocked`).
//!
//! Exit codes: 0 done; 1 refused (unknown ingredient, zero amount, above
//! `[inventory] max_restock`); 3 the broker or inventory did not answer in time (as `milo pos`).

use std::fmt::Write as _;
use std::process::ExitCode;
use std::time::Duration;

use clap::Subcommand;
use milo::MiloConfig;
use milo_bus::link::{self, Link, LinkCommand, LinkConfig};
use milo_bus::{MqttConfig, ShutdownTrigger};
use milo_contracts::counter::{MenuAvailability, RestockRequested, StockRestocked};
use milo_contracts::dead_letters::OPERATOR;
use milo_contracts::events::{Ingredients, OrderLine};
use milo_contracts::policy::Role;
use milo_contracts::{topics, Envelope, Menu, RawEnvelope};
use uuid::Uuid;

/// Stock commands.
#[derive(Subcommand)]
pub enum InventoryCommand {
    /// Print what is left of each ingredient, what is low, and what the shop cannot sell.
    Show {
        /// Broker address (default: mqtt.address).
        #[arg(long)]
        mqtt: Option<String>,
    },
    /// Add stock of one ingredient and print its new level.
    Restock {
        /// A key of the menu's [ingredients], e.g. oat_milk_ml.
        ingredient: String,
        /// Units to add, in the ingredient's unit (1 to [inventory] max_restock).
        amount: u64,
        /// Broker address (default: mqtt.address).
        #[arg(long)]
        mqtt: Option<String>,
    },
}

/// Refused: unknown ingredient, zero amount, above `max_restock`.
const REFUSED: u8 = 1;
/// The broker or inventory did not answer in time.
const UNREACHABLE: u8 = 3;
/// How long to wait for the broker, and then for the retained availability.
const WAIT: Duration = Duration::from_secs(5);
/// How long to wait for inventory's answer to a restock.
const ANSWER: Duration = Duration::from_secs(10);

/// Runs an inventory command.
pub async fn run(command: InventoryCommand, mut config: MiloConfig) -> anyhow::Result<ExitCode> {
    let menu = config.menu()?;
    match command {
        InventoryCommand::Show { mqtt } => {
            config.mqtt.address = mqtt.unwrap_or(config.mqtt.address);
            config.mqtt = config.mqtt_as(OPERATOR, Role::Operator)?;
            show(&config, &menu).await
        }
        InventoryCommand::Restock {
            ingredient,
            amount,
            mqtt,
        } => {
            config.mqtt.address = mqtt.unwrap_or(config.mqtt.address);
            // Restocking is the operator's alone.
            config.mqtt = config.mqtt_as(OPERATOR, Role::Operator)?;
            let max = config.inventory.max_restock;
            if let Some(why) = milo_inventory::restock::refusal(&menu, &ingredient, amount, max) {
                eprintln!("milo inventory: cannot restock: {why}");
                return Ok(ExitCode::from(REFUSED));
            }
            restock(&config.mqtt, ingredient, amount).await
        }
    }
}

async fn show(config: &MiloConfig, menu: &Menu) -> anyhow::Result<ExitCode> {
    let (trigger, mut link) = match connect(&config.mqtt, topics::MENU_AVAILABILITY).await {
        Ok(connected) => connected,
        Err(code) => return Ok(code),
    };
    let got = next_event(&mut link, WAIT, |e| e.is::<MenuAvailability>()).await;
    close(trigger, link).await;
    let Some(env) = got else {
        eprintln!(
            "milo inventory: no availability on {} within {WAIT:?}: is inventory running? (it \
             publishes it on the first stock change and every {} s)",
            topics::MENU_AVAILABILITY,
            config.inventory.republish_secs
        );
        return Ok(ExitCode::from(UNREACHABLE));
    };
    let availability: MenuAvailability = env.decode()?;
    print!(
        "{}",
        render(&availability, &config.inventory.low_stock, menu)
    );
    Ok(ExitCode::SUCCESS)
}

async fn restock(mqtt: &MqttConfig, ingredient: String, amount: u64) -> anyhow::Result<ExitCode> {
    let (trigger, mut link) = match connect(mqtt, topics::INVENTORY_RESTOCKED).await {
        Ok(connected) => connected,
        Err(code) => return Ok(code),
    };
    let correlation = Uuid::now_v7();
    let request = RestockRequested { ingredient, amount };
    let payload = Envelope::new("operator", correlation, None, request).to_json();
    let _ = link.commands.send(LinkCommand::Publish {
        topic: topics::COMMANDS_INVENTORY_RESTOCK.into(),
        payload,
    });
    let answer = next_event(&mut link, ANSWER, |e| {
        e.correlation_id == correlation && e.is::<StockRestocked>()
    })
    .await;
    close(trigger, link).await;
    let Some(env) = answer else {
        eprintln!("milo inventory: no answer from inventory within {ANSWER:?}: is it running?");
        return Ok(ExitCode::from(UNREACHABLE));
    };
    let done: StockRestocked = env.decode()?;
    if let Some(why) = done.refused {
        eprintln!("milo inventory: restock refused: {why}");
        return Ok(ExitCode::from(REFUSED));
    }
    println!(
        "restocked {}: +{}, now {} left",
        done.ingredient, done.amount, done.stock
    );
    Ok(ExitCode::SUCCESS)
}

/// Connects with a clean session subscribed to `topic`, or says why not (exit code 3).
async fn connect(mqtt: &MqttConfig, topic: &str) -> Result<(ShutdownTrigger, Link), ExitCode> {
    let (trigger, shutdown) = ShutdownTrigger::new();
    let config = LinkConfig {
        client_id: format!("milo-operator-inventory-{}", Uuid::now_v7().simple()),
        mqtt: mqtt.clone(),
        subscriptions: vec![topic.to_owned()],
        presence: None,
        clean_session: true,
    };
    let unreachable = |why: String| {
        eprintln!(
            "milo inventory: cannot reach the broker at {}: {why}",
            mqtt.address
        );
        ExitCode::from(UNREACHABLE)
    };
    let mut link = link::spawn(config, shutdown).map_err(|e| unreachable(e.to_string()))?;
    let ready = matches!(
        tokio::time::timeout(WAIT, link.ready.wait_for(|r| *r)).await,
        Ok(Ok(_))
    );
    if !ready {
        trigger.trigger();
        return Err(unreachable(format!("no connection within {WAIT:?}")));
    }
    Ok((trigger, link))
}

/// The next envelope `want` accepts, within `limit`.
async fn next_event(
    link: &mut Link,
    limit: Duration,
    want: impl Fn(&RawEnvelope) -> bool,
) -> Option<RawEnvelope> {
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        let d = tokio::time::timeout_at(deadline, link.deliveries.recv())
            .await
            .ok()??;
        let env = RawEnvelope::parse(&d.publish.payload);
        let _ = link.commands.send(LinkCommand::Ack(d));
        match env {
            Ok(env) if want(&env) => return Some(env),
            _ => {}
        }
    }
}

/// Disconnects cleanly (a little while at most).
async fn close(trigger: ShutdownTrigger, link: Link) {
    trigger.trigger();
    let _ = tokio::time::timeout(Duration::from_secs(2), link.task).await;
}

/// The stock table (level, threshold, LOW/OUT), then what cannot be sold and why.
fn render(a: &MenuAvailability, thresholds: &Ingredients, menu: &Menu) -> String {
    let mut out = format!("{:<16} {:>10} {:>10}\n", "ingredient", "left", "threshold");
    for (ing, left) in &a.stock {
        let threshold = thresholds.get(ing).map_or("-".into(), u64::to_string);
        let flag = if a.out.contains(ing) {
            "  OUT"
        } else if a.low.contains(ing) {
            "  LOW"
        } else {
            ""
        };
        let _ = writeln!(out, "{ing:<16} {left:>10} {threshold:>10}{flag}");
    }
    let blocked = cannot_sell(a, menu);
    if blocked.is_empty() {
        out.push_str("\neverything on the menu can be sold\n");
    } else {
        out.push_str("\ncannot be sold:\n");
        for (what, why) in blocked {
            let _ = writeln!(out, "  {what}: {why}");
        }
    }
    out
}

/// Each item or option that cannot be made, named for people, with the short ingredients.
fn cannot_sell(a: &MenuAvailability, menu: &Menu) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for (key, item) in &a.items {
        let name = menu.items.get(key).map_or(key.as_str(), |i| &i.name);
        let line =
            |size: Option<&String>, milk: Option<&String>, modifier: Option<&String>| OrderLine {
                item: key.clone(),
                size: size.cloned(),
                milk: milk.cloned(),
                qty: 1,
                modifiers: modifier.into_iter().cloned().collect(),
            };
        if !item.available {
            let why = item
                .reason
                .clone()
                .unwrap_or_else(|| short(menu, &a.stock, line(None, None, None)));
            out.push((name.to_owned(), why));
        }
        let options = item
            .sizes
            .iter()
            .filter(|(_, ok)| !**ok)
            .map(|(s, _)| (format!("{name}, {s}"), line(Some(s), None, None)));
        let milks = item
            .milks
            .iter()
            .filter(|(_, ok)| !**ok)
            .map(|(m, _)| (format!("{name} with {m} milk"), line(None, Some(m), None)));
        let mods = item.modifiers.iter().filter(|(_, ok)| !**ok).map(|(m, _)| {
            let label = menu.modifiers.get(m).map_or(m.as_str(), |x| &x.name);
            (format!("{name} + {label}"), line(None, None, Some(m)))
        });
        for (what, l) in options.chain(milks).chain(mods) {
            out.push((what, short(menu, &a.stock, l)));
        }
    }
    out
}

/// What `line` lacks from `stock`, in words.
fn short(menu: &Menu, stock: &Ingredients, line: OrderLine) -> String {
    let Ok(priced) = menu.price(&[line]) else {
        return "not on this menu".into();
    };
    let short: Vec<String> = priced
        .ingredients
        .iter()
        .filter_map(|(ing, need)| match stock.get(ing).copied().unwrap_or(0) {
            0 => Some(format!("out of {ing}")),
            left if left < *need => Some(format!("not enough {ing} ({left} left, {need} needed)")),
            _ => None,
        })
        .collect();
    short.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shop(stock: &[(&str, u64)]) -> (Menu, Ingredients, MenuAvailability) {
        let menu = Menu::from_toml(milo_config::DEFAULT_MENU).unwrap();
        let mut all: Ingredients = menu
            .ingredients
            .keys()
            .map(|k| (k.clone(), 10_000))
            .collect();
        all.extend(stock.iter().map(|(k, v)| ((*k).to_owned(), *v)));
        let thresholds = milo_inventory::default_low_stock();
        let a = milo_inventory::Tracker::new(&menu, &thresholds, &all).snapshot();
        (menu, thresholds, a)
    }

    #[test]
    fn show_flags_low_and_out_and_says_what_cannot_be_sold_and_why() {
        let (menu, thresholds, a) = shop(&[("oat_milk_ml", 0), ("beans_g", 1500)]);
        let text = render(&a, &thresholds, &menu);
        let line = |ing: &str| {
            text.lines()
                .find(|l| l.starts_with(ing))
                .unwrap()
                .to_owned()
        };
        assert!(line("oat_milk_ml").ends_with("0       2000  OUT"), "{text}");
        assert!(line("beans_g").ends_with("1500       2000  LOW"), "{text}");
        assert!(line("cups").ends_with("10000        100"), "{text}");
        assert!(
            text.contains("  Latte with oat milk: out of oat_milk_ml\n"),
            "{text}"
        );
        assert!(
            text.contains("  Mocha with oat milk: out of oat_milk_ml\n"),
            "{text}"
        );
        // Espresso takes no milk: nothing about it.
        assert!(!text.contains("Espresso"), "{text}");
        let (menu, thresholds, a) = shop(&[("vanilla_ml", 10), ("whole_milk_ml", 200)]);
        let text = render(&a, &thresholds, &menu);
        assert!(text.contains("  Latte + Vanilla syrup: "), "{text}");
        assert!(
            text.contains("  Latte: not enough whole_milk_ml (200 left, 280 needed)\n"),
            "{text}"
        );
        assert!(
            text.contains("  Latte, large: not enough whole_milk_ml"),
            "{text}"
        );
    }

    #[test]
    fn show_says_so_when_everything_can_be_sold() {
        let (menu, thresholds, a) = shop(&[]);
        let text = render(&a, &thresholds, &menu);
        assert!(
            text.ends_with("\neverything on the menu can be sold\n"),
            "{text}"
        );
        assert!(!text.contains("LOW") && !text.contains("OUT"), "{text}");
    }
}
