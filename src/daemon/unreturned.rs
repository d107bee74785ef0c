//! UIDs the server listed (UID SEARCH) but did not return in the UID FETCH
//! that followed: recorded per mailbox in the store's `daemon_state`
//! (`imap.unreturned.<mailbox>` = `UIDVALIDITY:uid,uid,…`) and fetched
//! again at the start of the next pass, so they are never skipped silently.
//!
//! Pure: the set arithmetic and the encoding; `intake` does the I/O. A UID
//! leaves the set when it is returned (and then committed) or when the
//! server no longer lists it (expunged).

use crate::source::imap::Fetched;

/// At most this many UIDs are kept; beyond it the oldest are dropped, with
/// a warning naming how many.
pub(super) const MAX_KEPT: usize = 10_000;

/// The `daemon_state` key for `mailbox`.
pub(super) fn key(mailbox: &str) -> String {
    format!("imap.unreturned.{mailbox}")
}

/// `UIDVALIDITY:uid,uid,…` (empty for no UIDs).
pub(super) fn encode(uidvalidity: u32, uids: &[u32]) -> String {
    if uids.is_empty() {
        return String::new();
    }
    let list: Vec<String> = uids.iter().map(u32::to_string).collect();
    format!("{uidvalidity}:{}", list.join(","))
}

/// The UIDs recorded for `uidvalidity` (none after a UIDVALIDITY change:
/// the whole mailbox is read again then; none for an unreadable value).
pub(super) fn decode(value: &str, uidvalidity: u32) -> Vec<u32> {
    let Some((validity, list)) = value.split_once(':') else {
        return Vec::new();
    };
    if validity.parse::<u32>().ok() != Some(uidvalidity) {
        return Vec::new();
    }
    list.split(',').filter_map(|u| u.parse().ok()).collect()
}

/// Those of `listed` that are not in `fetched`, ascending.
pub(super) fn missing(listed: &[u32], fetched: &[Fetched]) -> Vec<u32> {
    let mut out: Vec<u32> = listed
        .iter()
        .copied()
        .filter(|uid| !fetched.iter().any(|f| f.uid == *uid))
        .collect();
    out.sort_unstable();
    out.dedup();
    out
}

/// The union of `old` and `new`, ascending, at most [`MAX_KEPT`] (the newest).
pub(super) fn merge(old: &[u32], new: &[u32]) -> Vec<u32> {
    let mut out: Vec<u32> = old.iter().chain(new).copied().collect();
    out.sort_unstable();
    out.dedup();
    if out.len() > MAX_KEPT {
        out.drain(..out.len() - MAX_KEPT);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fetched(uid: u32) -> Fetched {
        Fetched {
            uid,
            raw: b"Subject: x\r\n\r\n".to_vec(),
            oversize: None,
        }
    }

    #[test]
    fn listed_but_not_returned_uids_are_found() {
        let got = [fetched(3), fetched(5)];
        assert_eq!(missing(&[5, 4, 3, 7], &got), vec![4, 7]);
        assert!(missing(&[3, 5], &got).is_empty());
    }

    #[test]
    fn the_record_round_trips_and_ignores_another_uidvalidity() {
        let value = encode(77, &[4, 7, 9]);
        assert_eq!(value, "77:4,7,9");
        assert_eq!(decode(&value, 77), vec![4, 7, 9]);
        assert!(decode(&value, 78).is_empty());
        assert!(decode("", 77).is_empty());
        assert!(decode("garbage", 77).is_empty());
        assert_eq!(encode(77, &[]), "");
    }

    #[test]
    fn merge_is_a_sorted_capped_union() {
        assert_eq!(merge(&[9, 4], &[4, 1]), vec![1, 4, 9]);
        let many: Vec<u32> = (1..=(MAX_KEPT as u32 + 5)).collect();
        let merged = merge(&many, &[]);
        assert_eq!(merged.len(), MAX_KEPT);
        assert_eq!(merged[0], 6, "the oldest beyond the cap go");
    }
}
