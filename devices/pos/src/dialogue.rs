//! The interactive counter's dialogue, over any `BufRead` and `Write` (a terminal, or a
//! script in tests): shows the menu, then asks item → size → milk → extra shots → syrups →
//! iced → quantity → more drinks? → customer name → confirm with the total, and hands the
//! order to a [`Counter`]. Bad input is asked again with the reason; what the shop cannot
//! make now (86'd) is refused with `MenuAvailability::refusal`'s message; end of input ends
//! the session.

use std::io::{self, BufRead, Write};

use milo_contracts::counter::MenuAvailability;
use milo_contracts::events::OrderLine;
use milo_contracts::menu::Item;
use milo_contracts::payments::PaymentMethod;
use milo_contracts::Menu;
use uuid::Uuid;

use crate::menu_view::{line_text, pick, priced, render, sizes_by_price, Stock};
use crate::update::money;
use crate::Request;

/// Where the dialogue sends orders.
pub trait Counter {
    /// What the shop can sell now, if known.
    fn availability(&self) -> Option<MenuAvailability>;
    /// Takes a confirmed order: the line to show, or why it was not taken.
    fn place(&mut self, request: Request) -> Result<String, String>;
    /// True while card payments are offline (the payment service's breaker is not closed)
    /// and the store refuses card orders then (`when_offline = "refuse"`; in queue mode
    /// card orders are still taken, authorized offline).
    fn cards_offline(&self) -> bool {
        false
    }
    /// What to say before the customer pays while card payments are offline but still taken
    /// (queue mode: authorized offline, up to the limits), if so.
    fn cards_note(&self) -> Option<String> {
        None
    }
}

/// Why a dialogue stops.
enum Stop {
    /// The input ended.
    Eof,
    /// Reading or writing failed.
    Io(io::Error),
}

impl From<io::Error> for Stop {
    fn from(e: io::Error) -> Self {
        Stop::Io(e)
    }
}

type Step<T> = Result<T, Stop>;

/// Takes orders until the input ends; returns how many were placed.
pub fn session(
    menu: &Menu,
    counter: &mut impl Counter,
    input: impl BufRead,
    output: impl Write,
) -> io::Result<usize> {
    let mut d = Dialogue {
        menu,
        input,
        out: output,
    };
    let mut placed = 0;
    loop {
        match d.order(counter) {
            Ok(true) => placed += 1,
            Ok(false) => {}
            Err(Stop::Eof) => {
                writeln!(d.out, "\nsession ended: {placed} placed")?;
                d.out.flush()?;
                return Ok(placed);
            }
            Err(Stop::Io(e)) => return Err(e),
        }
    }
}

struct Dialogue<'m, R, W> {
    menu: &'m Menu,
    input: R,
    out: W,
}

