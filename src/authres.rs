//! `Authentication-Results` (RFC 8601) as a signal about the From domain.
//!
//! Only headers whose authserv-id is the one the operator configured count
//! (`imap.authserv_id`): any other one may have been written by the sender.
//! The verdict is [`SenderAuth::Pass`] when DMARC passed for the From domain
//! or a DKIM signature of that domain (or a parent of it) passed,
//! [`SenderAuth::Fail`] when DMARC or such a DKIM check failed, and
//! [`SenderAuth::Unknown`] otherwise. A signal, never proof of a person.
//!
//! Pure; tolerant of any input (comments, quoting, odd spacing).

pub use crate::model::SenderAuth;

/// The verdict of the trusted `Authentication-Results` values in `headers`
/// (raw header values, topmost first) for mail From `from_address`.
pub fn verdict(headers: &[String], authserv_id: Option<&str>, from_address: &str) -> SenderAuth {
    let Some(trusted) = authserv_id.map(str::trim).filter(|s| !s.is_empty()) else {
        return SenderAuth::Unknown;
    };
    let Some((_, domain)) = from_address.rsplit_once('@') else {
        return SenderAuth::Unknown;
    };
    let domain = domain.to_ascii_lowercase();
    let mut verdict = SenderAuth::Unknown;
    for value in headers {
        let cleaned = strip_comments(value);
        let mut items = cleaned.split(';');
        let id = items
            .next()
            .unwrap_or("")
            .split_whitespace()
            .next()
            .unwrap_or("");
        if !id.eq_ignore_ascii_case(trusted) {
            continue;
        }
        for item in items {
            match judge(item, &domain) {
                SenderAuth::Fail => return SenderAuth::Fail,
                SenderAuth::Pass => verdict = SenderAuth::Pass,
                SenderAuth::Unknown => {}
            }
        }
    }
    verdict
}

/// One `method=result prop=value…` item, for the From domain.
fn judge(item: &str, domain: &str) -> SenderAuth {
    let mut words = item.split_whitespace();
    let Some((method, result)) = words.next().and_then(|w| w.split_once('=')) else {
        return SenderAuth::Unknown;
    };
    let method = method.to_ascii_lowercase();
    let result = result.trim_matches('"').to_ascii_lowercase();
    let property = |name: &str| {
        item.split_whitespace()
            .filter_map(|w| w.split_once('='))
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.trim_matches('"').to_ascii_lowercase())
    };
    let aligned = match method.as_str() {
        "dmarc" => property("header.from").is_some_and(|d| d == domain),
        "dkim" => {
            property("header.d").is_some_and(|d| d == domain || domain.ends_with(&format!(".{d}")))
        }
        _ => false,
    };
    if !aligned {
        return SenderAuth::Unknown;
    }
    match result.as_str() {
        "pass" => SenderAuth::Pass,
        "fail" | "permerror" => SenderAuth::Fail,
        _ => SenderAuth::Unknown,
    }
}

/// The value without RFC 5322 comments `( … )` (nested, with escapes).
fn strip_comments(value: &str) -> String {
    let (mut out, mut depth, mut escaped) = (String::with_capacity(value.len()), 0usize, false);
    for c in value.chars() {
        if escaped {
            escaped = false;
            continue;
        }
        match c {
            '\\' if depth > 0 => escaped = true,
            '(' => depth += 1,
            ')' if depth > 0 => depth -= 1,
            _ if depth == 0 => out.push(c),
            _ => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(h: &str, id: Option<&str>, from: &str) -> SenderAuth {
        verdict(&[h.to_string()], id, from)
    }

    #[test]
    fn only_the_configured_authserv_id_counts() {
        let h = "mx.hexon.io; dkim=pass header.d=example.org; dmarc=pass header.from=example.org";
        assert_eq!(v(h, Some("mx.hexon.io"), "a@example.org"), SenderAuth::Pass);
        assert_eq!(
            v(h, Some("other.host"), "a@example.org"),
            SenderAuth::Unknown
        );
        assert_eq!(v(h, None, "a@example.org"), SenderAuth::Unknown);
    }

    #[test]
    fn failures_and_alignment() {
        let id = Some("mx.hexon.io");
        assert_eq!(
            v(
                "mx.hexon.io 1; dmarc=fail (p=reject) header.from=example.org",
                id,
                "a@example.org"
            ),
            SenderAuth::Fail
        );
        // A DKIM pass for some other domain says nothing about the From domain.
        assert_eq!(
            v(
                "mx.hexon.io; dkim=pass header.d=evil.test",
                id,
                "a@example.org"
            ),
            SenderAuth::Unknown
        );
        assert_eq!(
            v(
                "mx.hexon.io; dkim=pass header.d=example.org",
                id,
                "a@mail.example.org"
            ),
            SenderAuth::Pass
        );
        assert_eq!(
            v("mx.hexon.io; none", id, "a@example.org"),
            SenderAuth::Unknown
        );
        assert_eq!(
            v("(x) mx.hexon.io (y); spf=pass", id, "a@example.org"),
            SenderAuth::Unknown
        );
        assert_eq!(v(";;;==((", id, "a@example.org"), SenderAuth::Unknown);
    }
}
