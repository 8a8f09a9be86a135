//! Progress for long loops: an indicatif bar on a terminal, plain lines
//! (every `every` steps) when the output is a file or a pipe.

use std::io::IsTerminal;

use indicatif::{ProgressBar, ProgressStyle};

pub struct Progress {
    bar: Option<ProgressBar>,
    total: u64,
    every: u64,
    label: String,
}

impl Progress {
    pub fn new(total: u64, label: &str) -> Self {
        let bar = std::io::stderr().is_terminal().then(|| {
            let b = ProgressBar::new(total);
            b.set_style(
                ProgressStyle::with_template("{prefix} [{bar:40}] {pos}/{len} {msg} ({eta})")
                    .unwrap()
                    .progress_chars("=> "),
            );
            b.set_prefix(label.to_string());
            b
        });
        Progress {
            bar,
            total,
            every: (total / 10).max(1),
            label: label.to_string(),
        }
    }

    /// Marks step `i` (0-based) done with a message.
    pub fn step(&self, i: u64, msg: impl FnOnce() -> String) {
        match &self.bar {
            Some(b) => {
                b.set_position(i + 1);
                if i % 10 == 0 {
                    b.set_message(msg());
                }
            }
            None => {
                if (i + 1) % self.every == 0 || i + 1 == self.total {
                    eprintln!("{} {}/{} {}", self.label, i + 1, self.total, msg());
                }
            }
        }
    }

    pub fn finish(&self) {
        if let Some(b) = &self.bar {
            b.finish_and_clear();
        }
    }
}
