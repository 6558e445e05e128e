//! What the import tells the operator: a line per row it did not take as it is (on
//! standard output, so it can be kept in a file), progress on standard error (a bar on a
//! terminal, a plain line every few seconds otherwise), and a summary at the end.

use std::fmt;
use std::io::Write;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::domain::Table;

/// How often progress is written when standard error is not a terminal.
const PLAIN_PROGRESS_EVERY: Duration = Duration::from_secs(5);

/// What happened to the rows of one table.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    /// Written now (or, in a dry run, that would be).
    pub imported: u64,
    /// Already in larch with the same content: left alone.
    pub already_there: u64,
    /// In larch under the same id with other content: left as larch has it.
    pub differ: u64,
    /// Not taken: invalid, a duplicate, or a post whose author was not imported.
    pub refused: u64,
    /// Imported, but with a password hash larch cannot check.
    pub no_login: u64,
}

impl Counts {
    pub fn rows(&self) -> u64 {
        self.imported + self.already_there + self.differ + self.refused
    }
}

pub struct Report {
    bar: Option<ProgressBar>,
    table: &'static str,
    done: u64,
    total: u64,
    last_plain: Instant,
}

impl Report {
    /// A progress bar when `terminal` (standard error is one), plain lines otherwise.
    pub fn new(terminal: bool) -> Report {
        let bar = terminal.then(|| {
            let bar = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stderr());
            bar.set_style(
                ProgressStyle::with_template(
                    "{prefix:>9} [{bar:40}] {human_pos}/{human_len} rows, {per_sec}, {eta} left",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
            );
            bar
        });
        Report {
            bar,
            table: "",
            done: 0,
            total: 0,
            last_plain: Instant::now(),
        }
    }

    pub fn set_total(&mut self, total: u64) {
        self.total = total;
        if let Some(bar) = &self.bar {
            bar.set_length(total);
        }
    }

    pub fn start_table(&mut self, table: Table) {
        self.table = table.name();
        if let Some(bar) = &self.bar {
            bar.set_prefix(table.name());
        }
    }

    pub fn advance(&mut self, rows: u64) {
        self.done += rows;
        match &self.bar {
            Some(bar) => bar.inc(rows),
            None if self.last_plain.elapsed() >= PLAIN_PROGRESS_EVERY => {
                self.last_plain = Instant::now();
                eprintln!(
                    "import-flask: {} rows of {} read ({}: in progress)",
                    self.done, self.total, self.table
                );
            }
            None => {}
        }
    }

    /// A line of the report, on standard output, above the bar.
    pub fn line(&self, text: impl fmt::Display) {
        let write = || {
            let mut out = std::io::stdout().lock();
            // A closed standard output (`| head`) must not stop the import.
            let _ = writeln!(out, "{text}");
        };
        match &self.bar {
            Some(bar) => bar.suspend(write),
            None => write(),
        }
    }

    pub fn refused(&self, table: Table, id: i64, why: &str) {
        self.line(format_args!("refused  {} #{id}: {why}", table.name()));
    }

    pub fn differs(&self, table: Table, id: i64, why: &str) {
        self.line(format_args!("differs  {} #{id}: {why}", table.name()));
    }

    pub fn no_login(&self, id: i64, why: &str) {
        self.line(format_args!(
            "no-login users #{id}: password: {why}; imported, but this account cannot log in until its password is reset"
        ));
    }

    pub fn note(&self, text: impl fmt::Display) {
        self.line(format_args!("note     {text}"));
    }

    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}
