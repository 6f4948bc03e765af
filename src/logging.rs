//! Log lines on stderr, fit for where they go (`[log] format`): for systemd's journal, each
//! line starts with its syslog priority (`<4>` for a warning, as `sd-daemon(3)` describes) so
//! that `journalctl -p warning` filters, and carries no time (the journal stamps every line
//! itself); for a terminal or a file, a time, the level and the message (colours only on a
//! terminal); or one JSON object per line. Lines written while a part handles an event carry
//! the event's `order_id` and `event_id` (the runner's `event` span).

use std::io::IsTerminal;

use milo_config::LogFormat;
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::fmt::format::{self, FormatEvent, FormatFields, JsonFields, Writer};
use tracing_subscriber::fmt::FmtContext;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::EnvFilter;

/// Installs the process's logger: `format`, and `RUST_LOG` or else `default` for what is
/// logged.
pub fn init(format: LogFormat, default: &str) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    let journal = under_journal();
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let prefixed = match format {
        LogFormat::Journal => true,
        LogFormat::Auto => journal,
        LogFormat::Text | LogFormat::Json => false,
    };
    let result = if format == LogFormat::Json {
        builder
            .fmt_fields(JsonFields::new())
            .event_format(Prioritised {
                inner: format::format().json().with_span_list(false),
                prefix: journal,
            })
            .try_init()
    } else if prefixed {
        builder
            .with_ansi(false)
            .event_format(Prioritised {
                inner: format::format().without_time().with_ansi(false),
                prefix: true,
            })
            .try_init()
    } else {
        builder
            .with_ansi(std::io::stderr().is_terminal())
            .try_init()
    };
    // Installed twice only in a process that already has a logger (a test): keep that one.
    drop(result);
}

/// True when stderr is systemd's journal stream: `JOURNAL_STREAM` names its device and inode.
pub fn under_journal() -> bool {
    use std::os::unix::fs::MetadataExt;
    let Some(stream) = std::env::var_os("JOURNAL_STREAM") else {
        return false;
    };
    let Ok(stderr) = std::fs::metadata("/proc/self/fd/2") else {
        return false;
    };
    stream.to_str() == Some(&format!("{}:{}", stderr.dev(), stderr.ino()))
}

/// The syslog priority of a level: error 3, warning 4, info 6, debug and trace 7.
pub fn priority(level: &Level) -> u8 {
    match *level {
        Level::ERROR => 3,
        Level::WARN => 4,
        Level::INFO => 6,
        _ => 7,
    }
}

/// A line format, with the event's syslog priority in front when `prefix`.
struct Prioritised<F> {
    inner: F,
    prefix: bool,
}

impl<S, N, F> FormatEvent<S, N> for Prioritised<F>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
    F: FormatEvent<S, N>,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> std::fmt::Result {
        if self.prefix {
            write!(writer, "<{}>", priority(event.metadata().level()))?;
        }
        self.inner.format_event(ctx, writer, event)
    }
}
