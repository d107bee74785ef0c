//! The triage configuration (`[triage]` in the daemon's config): in-scope components,
//! out-of-scope classes and critical signals, their validation, and the published disclosure
//! policy as the default. The policy ships as `default-policy.toml`, included in the binary
//! at build time and parsed by [`TriageConfig::default`].
//! No I/O (the file is compiled in); must not compile matchers (see [`super::Triage`]).

use super::text;
use std::collections::BTreeSet;

/// The published disclosure policy, the default `[triage]` section (TOML).
pub const DEFAULT_POLICY: &str = include_str!("default-policy.toml");

/// Triage configuration (`[triage]` in the daemon's config). [`Default`] is the published
/// disclosure policy, [`DEFAULT_POLICY`]. Compile it with [`super::Triage::new`] to classify
/// reports.
#[derive(Debug, Clone, serde::Deserialize, serde::Serialize)]
pub struct TriageConfig {
    /// in-scope components, in priority order (ties go to the earlier one)
    pub components: Vec<ComponentRule>,
    /// out-of-scope classes
    pub out_of_scope: Vec<OutOfScopeRule>,
    /// words/phrases that mark a report critical (in addition to CVSS >= 9.0)
    #[serde(default)]
    pub critical_signals: Vec<String>,
    /// the ack states an out-of-scope reading, a missing section, the component or
    /// "critical" only at or above this confidence (0.0..=1.0); below it the ack stays
    /// neutral on that point and the team sees the uncertain label in `reports show`
    #[serde(default = "default_ack_confidence")]
    pub ack_confidence: f64,
}

/// Default of [`TriageConfig::ack_confidence`].
pub const DEFAULT_ACK_CONFIDENCE: f64 = 0.7;

fn default_ack_confidence() -> f64 {
    DEFAULT_ACK_CONFIDENCE
}

/// An in-scope component. Aliases match as whole words, case-insensitively, punctuation
/// ignored (`end-to-origin` = "end to origin"), a trailing `*` matches word continuations.
/// Hosts are exact (`registry.hexon.io`) or wildcard (`*.hexon.io`, subdomains only).
#[derive(Debug, Clone, serde::Deserialize, serde::Serialize)]
pub struct ComponentRule {
    /// name reported in [`Classification::component`](super::Classification::component)
    pub name: String,
    /// words and phrases naming the component
    #[serde(default)]
    pub aliases: Vec<String>,
    /// host patterns: "hexon.io", "*.hexon.io", "registry.hexon.io"
    #[serde(default)]
    pub hosts: Vec<String>,
}

/// An out-of-scope class. Keywords follow the alias rules; a keyword that looks like a host
/// pattern (`zendesk.com`, `*.zendesk.com`) is matched against the hosts in the report instead.
#[derive(Debug, Clone, serde::Deserialize, serde::Serialize)]
pub struct OutOfScopeRule {
    /// class name, e.g. "denial-of-service"
    pub class: String,
    /// keywords, phrases and host patterns
    pub keywords: Vec<String>,
    /// cues that decide the class on their own (a reporter describing what they did, such
    /// as "pretending to be"): each asserted sentence with one scores like a subject hit of
    /// a keyword. `a | b + c | d` matches a sentence holding one of `a`, `b` *and* one of
    /// `c`, `d` ("phoned | called + support | helpdesk").
    #[serde(default)]
    pub strong: Vec<String>,
    /// a report about a host none of the components owns (named more often than every
    /// host of ours, and no component named by word) falls in this class, with a
    /// confidence too low for the ack to say so (the team sees it)
    #[serde(default)]
    pub foreign_hosts: bool,
    /// the target of such a report is not ours (a third party, a person, an office): no
    /// component is affected
    #[serde(default)]
    pub not_ours: bool,
    /// the class means *unvalidated* findings: a report the reporter confirmed by hand is
    /// not in it (scanner output)
    #[serde(default)]
    pub unless_validated: bool,
}

impl Default for TriageConfig {
    /// The published policy, parsed from [`DEFAULT_POLICY`]. The admin CLI's binary is
    /// assumed to be called `hexonctl` (an operator whose CLI is named differently changes
    /// that alias).
    fn default() -> Self {
        // Invariant: DEFAULT_POLICY is a constant compiled into the binary, and
        // `tests::shipped_policy_parses_and_validates` parses and validates exactly this
        // text, so the parse cannot fail at run time.
        toml::from_str(DEFAULT_POLICY).expect("the shipped default-policy.toml parses")
    }
}

