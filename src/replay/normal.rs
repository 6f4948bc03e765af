//! What may differ between a part's answer and its answer re-run without the outcome being
//! different: the ids of events it makes (new random ids at every run), the times it reads
//! from the clock (as text, or as a number of milliseconds since the epoch, as in a timer's
//! key), and the numbers it gives its events (a scratch store numbers from 1; a pruned log
//! does not). [`normalize`] masks them in a JSON text, nested texts included (a
//! recorded answer is kept as a string inside a record), and keeps every id the part was
//! handed (order ids, the events it answers), which are the same in both runs.

use std::collections::HashSet;

use uuid::Uuid;

/// Milliseconds since the epoch that read as a time: from 2000 to 2100.
const MS_TIMES: std::ops::RangeInclusive<u64> = 946_684_800_000..=4_102_444_800_000;

/// `text` with unknown ids as `<id>`, times as `<time>` and event numbers as `<n>`.
pub fn normalize(text: &str, known: &HashSet<Uuid>) -> String {
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < bytes.len() {
        if let Some(id) = uuid_at(bytes, i) {
            match text.get(i..i + 36).and_then(|s| Uuid::parse_str(s).ok()) {
                Some(u) if known.contains(&u) => out.push_str(&text[i..i + 36]),
                _ => out.push_str("<id>"),
            }
            i += id;
            continue;
        }
        if let Some(n) = time_at(bytes, i) {
            out.push_str("<time>");
            i += n;
            continue;
        }
        if let Some(n) = ms_at(bytes, i) {
            out.push_str("<time>");
            i += n;
            continue;
        }
        if let Some(n) = seq_at(bytes, i) {
            out.push_str(&text[i..i + n.0]);
            out.push_str("<n>");
            i += n.0 + n.1;
            continue;
        }
        let Some(ch) = text.get(i..).and_then(|rest| rest.chars().next()) else {
            break;
        };
        out.push(ch);
        i += ch.len_utf8();
    }
    out
}

fn is_hex(b: u8) -> bool {
    b.is_ascii_hexdigit()
}

/// A UUID's 36 characters at `i` (not inside a longer word).
fn uuid_at(b: &[u8], i: usize) -> Option<usize> {
    if i > 0 && b[i - 1].is_ascii_alphanumeric() {
        return None;
    }
    let s = b.get(i..i + 36)?;
    let ok = s.iter().enumerate().all(|(k, c)| match k {
        8 | 13 | 18 | 23 => *c == b'-',
        _ => is_hex(*c),
    });
    let after = b.get(i + 36).is_some_and(|c| c.is_ascii_alphanumeric());
    (ok && !after).then_some(36)
}

/// Length of an RFC 3339 time at `i` (`2026-12-07T10:00:00.123456Z`, or with an offset).
fn time_at(b: &[u8], i: usize) -> Option<usize> {
    if i > 0 && b[i - 1].is_ascii_digit() {
        return None;
    }
    let head = b.get(i..i + 19)?;
    let shape = b"dddd-dd-ddTdd:dd:dd";
    let ok = head.iter().zip(shape).all(|(c, s)| match s {
        b'd' => c.is_ascii_digit(),
        s => c == s,
    });
    if !ok {
        return None;
    }
    let mut n = 19;
    if b.get(i + n) == Some(&b'.') {
        n += 1;
        while b.get(i + n).is_some_and(u8::is_ascii_digit) {
            n += 1;
        }
    }
    match b.get(i + n) {
        Some(b'Z') => Some(n + 1),
        Some(b'+' | b'-') => {
            let off = b.get(i + n + 1..i + n + 6)?;
            let ok = off.iter().zip(b"dd:dd").all(|(c, s)| match s {
                b'd' => c.is_ascii_digit(),
                s => c == s,
            });
            ok.then_some(n + 6)
        }
        _ => None,
    }
}

/// Length of a run of 13 to 20 digits at `i` that reads as ms since the epoch (zero-padded
/// in a key, or not).
fn ms_at(b: &[u8], i: usize) -> Option<usize> {
    if i > 0 && b[i - 1].is_ascii_digit() {
        return None;
    }
    let n = b[i..].iter().take_while(|c| c.is_ascii_digit()).count();
    let value = std::str::from_utf8(&b[i..i + n])
        .ok()?
        .parse::<u64>()
        .ok()?;
    ((13..=20).contains(&n) && MS_TIMES.contains(&value)).then_some(n)
}

/// An event number field at `i`: `"seq":12` (or escaped inside a string, `\"seq\":12`): the
/// length of what precedes the digits and of the digits.
fn seq_at(b: &[u8], i: usize) -> Option<(usize, usize)> {
    let rest = b.get(i..)?;
    let head = [&b"\"seq\":"[..], &b"\\\"seq\\\":"[..]]
        .into_iter()
        .find(|h| rest.starts_with(h))?
        .len();
    let digits = rest[head..]
        .iter()
        .take_while(|c| c.is_ascii_digit())
        .count();
    (digits > 0).then_some((head, digits))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_new_ids_times_and_numbers_and_keeps_known_ids() {
        let order = Uuid::from_u128(7);
        let known = HashSet::from([order]);
        let text = format!(
            r#"{{"id":"{}","order_id":"{order}","seq":12,"at":"2026-12-07T10:00:00.123456Z","p":"{{\"seq\":3,\"t\":\"2026-12-07T10:00:00+01:00\"}}","n":2026,"k":"timer/0001796665847051/x","c":12345678901234567}}"#,
            Uuid::from_u128(99)
        );
        assert_eq!(
            normalize(&text, &known),
            format!(
                r#"{{"id":"<id>","order_id":"{order}","seq":<n>,"at":"<time>","p":"{{\"seq\":<n>,\"t\":\"<time>\"}}","n":2026,"k":"timer/<time>/x","c":12345678901234567}}"#
            )
        );
    }

    #[test]
    fn leaves_what_only_looks_alike() {
        let known = HashSet::new();
        for text in [
            "2026-12-07",
            "12026-12-07T10:00:00Z0",
            "x00000000-0000-0000-0000-000000000000",
            "\"seq\":",
            "é ü 2026-12-07T10:00:00",
        ] {
            assert_eq!(normalize(text, &known), text);
        }
    }
}
