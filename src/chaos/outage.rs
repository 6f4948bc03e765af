//! A card processor outage in the middle of a chaos run: the harness cuts the simulated
//! processor through `payment.outage_switch` (a file the payment process checks at each call,
//! whichever process it is after the kills) from `at` for `length`, and the café keeps
//! selling: a card order the store refuses (503, card payments offline) is placed again, same
//! id, in cash.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The switch file of a chaos run's store.
pub fn switch_path(dir: &Path) -> PathBuf {
    dir.join("processor-cut")
}

/// An outage planned for one run, and what it did.
#[derive(Debug)]
pub struct Outage {
    switch: PathBuf,
    window: Option<(Instant, Instant)>,
    cut: bool,
    /// Card orders refused while it lasted (each then placed in cash).
    pub refused: usize,
}

impl Outage {
    /// An outage of `length` starting `at` from now (none if `plan` is `None`), cut through
    /// the switch file in `dir`.
    pub fn new(dir: &Path, plan: Option<(Duration, Duration)>) -> Outage {
        let now = Instant::now();
        Outage {
            switch: switch_path(dir),
            window: plan.map(|(at, length)| (now + at, now + at + length)),
            cut: false,
            refused: 0,
        }
    }

    /// Cuts or restores the processor as the clock says.
    pub fn tick(&mut self) -> std::io::Result<()> {
        let Some((start, end)) = self.window else {
            return Ok(());
        };
        let now = Instant::now();
        let cut = now >= start && now < end;
        if cut != self.cut {
            if cut {
                std::fs::write(&self.switch, b"cut by milo chaos\n")?;
            } else {
                std::fs::remove_file(&self.switch)?;
            }
            self.cut = cut;
        }
        Ok(())
    }

    /// Ends the outage if it still runs.
    pub fn end(&mut self) -> std::io::Result<()> {
        if self.cut {
            std::fs::remove_file(&self.switch)?;
            self.cut = false;
        }
        Ok(())
    }

    /// What the report says about it.
    pub fn observation(&self) -> Option<String> {
        let (start, end) = self.window?;
        Some(format!(
            "processor outage of {:.1} s: {} card orders refused, placed again in cash",
            (end - start).as_secs_f64(),
            self.refused
        ))
    }
}
