//! What the display shows, as a pure function of a [`View`]: the drink being made, idle,
//! warming up, a stopped machine, a lost drink, and a made drink waiting for its bump.

use milo_contracts::bar::AgeLevel;
use milo_contracts::events::PricedLine;
use milo_contracts::Menu;
use uuid::Uuid;

use super::{Frame, COLS};
use crate::machine::{Stop, AMBIENT_C, BREW_C};

/// Everything one frame is rendered from.
#[derive(Debug, Clone, PartialEq)]
pub struct View {
    /// The station.
    pub station: String,
    /// Tickets waiting at the station (the one being made included).
    pub queue: u32,
    /// Made drinks waiting on the rail for a bump.
    pub rail: u32,
    /// Boiler temperature, °C.
    pub boiler_c: f64,
    /// What stops the machine, if anything (the bottom line shows it instead of the boiler).
    pub stop: Option<Stop>,
    /// The screen.
    pub screen: Screen,
}

/// The screens of the display.
#[derive(Debug, Clone, PartialEq)]
pub enum Screen {
    /// The boiler is heating.
    Warming,
    /// Nothing to make.
    Idle,
    /// The machine is stopped until someone acts.
    Stopped(Stop),
    /// A drink at the machine.
    Making(Making),
    /// The drink in progress was lost to a fault.
    Lost {
        /// Why, from the machine.
        reason: String,
        /// Its ticket.
        ticket: TicketLine,
    },
    /// A made ticket waits on the rail for its bump.
    Bump {
        /// Its (first) drink, as [`drink_label`] writes it.
        drink: String,
        /// The ticket.
        ticket: TicketLine,
    },
}

/// A drink at the machine.
#[derive(Debug, Clone, PartialEq)]
pub struct Making {
    /// The drink, as [`drink_label`] writes it.
    pub drink: String,
    /// The stage running.
    pub stage: String,
    /// Stages done before it.
    pub step: usize,
    /// Stages of the drink.
    pub steps: usize,
    /// Its ticket.
    pub ticket: TicketLine,
}

/// One ticket on a line: short id, drink count, customer, age.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TicketLine {
    /// The order.
    pub order_id: Uuid,
    /// Which drink of how many (`1/2`), or how many (`x2`), or empty.
    pub count: String,
    /// Name to call out.
    pub customer: Option<String>,
    /// Seconds since the ticket was queued.
    pub age_secs: u64,
    /// How late that is.
    pub level: AgeLevel,
}

/// The frame for `view`.
pub fn render(view: &View) -> Frame {
    let footer = footer(view);
    match &view.screen {
        Screen::Warming => {
            let temp = view.boiler_c.round() as i64;
            let heat = format!("boiler {temp}C / {}C", BREW_C as i64);
            let done = (view.boiler_c - AMBIENT_C).max(0.0).round() as usize;
            let bar = Frame::bar(done, (BREW_C - AMBIENT_C) as usize, COLS);
            Frame::new(["WARMING UP", &heat, &bar, &footer])
        }
        Screen::Idle => Frame::new(["READY", "waiting for tickets", "", &footer]),
        Screen::Stopped(stop) => Frame::new([
            &format!("{} STOPPED", view.station),
            &stop.screen(),
            "tickets handed back",
            &footer,
        ]),
        Screen::Making(m) => {
            let stage: String = m.stage.chars().take(7).collect();
            let progress = format!("{stage:<8}{}", Frame::bar(m.step, m.steps, 12));
            Frame::new([&m.drink, &progress, &ticket_line(&m.ticket), &footer])
        }
        Screen::Lost { reason, ticket } => {
            Frame::fault(&view.station, reason, &ticket_line(ticket))
        }
        Screen::Bump { drink, ticket } => {
            Frame::new(["made: BUMP", drink, &ticket_line(ticket), &footer])
        }
    }
}

/// `left` and `right` on one line, `right` flush right, `left` cut to make room.
fn spread(left: &str, right: &str) -> String {
    let room = COLS.saturating_sub(right.chars().count() + 1);
    let left: String = left.chars().take(room).collect();
    let gap = COLS.saturating_sub(left.chars().count() + right.chars().count());
    format!("{left}{}{right}", " ".repeat(gap))
}

/// Queue, rail, station; boiler temperature or the fault.
fn footer(view: &View) -> String {
    let rail = match view.rail {
        0 => String::new(),
        n => format!(" R{n}"),
    };
    let left = format!("Q{}{rail} {}", view.queue, view.station);
    let right = match view.stop {
        Some(stop) => stop.label().to_owned(),
        None => format!("{}C", view.boiler_c.round() as i64),
    };
    spread(&left, &right)
}

fn ticket_line(t: &TicketLine) -> String {
    let id = t.order_id.simple().to_string();
    let short = &id[id.len() - 4..];
    let mut left = format!("#{short}");
    for part in [t.count.as_str(), t.customer.as_deref().unwrap_or("")] {
        if !part.is_empty() {
            left.push(' ');
            left.push_str(part);
        }
    }
    spread(&left, &age(t.age_secs, t.level))
}

/// A ticket's age as `m:ss`, marked `!` past the warn threshold and `!!` past the late one.
pub fn age(age_secs: u64, level: AgeLevel) -> String {
    let mark = match level {
        AgeLevel::Fresh => "",
        AgeLevel::Warn => "!",
        AgeLevel::Late => "!!",
    };
    format!("{}:{:02}{mark}", age_secs / 60, age_secs % 60)
}

/// A drink as the bar writes it: item, size initial, milk unless the item's usual one,
/// modifiers abbreviated and counted (`LATTE M OAT +2SH VAN`).
pub fn drink_label(menu: &Menu, line: &PricedLine) -> String {
    let item = menu.items.get(&line.item);
    let name = item.map_or(line.item.as_str(), |i| i.name.as_str());
    let mut words = vec![name.to_uppercase()];
    words.extend(
        line.size
            .chars()
            .next()
            .map(|c| c.to_uppercase().to_string()),
    );
    if let Some(milk) = &line.milk {
        if item.and_then(|i| i.default_milk.as_ref()) != Some(milk) {
            words.push(milk.to_uppercase());
        }
    }
    let mut seen: Vec<(&str, usize)> = Vec::new();
    for m in &line.modifiers {
        match seen.iter_mut().find(|(k, _)| k == m) {
            Some((_, n)) => *n += 1,
            None => seen.push((m, 1)),
        }
    }
    words.extend(seen.into_iter().map(|(key, n)| modifier(key, n)));
    words.join(" ")
}

/// `extra_shot` → `+SH` (`+2SH` for two), `vanilla` → `VAN` (`2VAN`).
fn modifier(key: &str, n: usize) -> String {
    let count = if n > 1 { n.to_string() } else { String::new() };
    match key.strip_prefix("extra_") {
        Some(rest) => format!("+{count}{}", abbrev(rest, 2)),
        None => format!("{count}{}", abbrev(key, 3)),
    }
}

fn abbrev(word: &str, n: usize) -> String {
    word.chars()
        .filter(|c| c.is_alphanumeric())
        .take(n)
        .collect::<String>()
        .to_uppercase()
}

#[cfg(test)]
mod tests;
