//! The extras of one drink: extra shots, syrups (the item's other modifiers) and iced, at
//! most `MAX_MODIFIERS` in all.

use std::io::{BufRead, Write};

use milo_contracts::events::OrderLine;
use milo_contracts::menu::{Item, MAX_MODIFIERS};

use super::{Dialogue, Step, Stock};
use crate::menu_view::{pick, priced, EXTRA_SHOT, ICED};
use crate::update::money;

impl<R: BufRead, W: Write> Dialogue<'_, R, W> {
    /// Asks extra shots, syrups and iced, as far as the item takes them.
    pub(super) fn extras(
        &mut self,
        item: &Item,
        stock: Stock<'_>,
        line: &mut OrderLine,
    ) -> Step<()> {
        let takes = |m: &str| item.modifiers.iter().any(|k| k == m);
        if takes(EXTRA_SHOT) {
            self.shots(stock, line)?;
        }
        let syrups: Vec<&str> = item
            .modifiers
            .iter()
            .map(String::as_str)
            .filter(|m| *m != EXTRA_SHOT && *m != ICED)
            .collect();
        if !syrups.is_empty() {
            self.syrups(&syrups, stock, line)?;
        }
        if takes(ICED) && line.modifiers.len() < MAX_MODIFIERS {
            loop {
                if !self.yes_no("iced? [y/N] ", false)? {
                    break;
                }
                let mut trial = line.clone();
                trial.modifiers.push(ICED.to_owned());
                if stock.can(&trial) {
                    *line = trial;
                    break;
                }
                self.say(&stock.why(&trial))?;
            }
        }
        Ok(())
    }

    fn shots(&mut self, stock: Stock<'_>, line: &mut OrderLine) -> Step<()> {
        let cents = self
            .menu
            .modifiers
            .get(EXTRA_SHOT)
            .map_or(0, |m| m.price_cents);
        let max = MAX_MODIFIERS as i64;
        let prompt = format!("extra shots [0] (0-{max}, +{} each): ", money(cents));
        loop {
            let n = self.number(&prompt, 0, max, 0)?;
            let mut trial = line.clone();
            trial
                .modifiers
                .extend((0..n).map(|_| EXTRA_SHOT.to_owned()));
            if stock.can(&trial) {
                *line = trial;
                return Ok(());
            }
            self.say(&stock.why(&trial))?;
        }
    }

    fn syrups(&mut self, syrups: &[&str], stock: Stock<'_>, line: &mut OrderLine) -> Step<()> {
        let menu = self.menu;
        let names: Vec<&str> = syrups
            .iter()
            .map(|k| menu.modifiers.get(*k).map_or(*k, |m| m.name.as_str()))
            .collect();
        let shown: Vec<String> = syrups
            .iter()
            .map(|k| priced(k, menu.modifiers.get(*k).map_or(0, |m| m.price_cents), ""))
            .collect();
        let room = MAX_MODIFIERS - line.modifiers.len();
        let prompt = format!(
            "syrups [none] ({}; several with commas): ",
            shown.join(", ")
        );
        loop {
            let answer = self.ask(&prompt)?;
            let asked: Vec<&str> = answer
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty() && !s.eq_ignore_ascii_case("none"))
                .collect();
            let picked: Vec<Option<usize>> =
                asked.iter().map(|a| pick(a, syrups, &names)).collect();
            if let Some(bad) = asked.iter().zip(&picked).find(|(_, p)| p.is_none()) {
                let all = syrups.join(", ");
                self.say(&format!("{:?} is not one of {all}", bad.0))?;
                continue;
            }
            if picked.len() > room {
                self.say(&format!("at most {MAX_MODIFIERS} extras on one drink"))?;
                continue;
            }
            let chosen: Vec<&str> = picked.iter().flatten().map(|i| syrups[*i]).collect();
            let mut trial = line.clone();
            trial.modifiers.extend(chosen.iter().map(|s| s.to_string()));
            if stock.can(&trial) {
                *line = trial;
                return Ok(());
            }
            self.say(&stock.why(&trial))?;
        }
    }
}