impl TriageConfig {
    /// Checks the configuration; the error names the offending entry, e.g.
    /// `triage.components[2].name is empty`.
    pub fn validate(&self) -> Result<(), String> {
        if self.components.is_empty() {
            return Err(
                "triage.components is empty: at least one in-scope component is needed".into(),
            );
        }
        let mut names = BTreeSet::new();
        for (i, c) in self.components.iter().enumerate() {
            let at = format!("triage.components[{i}]");
            if c.name.trim().is_empty() {
                return Err(format!("{at}.name is empty"));
            }
            if !names.insert(c.name.trim().to_lowercase()) {
                return Err(format!("{at}.name {:?} is a duplicate", c.name));
            }
            if c.aliases.is_empty() && c.hosts.is_empty() {
                return Err(format!(
                    "{at} ({:?}) has neither aliases nor hosts, so it can never match",
                    c.name
                ));
            }
            for (j, a) in c.aliases.iter().enumerate() {
                if text::Phrase::new(a).is_none() {
                    return Err(format!(
                        "{at}.aliases[{j}] {a:?} is empty or has no letters or digits"
                    ));
                }
            }
            for (j, h) in c.hosts.iter().enumerate() {
                if !text::is_host_pattern(h) {
                    return Err(format!(
                        "{at}.hosts[{j}] {h:?} is not a host pattern (expected e.g. \"hexon.io\" or \"*.hexon.io\")"
                    ));
                }
            }
        }
        let mut classes = BTreeSet::new();
        for (i, r) in self.out_of_scope.iter().enumerate() {
            let at = format!("triage.out_of_scope[{i}]");
            if r.class.trim().is_empty() {
                return Err(format!("{at}.class is empty"));
            }
            if !classes.insert(r.class.trim().to_lowercase()) {
                return Err(format!("{at}.class {:?} is a duplicate", r.class));
            }
            if r.keywords.is_empty() {
                return Err(format!("{at}.keywords is empty"));
            }
            for (j, k) in r.keywords.iter().enumerate() {
                if !text::is_host_pattern(k) && text::Phrase::new(k).is_none() {
                    return Err(format!(
                        "{at}.keywords[{j}] {k:?} is empty or has no letters or digits"
                    ));
                }
            }
            for (j, k) in r.strong.iter().enumerate() {
                if super::scope::StrongCue::new(k).is_none() {
                    return Err(format!(
                        "{at}.strong[{j}] {k:?}: every alternative of `a | b + c` needs letters or digits"
                    ));
                }
            }
        }
        if !(0.0..=1.0).contains(&self.ack_confidence) {
            return Err(format!(
                "triage.ack_confidence {} is not between 0.0 and 1.0",
                self.ack_confidence
            ));
        }
        for (i, s) in self.critical_signals.iter().enumerate() {
            if text::Phrase::new(s).is_none() {
                return Err(format!(
                    "triage.critical_signals[{i}] {s:?} is empty or has no letters or digits"
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shipped_policy_parses_and_validates() {
        let cfg: TriageConfig = toml::from_str(DEFAULT_POLICY).unwrap();
        assert_eq!(cfg.validate(), Ok(()));
        let names: Vec<&str> = cfg.components.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "Hexon Gateway",
                "registry.hexon.io",
                "MCP server",
                "admin CLI",
                "hexon.io"
            ]
        );
        let aliases: Vec<usize> = cfg.components.iter().map(|c| c.aliases.len()).collect();
        assert_eq!(aliases, [24, 22, 10, 13, 19]);
        let hosts: Vec<usize> = cfg.components.iter().map(|c| c.hosts.len()).collect();
        assert_eq!(hosts, [0, 1, 0, 0, 2]);
        let classes: Vec<&str> = cfg.out_of_scope.iter().map(|r| r.class.as_str()).collect();
        assert_eq!(
            classes,
            [
                "denial-of-service",
                "social-engineering",
                "physical",
                "scanner-output",
                "third-party"
            ]
        );
        let keywords: Vec<usize> = cfg.out_of_scope.iter().map(|r| r.keywords.len()).collect();
        assert_eq!(keywords, [58, 36, 36, 50, 53]);
        let strong: Vec<usize> = cfg.out_of_scope.iter().map(|r| r.strong.len()).collect();
        assert_eq!(strong, [4, 8, 3, 4, 10]);
        let foreign: Vec<bool> = cfg.out_of_scope.iter().map(|r| r.foreign_hosts).collect();
        assert_eq!(foreign, [false, false, false, false, true]);
        assert_eq!(cfg.critical_signals.len(), 12);
    }

    #[test]
    fn default_is_the_shipped_policy() {
        let shipped: TriageConfig = toml::from_str(DEFAULT_POLICY).unwrap();
        assert_eq!(
            serde_json::to_value(TriageConfig::default()).unwrap(),
            serde_json::to_value(shipped).unwrap()
        );
    }
}
