//! What the process has used so far, read from procfs: CPU time (`/proc/self/stat`), disk
//! writes (`/proc/self/io`) and resident memory (`/proc/self/status`). A reading is `None`
//! where the file is missing or unreadable (no procfs, no task I/O accounting): the bench then
//! says "n/a" rather than 0.

/// One reading of the process's counters, taken before and after a run.
#[derive(Debug, Clone, Copy, Default)]
pub struct Usage {
    /// User + system CPU time of every thread, dead ones included, in clock ticks.
    pub cpu_ticks: Option<u64>,
    /// Bytes this process caused to be sent to the storage layer (`write_bytes`): the disk's
    /// share, not the page cache's or the sockets'.
    pub disk_write_bytes: Option<u64>,
    /// Write system calls (`syscw`): to files and to sockets alike.
    pub write_syscalls: Option<u64>,
}

impl Usage {
    /// The process's counters now.
    pub fn now() -> Usage {
        let io = std::fs::read_to_string("/proc/self/io").ok();
        let field = |name: &str| io.as_deref().and_then(|text| field_u64(text, name));
        Usage {
            cpu_ticks: std::fs::read_to_string("/proc/self/stat")
                .ok()
                .as_deref()
                .and_then(cpu_ticks),
            disk_write_bytes: field("write_bytes"),
            write_syscalls: field("syscw"),
        }
    }

    /// What was used between `earlier` and this reading.
    pub fn since(&self, earlier: &Usage) -> Usage {
        let d = |now: Option<u64>, then: Option<u64>| Some(now?.saturating_sub(then?));
        Usage {
            cpu_ticks: d(self.cpu_ticks, earlier.cpu_ticks),
            disk_write_bytes: d(self.disk_write_bytes, earlier.disk_write_bytes),
            write_syscalls: d(self.write_syscalls, earlier.write_syscalls),
        }
    }
}

/// `utime + stime` (fields 14 and 15) from `/proc/self/stat`. The command name (field 2) is in
/// parentheses and may hold spaces or parentheses itself: the fields are counted after the last
/// `)`, where field 3 comes first.
fn cpu_ticks(stat: &str) -> Option<u64> {
    let (_, rest) = stat.rsplit_once(')')?;
    let mut fields = rest.split_whitespace().skip(11);
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(utime.saturating_add(stime))
}

/// Clock ticks per second, the unit of `/proc/self/stat`'s CPU times (`USER_HZ`). Asked of
/// `getconf CLK_TCK` once (reading it directly needs libc); when that fails, Linux's 100,
/// which every architecture Milo builds for uses. The second value says whether it was asked.
pub fn clock_ticks_per_sec() -> (u64, bool) {
    let asked = std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .filter(|o| o.status.success())
        .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
        .filter(|hz: &u64| *hz > 0);
    match asked {
        Some(hz) => (hz, true),
        None => (100, false),
    }
}

/// A `/proc/self/status` field in KiB (`VmRSS`, `VmHWM`), 0 where there is no procfs.
pub fn proc_status_kib(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| {
            l.strip_prefix(field)?
                .strip_prefix(':')?
                .split_whitespace()
                .next()?
                .parse()
                .ok()
        })
        .unwrap_or(0)
}

/// The number after `name:` on its own line of a `key: value` file.
fn field_u64(text: &str, name: &str) -> Option<u64> {
    text.lines().find_map(|l| {
        let (key, value) = l.split_once(':')?;
        (key.trim() == name).then(|| value.trim().parse().ok())?
    })
}

/// Space the files under `dir` take on disk (allocated blocks), 0 where unreadable.
pub fn disk_bytes(dir: &std::path::Path) -> u64 {
    use std::os::unix::fs::MetadataExt;
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    let mut bytes = 0;
    for entry in entries.flatten() {
        match entry.metadata() {
            Ok(m) if m.is_dir() => bytes += disk_bytes(&entry.path()),
            Ok(m) => bytes += m.blocks() * 512,
            Err(_) => {}
        }
    }
    bytes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_time_is_read_after_an_awkward_command_name() {
        let stat = "4242 (a) b (c) S 1 4242 4242 0 -1 4194560 100 0 0 0 250 75 0 0 20 0 9 0";
        assert_eq!(cpu_ticks(stat), Some(325));
        assert_eq!(cpu_ticks("4242 (milo"), None);
        assert_eq!(cpu_ticks("garbage"), None);
    }

    #[test]
    fn io_fields_are_found_by_name() {
        let io = "rchar: 10\nwchar: 20\nsyscr: 3\nsyscw: 4\nread_bytes: 0\nwrite_bytes: 8192\n\
                  cancelled_write_bytes: 4096\n";
        assert_eq!(field_u64(io, "write_bytes"), Some(8192));
        assert_eq!(field_u64(io, "syscw"), Some(4));
        assert_eq!(field_u64(io, "nothing"), None);
    }

    #[test]
    fn this_process_can_be_read() {
        let before = Usage::now();
        let used = Usage::now().since(&before);
        assert!(used.cpu_ticks.is_some(), "no /proc/self/stat here");
        let rss = proc_status_kib("VmRSS");
        assert!(rss > 0);
        assert!(proc_status_kib("VmHWM") >= rss);
        let (hz, _) = clock_ticks_per_sec();
        assert!(hz > 0);
    }
}
