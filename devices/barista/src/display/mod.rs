//! The device's character display: a 20×4 [`Frame`], rendered from a [`View`] by
//! [`render`], shown on a [`Display`].

mod screen;

use std::io::{IsTerminal, Write};
use std::sync::{Arc, Mutex};

pub use screen::{age, drink_label, render, Making, Screen, TicketLine, View};

/// Columns of the display.
pub const COLS: usize = 20;

/// Rows of the display.
pub const ROWS: usize = 4;

/// One screenful: four lines of exactly 20 characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame(pub [String; ROWS]);

impl Frame {
    /// A frame from up to four lines, each cut or padded to 20 characters.
    pub fn new(lines: [&str; ROWS]) -> Frame {
        Frame(lines.map(|l| {
            let mut s: String = l.chars().take(COLS).collect();
            let n = s.chars().count();
            s.extend(std::iter::repeat_n(' ', COLS - n));
            s
        }))
    }

    /// A progress bar of `width` cells, `done` of `total` filled.
    pub fn bar(done: usize, total: usize, width: usize) -> String {
        let filled = (done * width)
            .checked_div(total)
            .unwrap_or(width)
            .min(width);
        format!("{}{}", "#".repeat(filled), ".".repeat(width - filled))
    }

    /// The frame shown when the machine stops mid-drink: `<station> FAULT` on top, the
    /// reason word-wrapped over the next two lines, and `footer` (the order) at the bottom.
    pub fn fault(station: &str, reason: &str, footer: &str) -> Frame {
        let top = format!("{station} FAULT");
        let mut lines = wrap(reason).into_iter();
        let first = lines.next().unwrap_or_default();
        let second = lines.next().unwrap_or_default();
        Frame::new([&top, &first, &second, footer])
    }

    /// The frame boxed, as the terminal shows it.
    pub fn boxed(&self) -> String {
        let edge = "-".repeat(COLS);
        let mut out = format!("+{edge}+\n");
        for line in &self.0 {
            out.push_str(&format!("|{line}|\n"));
        }
        out.push_str(&format!("+{edge}+"));
        out
    }

    /// What the terminal is sent to show this frame: the box, preceded by a cursor-up over
    /// the previous box when `over_previous` (drawing in place).
    pub fn paint(&self, over_previous: bool) -> String {
        let up = if over_previous {
            format!("\x1b[{}A\r", ROWS + 2)
        } else {
            String::new()
        };
        format!("{up}{}\n", self.boxed())
    }
}

/// `text` split at spaces into lines of at most [`COLS`] characters (longer words are cut).
fn wrap(text: &str) -> Vec<String> {
    let mut lines: Vec<String> = Vec::new();
    for word in text.split_whitespace() {
        let word: String = word.chars().take(COLS).collect();
        match lines.last_mut() {
            Some(line) if line.chars().count() + 1 + word.chars().count() <= COLS => {
                line.push(' ');
                line.push_str(&word);
            }
            _ => lines.push(word),
        }
    }
    lines
}

/// Where frames are shown (a character LCD, the terminal, memory in tests).
pub trait Display: Send + 'static {
    /// Shows a frame.
    fn show(&mut self, frame: &Frame);
}

impl Display for Box<dyn Display> {
    fn show(&mut self, frame: &Frame) {
        (**self).show(frame);
    }
}

/// How a [`TerminalDisplay`] draws.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Placement {
    /// One frame after the other (a log, a pipe).
    Append,
    /// Redrawn over the previous box (a terminal the station has to itself).
    InPlace,
    /// Pinned to the top rows of a terminal shared with a log: the log scrolls below it.
    Pinned,
}

/// Shows frames on standard output: redrawn in place when it is a terminal, one after the
/// other otherwise (a log, a pipe); or pinned above a scrolling log ([`TerminalDisplay::pinned`]).
#[derive(Debug)]
pub struct TerminalDisplay {
    last: Option<Frame>,
    placement: Placement,
}

impl Default for TerminalDisplay {
    fn default() -> Self {
        let placement = if std::io::stdout().is_terminal() {
            Placement::InPlace
        } else {
            Placement::Append
        };
        TerminalDisplay {
            last: None,
            placement,
        }
    }
}

impl TerminalDisplay {
    /// A display pinned to the top of an interactive terminal, for `milo up --display`: the
    /// terminal's scroll region is set below the box, so log lines scroll underneath and never
    /// interleave with a frame. `None` when standard output is not a terminal.
    pub fn pinned() -> Option<TerminalDisplay> {
        if !std::io::stdout().is_terminal() {
            return None;
        }
        let mut out = std::io::stdout().lock();
        let _ = out.write_all(pin_start().as_bytes());
        let _ = out.flush();
        Some(TerminalDisplay {
            last: None,
            placement: Placement::Pinned,
        })
    }
}

/// Clears the screen, keeps the box's rows for it and puts the cursor below them.
fn pin_start() -> String {
    let below = ROWS + 3;
    format!("\x1b[2J\x1b[{below}r\x1b[{below};1H")
}