impl<R: BufRead, W: Write> Dialogue<'_, R, W> {
    fn ask(&mut self, prompt: &str) -> Step<String> {
        write!(self.out, "{prompt}")?;
        self.out.flush()?;
        let mut line = String::new();
        if self.input.read_line(&mut line)? == 0 {
            return Err(Stop::Eof);
        }
        Ok(line.trim().to_owned())
    }

    fn say(&mut self, text: &str) -> Step<()> {
        writeln!(self.out, "{text}")?;
        Ok(())
    }

    fn yes_no(&mut self, prompt: &str, default: bool) -> Step<bool> {
        loop {
            match self.ask(prompt)?.to_ascii_lowercase().as_str() {
                "" => return Ok(default),
                "y" | "yes" => return Ok(true),
                "n" | "no" => return Ok(false),
                other => self.say(&format!("{other:?}: please answer y or n"))?,
            }
        }
    }

    /// A number in `lo..=hi`; `default` on an empty answer.
    fn number(&mut self, prompt: &str, lo: i64, hi: i64, default: i64) -> Step<i64> {
        loop {
            let a = self.ask(prompt)?;
            if a.is_empty() {
                return Ok(default);
            }
            match a.parse::<i64>() {
                Ok(n) if (lo..=hi).contains(&n) => return Ok(n),
                _ => self.say(&format!("{a:?}: type a number from {lo} to {hi}"))?,
            }
        }
    }

    /// One of `keys`; `default` on an empty answer.
    fn choose(
        &mut self,
        prompt: &str,
        keys: &[&str],
        names: &[&str],
        default: Option<usize>,
    ) -> Step<usize> {
        loop {
            let a = self.ask(prompt)?;
            if let (true, Some(d)) = (a.is_empty(), default) {
                return Ok(d);
            }
            match pick(&a, keys, names) {
                Some(i) => return Ok(i),
                None => self.say(&format!(
                    "{a:?} is not one of {}: type a number from 1 to {} or a name",
                    keys.join(", "),
                    keys.len()
                ))?,
            }
        }
    }

    /// One order, start to end: true if the counter took it.
    fn order(&mut self, counter: &mut impl Counter) -> Step<bool> {
        let avail = counter.availability();
        self.say(&format!(
            "\n{}",
            render(self.menu, Stock::new(self.menu, avail.as_ref()))
        ))?;
        self.say("new order (end of input, Ctrl-D, ends the session)")?;
        let mut lines: Vec<OrderLine> = Vec::new();
        loop {
            let avail = counter.availability();
            let line = self.line(Stock::new(self.menu, avail.as_ref()))?;
            let mut all = lines.clone();
            all.push(line.clone());
            match avail.as_ref().and_then(|a| a.refusal(self.menu, &all)) {
                Some(why) => self.say(&why)?,
                None => {
                    self.say(&format!("  added {}", line_text(self.menu, &line)))?;
                    lines.push(line);
                }
            }
            if !self.yes_no("another drink? [y/N] ", false)? {
                break;
            }
        }
        if lines.is_empty() {
            self.say("nothing to place")?;
            return Ok(false);
        }
        let customer = Some(self.ask("customer name (enter to skip): ")?).filter(|c| !c.is_empty());
        if !self.confirm(&lines)? {
            self.say("order dropped")?;
            return Ok(false);
        }
        // Said before the customer pays: with cards offline, the order is taken in cash or not
        // at all.
        let mut payment = PaymentMethod::Card;
        if counter.cards_offline() {
            self.say("card payments offline: take cash or try again")?;
            if !self.yes_no("paid in cash? [y/N] ", false)? {
                self.say("order dropped")?;
                return Ok(false);
            }
            payment = PaymentMethod::Cash;
        } else if let Some(note) = counter.cards_note() {
            self.say(&note)?;
        }
        let request = Request {
            order_id: Uuid::now_v7(),
            items: lines,
            customer,
            payment,
        };
        match counter.place(request) {
            Ok(text) => self.say(&text).map(|()| true),
            Err(why) => self.say(&format!("not placed: {why}")).map(|()| false),
        }
    }

    /// Shows the lines with their prices and the total; true if confirmed.
    fn confirm(&mut self, lines: &[OrderLine]) -> Step<bool> {
        let priced = match self.menu.price(lines) {
            Ok(p) => p,
            Err(e) => {
                self.say(&format!("cannot take this order: {e}"))?;
                return Ok(false);
            }
        };
        for (line, p) in lines.iter().zip(&priced.lines) {
            let cost = money(p.unit_price_cents * u64::from(p.qty));
            self.say(&format!("  {}  {cost}", line_text(self.menu, line)))?;
        }
        let total = money(priced.total_cents);
        self.yes_no(&format!("total {total}: place this order? [Y/n] "), true)
    }

    /// One drink: item and its options, each checked against what the shop can make.
    fn line(&mut self, stock: Stock<'_>) -> Step<OrderLine> {
        let menu = self.menu;
        let keys: Vec<&str> = menu.items.keys().map(String::as_str).collect();
        let names: Vec<&str> = menu.items.values().map(|i| i.name.as_str()).collect();
        let prompt = format!("item (1-{} or name): ", keys.len());
        let mut line = loop {
            let key = keys[self.choose(&prompt, &keys, &names, None)?];
            let line = OrderLine {
                item: key.to_owned(),
                size: None,
                milk: None,
                qty: 1,
                modifiers: Vec::new(),
            };
            if !stock.item_out(key) {
                break line;
            }
            self.say(&stock.why(&line))?;
        };
        let Some(item) = menu.items.get(&line.item) else {
            return Ok(line);
        };
        self.size(item, stock, &mut line)?;
        self.milk(item, stock, &mut line)?;
        self.extras(item, stock, &mut line)?;
        let max = i64::from(menu.max_qty);
        line.qty = self.number(&format!("quantity [1] (1-{max}): "), 1, max, 1)?;
        Ok(line)
    }

    /// Asks one option among `keys` until the shop can make the line with it.
    fn option(
        &mut self,
        prompt: &str,
        keys: &[&str],
        default: usize,
        stock: Stock<'_>,
        set: impl Fn(&mut OrderLine, &str) -> bool,
        line: &mut OrderLine,
    ) -> Step<()> {
        loop {
            let key = keys[self.choose(prompt, keys, keys, Some(default))?];
            let mut trial = line.clone();
            if !set(&mut trial, key) {
                *line = trial;
                return Ok(());
            }
            self.say(&stock.why(&trial))?;
        }
    }

    fn size(&mut self, item: &Item, stock: Stock<'_>, line: &mut OrderLine) -> Step<()> {
        if item.sizes.len() < 2 {
            return Ok(());
        }
        let sizes = sizes_by_price(item);
        let keys: Vec<&str> = sizes.iter().map(|(k, _)| *k).collect();
        let shown: Vec<String> = sizes
            .iter()
            .map(|(k, cents)| format!("{k} {}", money(*cents)))
            .collect();
        let default = keys
            .iter()
            .position(|k| *k == item.default_size)
            .unwrap_or(0);
        let prompt = format!("size [{}] ({}): ", item.default_size, shown.join(", "));
        let set = |l: &mut OrderLine, k: &str| {
            l.size = Some(k.to_owned());
            stock.size_out(&l.item, k)
        };
        self.option(&prompt, &keys, default, stock, set, line)
    }

    fn milk(&mut self, item: &Item, stock: Stock<'_>, line: &mut OrderLine) -> Step<()> {
        let Some(default_milk) = &item.default_milk else {
            return Ok(());
        };
        let menu = self.menu;
        let keys: Vec<&str> = menu.milks.keys().map(String::as_str).collect();
        let shown: Vec<String> = menu
            .milks
            .iter()
            .map(|(k, m)| priced(k, m.price_cents, ""))
            .collect();
        let default = keys.iter().position(|k| k == default_milk).unwrap_or(0);
        let prompt = format!("milk [{default_milk}] ({}): ", shown.join(", "));
        let set = |l: &mut OrderLine, k: &str| {
            l.milk = Some(k.to_owned());
            !stock.can(l)
        };
        self.option(&prompt, &keys, default, stock, set, line)
    }
}

mod extras;

#[cfg(test)]
mod tests;
