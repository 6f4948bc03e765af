//! The device's character display: a 20×4 [`Frame`], shown on a [`Display`].

use std::io::Write;
use std::sync::{Arc, Mutex};

/// Columns of the display.
pub const COLS: usize = 20;

/// One screenful: four lines of exactly 20 characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame(pub [String; 4]);

impl Frame {
    /// A frame from up to four lines, each cut or padded to 20 characters.
    pub fn new(lines: [&str; 4]) -> Frame {
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
}

/// Where frames are shown.
pub trait Display: Send + 'static {
    /// Shows a frame.
    fn show(&mut self, frame: &Frame);
}

impl Display for Box<dyn Display> {
    fn show(&mut self, frame: &Frame) {
        (**self).show(frame);
    }
}

/// Prints each new frame to standard output.
#[derive(Debug, Default)]
pub struct TerminalDisplay {
    last: Option<Frame>,
}

impl Display for TerminalDisplay {
    fn show(&mut self, frame: &Frame) {
        if self.last.as_ref() == Some(frame) {
            return;
        }
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{}", frame.boxed());
        let _ = out.flush();
        self.last = Some(frame.clone());
    }
}

/// Keeps every frame in memory (tests, and `milo up` with the display off).
#[derive(Debug, Default, Clone)]
pub struct MemoryDisplay {
    /// Frames shown so far (the last 256).
    pub frames: Arc<Mutex<Vec<Frame>>>,
}

impl Display for MemoryDisplay {
    fn show(&mut self, frame: &Frame) {
        if let Ok(mut frames) = self.frames.lock() {
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
        assert_eq!(f.boxed().lines().count(), 6);
    }
}
