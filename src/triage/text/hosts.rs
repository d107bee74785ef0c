//! Host patterns of the configuration (`hexon.io`, `*.hexon.io`): recognising them,
//! matching hosts against them with a specificity, and the top-level domains accepted for
//! bare domain names.
//! Pure; no I/O; must not panic on any input.

/// A host pattern (`hexon.io`, `*.hexon.io`) prepared for [`host_match`]-identical matching.
#[derive(Debug, Clone)]
pub enum HostPattern {
    /// `*.suffix`: `dotted` is `.suffix`, `spec` its specificity
    Wildcard {
        /// `.suffix`
        dotted: String,
        /// specificity returned on a match
        spec: usize,
    },
    /// an exact host
    Exact {
        /// the lowercase host
        host: String,
        /// specificity returned on a match
        spec: usize,
    },
}

impl HostPattern {
    /// Prepares `pattern` (trimmed and lowercased like [`host_match`] does).
    pub fn new(pattern: &str) -> Self {
        let pattern = pattern.trim().to_ascii_lowercase();
        if let Some(suffix) = pattern.strip_prefix("*.") {
            Self::Wildcard {
                dotted: format!(".{suffix}"),
                spec: suffix.len(),
            }
        } else {
            Self::Exact {
                spec: 10_000 + pattern.len(),
                host: pattern,
            }
        }
    }

    /// Same as `host_match(host, pattern)`.
    pub fn matches(&self, host: &str) -> Option<usize> {
        match self {
            Self::Wildcard { dotted, spec } => {
                (host.len() > dotted.len() && host.ends_with(dotted.as_str())).then_some(*spec)
            }
            Self::Exact { host: h, spec } => (host == h).then_some(*spec),
        }
    }
}

/// True for a configured keyword that denotes a host pattern (`zendesk.com`, `*.zendesk.com`)
/// rather than words.
pub fn is_host_pattern(k: &str) -> bool {
    let k = k.trim();
    let body = k.strip_prefix("*.").unwrap_or(k);
    body.contains('.')
        && !body.starts_with('.')
        && !body.ends_with('.')
        && !body.contains("..")
        && body
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-')
}

/// Matches a lowercase host against an exact or `*.suffix` pattern. Returns the pattern's
/// specificity (higher is more specific: exact beats any wildcard, longer suffix beats shorter),
/// or `None` when it does not match. `*.hexon.io` matches `a.hexon.io` but not `hexon.io`.
pub fn host_match(host: &str, pattern: &str) -> Option<usize> {
    let pattern = pattern.trim().to_ascii_lowercase();
    if let Some(suffix) = pattern.strip_prefix("*.") {
        let dotted = format!(".{suffix}");
        if host.len() > dotted.len() && host.ends_with(&dotted) {
            return Some(suffix.len());
        }
        None
    } else if host == pattern {
        Some(10_000 + pattern.len())
    } else {
        None
    }
}

/// Top-level domains accepted for bare (scheme-less) domain names. File extensions that are also
/// TLDs (`.sh`, `.md`, `.rs`, `.pl`, `.py`...) are deliberately absent: `poc.sh` is not a host.
pub(super) const TLDS: &[&str] = &[
    "com", "net", "org", "io", "dev", "app", "co", "de", "fr", "es", "jp", "uk", "eu", "cloud",
    "ai", "info", "biz", "me", "us", "ca", "br", "pt", "nl", "ch", "at", "it", "ru", "cn", "in",
    "xyz", "site", "online", "tech", "page", "link", "example", "test", "local", "internal", "lan",
    "corp", "gov", "edu", "se", "no", "dk", "fi", "be", "au", "nz", "kr", "tw", "hk", "sg", "mx",
    "ar", "cl", "ly", "gg", "tv", "cc", "ie", "cz", "sk", "hu", "ro", "gr", "tr", "il", "za", "ua",
    "arpa", "name", "pro", "mobi", "systems", "security", "tools", "services",
];

/// `TLDS.contains(&s.to_ascii_lowercase().as_str())` without allocating (the TLDs are
/// lowercase ASCII).
pub(super) fn is_tld(s: &str) -> bool {
    TLDS.iter().any(|t| t.eq_ignore_ascii_case(s))
}
