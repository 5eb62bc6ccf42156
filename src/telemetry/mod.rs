//! Log output: readable text by default or one JSON object per line, level from `RUST_LOG`
//! (default `info`), written to stdout for the container runtime or journald to collect.
//!
//! The workers never write the log themselves: a line goes into a bounded buffer
//! (`LOG_BUFFER_LINES`) that one thread of its own writes out. Writing synchronously put the
//! terminal's or the pipe's speed on every request's path (cached handshakes ran at 0.57 of
//! the bare route with the default logging, 0.79 at `warn`). When the buffer is full (stdout
//! slower than the requests, for longer than the buffer lasts), new lines are dropped, never
//! waited for, and counted in `log_lines_dropped_total`.
//!
//! Text for a log collector or journald is written by `text` (the stock line, with less work:
//! it is written once per request); at a terminal, by tracing-subscriber's own format, in colour.

use std::fmt;
use std::future::Future;
use std::io::{BufWriter, IsTerminal, Write};

use tracing_appender::non_blocking::{NonBlockingBuilder, WorkerGuard};
use tracing_subscriber::EnvFilter;

use crate::config::LogFormat;

mod text;

/// Lines held while the writer catches up: seconds of the busiest traffic, a few tens of MB.
const LOG_BUFFER_LINES: usize = 128_000;

/// The writer takes every line waiting and writes them together (then flushes, so nothing
/// lingers once the buffer is empty): one system call per batch, not per line.
const WRITE_BATCH_BYTES: usize = 64 * 1024;

/// Keeps the log's writer thread; dropping it writes out what is buffered and stops it, so keep
/// it until the process exits.
#[must_use = "the log stops when the guard is dropped"]
pub struct LogGuard {
    _writer: Option<WorkerGuard>,
}

/// Installs the global subscriber, writing to stdout; a second call (tests) keeps the first.
pub fn init(format: LogFormat) -> LogGuard {
    install(format, std::io::stdout())
}

/// As `init`, writing to stderr: for the demo, whose instructions are on stdout.
pub fn init_to_stderr(format: LogFormat) -> LogGuard {
    install(format, std::io::stderr())
}

fn install(format: LogFormat, out: impl Write + IsTerminal + Send + 'static) -> LogGuard {
    let terminal = out.is_terminal();
    let out = BufWriter::with_capacity(WRITE_BATCH_BYTES, out);
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let (writer, guard) = NonBlockingBuilder::default()
        .buffered_lines_limit(LOG_BUFFER_LINES)
        .lossy(true)
        .thread_name("seam-bff-log")
        .finish(out);
    crate::metrics::count_dropped_log_lines(writer.error_counter());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer);
    let installed = match format {
        // Colour for a person at a terminal, with the stock format; for journald or a log
        // collector, the same line without colour, written with less work (`text`).
        LogFormat::Text if terminal => builder.with_ansi(true).try_init(),
        LogFormat::Text => builder
            .with_ansi(false)
            .event_format(text::TextLine)
            .fmt_fields(text::TextFields)
            .try_init(),
        LogFormat::Json => builder
            .with_ansi(terminal)
            .json()
            .with_current_span(false)
            .with_span_list(false)
            .try_init(),
    };
    LogGuard {
        _writer: installed.is_ok().then_some(guard),
    }
}

/// A request's id, as the request log writes it (32 hex digits).
#[derive(Clone, Copy)]
pub(crate) struct RequestId([u8; 32]);

impl RequestId {
    /// From 32 hex digits.
    pub(crate) fn new(hex: [u8; 32]) -> Self {
        Self(hex)
    }

    pub(crate) fn as_str(&self) -> &str {
        std::str::from_utf8(&self.0).unwrap_or("-")
    }
}

tokio::task_local! {
    /// The id of the request being served, for the lines written while serving it.
    static CURRENT: RequestId;
}

/// Runs `serving` as the request `id`: lines written meanwhile carry it (`CurrentRequest`).
pub(crate) fn in_request<F: Future>(id: RequestId, serving: F) -> impl Future<Output = F::Output> {
    CURRENT.scope(id, serving)
}

/// A log field, `request_id = %telemetry::CurrentRequest`: the id of the request being served,
/// `-` outside one. Read only when the line is written, so a line filtered out costs nothing.
pub(crate) struct CurrentRequest;

impl fmt::Display for CurrentRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        CURRENT
            .try_with(|id| f.write_str(id.as_str()))
            .unwrap_or_else(|_| f.write_str("-"))
    }
}