/// Draws `frame` in the pinned rows and puts the cursor back where the log was, in one string
/// with no newline (one write, so a log line from another thread cannot land inside it).
fn pin_frame(frame: &Frame) -> String {
    let mut out = String::from("\x1b7");
    for (row, line) in frame.boxed().lines().enumerate() {
        out.push_str(&format!("\x1b[{};1H{line}\x1b[K", row + 1));
    }
    out.push_str("\x1b8");
    out
}

impl Display for TerminalDisplay {
    fn show(&mut self, frame: &Frame) {
        if self.last.as_ref() == Some(frame) {
            return;
        }
        let text = match self.placement {
            Placement::Pinned => pin_frame(frame),
            p => frame.paint(p == Placement::InPlace && self.last.is_some()),
        };
        let mut out = std::io::stdout().lock();
        let _ = out.write_all(text.as_bytes());
        let _ = out.flush();
        self.last = Some(frame.clone());
    }
}

impl Drop for TerminalDisplay {
    /// Gives the whole terminal back to the log.
    fn drop(&mut self) {
        if self.placement == Placement::Pinned {
            let mut out = std::io::stdout().lock();
            let _ = out.write_all(b"\x1b[r\x1b[999;1H\n");
            let _ = out.flush();
        }
    }
}

/// Keeps every frame in memory (tests, and `milo up` with the display off).
#[derive(Debug, Default, Clone)]
pub struct MemoryDisplay {
    /// Frames shown so far (the last 256), repeats of the same frame once.
    pub frames: Arc<Mutex<Vec<Frame>>>,
}

impl MemoryDisplay {
    /// The frames shown so far.
    pub fn shown(&self) -> Vec<Frame> {
        self.frames.lock().map(|f| f.clone()).unwrap_or_default()
    }
}

impl Display for MemoryDisplay {
    fn show(&mut self, frame: &Frame) {
        if let Ok(mut frames) = self.frames.lock() {
            if frames.last() == Some(frame) {
                return;
            }
            if frames.len() >= 256 {
                frames.remove(0);
            }
            frames.push(frame.clone());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_are_twenty_by_four() {
        let f = Frame::new(["bar-1  LATTE L OAT and more text", "extract", "", ""]);
        assert!(f.0.iter().all(|l| l.chars().count() == COLS));
        assert_eq!(f.0[0], "bar-1  LATTE L OAT a");
        assert_eq!(Frame::bar(1, 4, 8), "##......");
        assert_eq!(Frame::bar(0, 0, 4), "####");
        assert_eq!(f.boxed().lines().count(), 6);
    }

    #[test]
    fn a_fault_frame_names_the_station_and_wraps_the_reason() {
        let f = Frame::fault("bar-1", "group head fault during extract", "#4a5b 1/2 Ada");
        assert_eq!(f.0[0].trim_end(), "bar-1 FAULT");
        assert_eq!(f.0[1].trim_end(), "group head fault");
        assert_eq!(f.0[2].trim_end(), "during extract");
        assert_eq!(f.0[3].trim_end(), "#4a5b 1/2 Ada");
        assert!(f.0.iter().all(|l| l.chars().count() == COLS));
        let long = Frame::fault("bar-2", "abcdefghijklmnopqrstuvwxyz and more", "");
        assert_eq!(long.0[1], "abcdefghijklmnopqrst");
        assert_eq!(long.0[2].trim_end(), "and more");
    }

    #[test]
    fn the_terminal_redraws_over_the_previous_box() {
        let f = Frame::new(["a", "b", "c", "d"]);
        let first = f.paint(false);
        assert!(first.starts_with("+----"));
        assert_eq!(first.lines().count(), 6);
        let again = f.paint(true);
        assert_eq!(again, format!("\x1b[6A\r{first}"));
    }

    #[test]
    fn a_pinned_frame_is_one_write_that_leaves_the_cursor_in_the_log() {
        let f = Frame::new(["a", "b", "c", "d"]);
        let text = pin_frame(&f);
        assert!(
            !text.contains('\n'),
            "a newline would split the write: {text:?}"
        );
        assert!(text.starts_with("\x1b7") && text.ends_with("\x1b8"));
        for (row, line) in f.boxed().lines().enumerate() {
            assert!(text.contains(&format!("\x1b[{};1H{line}\x1b[K", row + 1)));
        }
        assert_eq!(pin_start(), "\x1b[2J\x1b[7r\x1b[7;1H");
    }

    #[test]
    fn memory_keeps_each_new_frame_once() {
        let mut d = MemoryDisplay::default();
        let (a, b) = (Frame::new(["a", "", "", ""]), Frame::new(["b", "", "", ""]));
        for f in [&a, &a, &b, &a] {
            d.show(f);
        }
        assert_eq!(d.shown(), vec![a.clone(), b, a]);
    }
}
