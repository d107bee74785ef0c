//! Policy-aware triage of vulnerability reports: component and scope, completeness against the
//! disclosure policy, CVSS parsing and severity hints, duplicate fingerprints, credit answers.
//! Pure code: no I/O, no clock, no global state beyond compiled patterns (static ones, and
//! each configuration compiled once per thread into single-pass matchers, see
//! `scope::compiled`); never panics on mail.
//!
//! Performance: every configured alias, keyword and signal is found in one pass over the
//! normalized text (a byte trie at word starts), the text is normalized once, and no regex
//! falls back to its slow NFA simulation on non-ASCII text. Equivalence with the
//! straightforward definitions is checked by differential tests in the submodules.

mod completeness;
mod credit;
mod duplicate;
mod scope;
mod severity;
pub mod text;

pub use completeness::is_poc_attachment;
/// Deterministic pseudo-random numbers (xorshift64) for the randomised
/// equivalence tests of the triage matchers.
#[cfg(test)]
pub(crate) fn xorshift(mut state: u64) -> impl FnMut() -> u64 {
    move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    }
}

/// Up to `max - 1` words drawn from `vocab` with `next` (a count, then one
/// draw per word), for the randomised equivalence tests.
#[cfg(test)]
pub(crate) fn random_words<'v>(
    next: &mut impl FnMut() -> u64,
    vocab: &[&'v str],
    max: u64,
) -> Vec<&'v str> {
    let n = (next() % max) as usize;
    (0..n)
        .map(|_| vocab[(next() % vocab.len() as u64) as usize])
        .collect()
}

pub use duplicate::{fingerprint, similarity, Comparable, NEAR_DUPLICATE_THRESHOLD, SKETCH_SIZE};
pub use severity::{band as severity_band, SIGNALS};

use std::collections::BTreeSet;

/// Triage configuration (`[triage]` in the daemon's config). [`Default`] encodes the published
/// disclosure policy. (A field added here must also be compared in `scope::same_config`,
/// which keys the per-thread cache of compiled configurations.)
#[derive(Debug, Clone, serde::Deserialize, serde::Serialize)]
pub struct TriageConfig {
    /// in-scope components, in priority order (ties go to the earlier one)
    pub components: Vec<ComponentRule>,
    /// out-of-scope classes
    pub out_of_scope: Vec<OutOfScopeRule>,
    /// words/phrases that mark a report critical (in addition to CVSS >= 9.0)
    #[serde(default)]
    pub critical_signals: Vec<String>,
}

/// An in-scope component. Aliases match as whole words, case-insensitively, punctuation
/// ignored (`end-to-origin` = "end to origin"), a trailing `*` matches word continuations.
/// Hosts are exact (`registry.hexon.io`) or wildcard (`*.hexon.io`, subdomains only).
#[derive(Debug, Clone, serde::Deserialize, serde::Serialize)]
pub struct ComponentRule {
    /// name reported in [`Classification::component`]
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
}

fn strings(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| (*s).to_string()).collect()
}

impl Default for TriageConfig {
    /// The published policy. The admin CLI's binary is assumed to be called `hexonctl`
    /// (an operator whose CLI is named differently changes that alias).
    fn default() -> Self {
        let components = vec![
            ComponentRule {
                name: "Hexon Gateway".into(),
                aliases: strings(&[
                    "Hexon Gateway",
                    "gateway",
                    "gateways",
                    "E2O",
                    "end-to-origin",
                    "end-to-origin encryption",
                    "threshold signing",
                    "threshold signature*",
                    "TSS",
                    "WebAuthn",
                    "WebAuthn channel binding",
                    "channel binding",
                    "X3DH",
                    "ML-KEM",
                    "mlkem*",
                    "Kyber",
                    "reverse proxy",
                    "management API",
                    "admin UI",
                    "passerelle",
                    "pasarela",
                    "puerta de enlace",
                    "ゲートウェイ",
                    "appliance",
                ]),
                hosts: vec![],
            },
            ComponentRule {
                name: "registry.hexon.io".into(),
                aliases: strings(&[
                    "registry",
                    "container registry",
                    "image registry",
                    "OCI registry",
                    "docker registry",
                    "helm registry",
                    "helm chart registry",
                    "chart registry",
                    "helm",
                    "helm chart*",
                    "helm repo*",
                    "docker pull",
                    "docker push",
                    "container image*",
                    "docker image*",
                    "crane",
                    "registro de contêineres",
                    "registro de contenedores",
                    "registre de conteneurs",
                    "Container-Registry",
                    "コンテナレジストリ",
                    "レジストリ",
                ]),
                hosts: strings(&["registry.hexon.io"]),
            },
            ComponentRule {
                name: "MCP server".into(),
                aliases: strings(&[
                    "MCP",
                    "MCP server",
                    "MCP-Server",
                    "hexon-mcp",
                    "model context protocol",
                    "MCP tool*",
                    "MCP endpoint",
                    "serveur MCP",
                    "servidor MCP",
                    "MCPサーバー",
                ]),
                hosts: vec![],
            },
            ComponentRule {
                name: "admin CLI".into(),
                aliases: strings(&[
                    "admin CLI",
                    "hexonctl",
                    "CLI",
                    "command line interface",
                    "command-line interface",
                    "command-line tool",
                    "command line tool",
                    "admin command line",
                    "Kommandozeile",
                    "ligne de commande",
                    "línea de comandos",
                    "linha de comando",
                    "コマンドライン",
                ]),
                hosts: vec![],
            },
            ComponentRule {
                name: "hexon.io".into(),
                aliases: strings(&[
                    "website",
                    "web site",
                    "homepage",
                    "home page",
                    "marketing site",
                    "documentation site",
                    "documentation website",
                    "docs site",
                    "customer portal",
                    "careers page",
                    "Webseite",
                    "Kundenportal",
                    "site web",
                    "portail client",
                    "sitio web",
                    "portal de clientes",
                    "portal do cliente",
                    "ウェブサイト",
                    "ホームページ",
                ]),
                hosts: strings(&["hexon.io", "*.hexon.io"]),
            },
        ];
        let out_of_scope = vec![
            OutOfScopeRule {
                class: "denial-of-service".into(),
                keywords: strings(&[
                    "denial of service",
                    "denial-of-service",
                    "DDoS",
                    "DoS attack",
                    "DoS attacks",
                    "slowloris",
                    "HTTP flood",
                    "SYN flood",
                    "UDP flood",
                    "flooding",
                    "botnet",
                    "resource exhaustion",
                    "CPU exhaustion",
                    "memory exhaustion",
                    "exhaust the",
                    "load test*",
                    "stress test*",
                    "ReDoS",
                    "catastrophic backtracking",
                    "unresponsive",
                    "taken offline",
                    "take down",
                    "taken down",
                    "rate limit*",
                    "out of memory",
                    "Dienstverweigerung",
                    "Überlastung",
                    "überlast*",
                    "lahmleg*",
                    "Lasttest*",
                    "déni de service",
                    "surcharge",
                    "test de charge",
                    "denegación de servicio",
                    "prueba de carga",
                    "sobrecarga",
                    "negação de serviço",
                    "teste de carga",
                    "サービス拒否",
                    "サービス妨害",
                    "負荷テスト",
                    "過負荷",
                ]),
            },
            OutOfScopeRule {
                class: "social-engineering".into(),
                keywords: strings(&[
                    "social engineering",
                    "social-engineering",
                    "phishing",
                    "phishing email",
                    "phishing campaign",
                    "spear phishing",
                    "pretext*",
                    "vishing",
                    "smishing",
                    "called support",
                    "phone call",
                    "support agent",
                    "support staff",
                    "help desk",
                    "helpdesk",
                    "employees",
                    "security awareness",
                    "ingénierie sociale",
                    "ingeniería social",
                    "engenharia social",
                    "Social Engineering",
                    "ソーシャルエンジニアリング",
                    "フィッシング",
                ]),
            },
            OutOfScopeRule {
                class: "physical".into(),
                keywords: strings(&[
                    "physical security",
                    "physical access",
                    "physically",
                    "tailgat*",
                    "badge",
                    "server room",
                    "data center",
                    "datacenter",
                    "lock pick*",
                    "USB drop",
                    "dumpster",
                    "office",
                    "console port",
                    "serial console",
                    "physischer Zugang",
                    "physischen Zugriff",
                    "accès physique",
                    "acceso físico",
                    "acesso físico",
                    "centro de datos",
                    "puerto de consola",
                    "consola serie",
                    "物理的",
                ]),
            },
            OutOfScopeRule {
                class: "scanner-output".into(),
                keywords: strings(&[
                    "SPF",
                    "DMARC",
                    "DKIM",
                    "email spoofing",
                    "mxtoolbox",
                    "X-Frame-Options",
                    "missing security headers",
                    "security headers",
                    "missing headers",
                    "X-Content-Type-Options",
                    "Permissions-Policy",
                    "Strict-Transport-Security",
                    "HSTS",
                    "clickjacking",
                    "version disclosure",
                    "server version",
                    "server banner",
                    "version banner",
                    "Nessus",
                    "Nikto",
                    "Qualys",
                    "Acunetix",
                    "OpenVAS",
                    "SSL Labs",
                    "SSLLabs",
                    "testssl",
                    "cipher suite*",
                    "weak cipher*",
                    "TLS 1.0",
                    "TLS 1.1",
                    "TLS version 1.0",
                    "SWEET32",
                    "RC4",
                    "3DES",
                    "deprecated protocol",
                    "automated scan*",
                    "scanner",
                    "scan report",
                ]),
            },
            OutOfScopeRule {
                class: "third-party".into(),
                keywords: strings(&[
                    "third-party service",
                    "third party service",
                    "third-party provider",
                    "third party provider",
                    "provider's platform",
                    "platform bug",
                    "platform behaviour",
                    "platform behavior",
                    "hosted by",
                    "not under your control",
                    "Zendesk",
                    "Statuspage",
                    "Atlassian Statuspage",
                    "status page provider",
                    "Google Workspace",
                    "G Suite",
                    "Google Calendar",
                    "HubSpot",
                    "Intercom",
                    "Salesforce",
                    "Freshdesk",
                    "AWS itself",
                    "GitHub itself",
                    "Cloudflare itself",
                    "Drittanbieter",
                    "service tiers",
                    "servicio de terceros",
                    "terceiros",
                    "zendesk.com",
                    "*.zendesk.com",
                    "statuspage.io",
                    "*.statuspage.io",
                    "*.atlassian.net",
                    "*.hubspot.com",
                    "*.intercom.io",
                    "*.freshdesk.com",
                    "calendar.google.com",
                ]),
            },
        ];
        let critical_signals = strings(&[
            "key extraction",
            "signing key",
            "supply chain",
            "supply-chain",
            "actively exploited",
            "exploited in the wild",
            "in the wild",
            "wormable",
            "mass exploitation",
            "pre-auth RCE",
            "unauthenticated remote code execution",
        ]);
        Self {
            components,
            out_of_scope,
            critical_signals,
        }
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

/// The parts of a report the classifier reads.
pub struct ReportText<'a> {
    /// mail subject
    pub subject: &'a str,
    /// plain-text body (decrypted, decoded)
    pub body: &'a str,
    /// attachment file names
    pub attachment_names: &'a [String],
}

/// Result of [`classify`].
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Classification {
    /// best-matching component; `None` = unknown
    pub component: Option<String>,
    /// matched words/hosts, e.g. `host:registry.hexon.io`, `word:helm`
    pub component_evidence: Vec<String>,
    /// out-of-scope class of the main finding, if any
    pub out_of_scope: Option<String>,
    /// matched keywords/hosts of that class
    pub out_of_scope_evidence: Vec<String>,
    /// what the report still lacks, in policy order
    pub missing: Vec<Section>,
    /// first valid CVSS vector in the subject or body
    pub cvss: Option<Cvss>,
    /// vulnerability classes recognised, most severe first
    pub signals: Vec<String>,
    /// severity hint: CVSS band if a vector is present, else from signals
    pub severity: Severity,
    /// severity is Critical or a configured critical signal is present
    pub critical: bool,
    /// normalized hosts, endpoint paths, CVE ids (sorted, deduplicated, at most 64)
    pub indicators: Vec<String>,
}

/// A section the disclosure policy asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Section {
    /// description of the vulnerability and affected component
    Description,
    /// steps to reproduce
    StepsToReproduce,
    /// impact assessment
    Impact,
    /// proof of concept (if available)
    ProofOfConcept,
}

impl Section {
    /// Human label for templates: "steps to reproduce" etc.
    pub fn label(&self) -> &'static str {
        match self {
            Section::Description => "description",
            Section::StepsToReproduce => "steps to reproduce",
            Section::Impact => "impact assessment",
            Section::ProofOfConcept => "proof of concept",
        }
    }
}

/// Severity hint, ordered from `Unknown` to `Critical`.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// nothing to go on
    Unknown,
    /// CVSS 0.0
    None,
    /// CVSS 0.1-3.9
    Low,
    /// CVSS 4.0-6.9
    Medium,
    /// CVSS 7.0-8.9
    High,
    /// CVSS 9.0-10.0
    Critical,
}

impl Severity {
    /// Lowercase name, as serialized.
    pub fn as_str(&self) -> &'static str {
        match self {
            Severity::Unknown => "unknown",
            Severity::None => "none",
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }

    /// Parses a name case-insensitively (also "moderate", "informational"/"info").
    pub fn parse(s: &str) -> Option<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "unknown" => Some(Severity::Unknown),
            "none" | "info" | "informational" => Some(Severity::None),
            "low" => Some(Severity::Low),
            "medium" | "moderate" => Some(Severity::Medium),
            "high" => Some(Severity::High),
            "critical" => Some(Severity::Critical),
            _ => None,
        }
    }
}

/// A parsed and scored CVSS vector.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Cvss {
    /// "3.0" | "3.1" | "4.0"
    pub version: String,
    /// canonical vector string
    pub vector: String,
    /// base score (v3.x) or the v4.0 score (CVSS-B/BT/BE/BTE per the metrics given)
    pub score: f64,
    /// qualitative band of `score`
    pub severity: Severity,
}

/// Storable fingerprint for near-duplicate detection (see [`fingerprint`], [`similarity`]).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Fingerprint {
    /// classification indicators plus `id:`-prefixed technical identifiers, sorted
    pub indicators: Vec<String>,
    /// bottom-k MinHash sketch: the smallest FNV-1a hashes of word 3-grams, sorted
    pub shingles: Vec<u64>,
}

/// How a reporter wants to be credited.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "kind", content = "name", rename_all = "snake_case")]
pub enum Credit {
    /// credit this name
    Name(String),
    /// credit "anonymous"
    Anonymous,
    /// no credit wanted
    Declined,
}

/// Most indicators kept per report.
pub const MAX_INDICATORS: usize = 64;

/// First valid CVSS v3.0/v3.1/v4.0 vector found anywhere in the text, scored. Prefixed vectors
/// (`CVSS:3.1/AV:N/...`, any case) and bare ones (`AV:N/AC:L/...`, v4.0 if it has `AT`/`VC`,
/// else v3.0 when "3.0" appears just before it, else v3.1) are accepted. Invalid or incomplete
/// vectors are skipped; a later valid one is used.
pub fn parse_cvss(text: &str) -> Option<Cvss> {
    severity::parse_cvss(text)
}

/// Parses a reporter's credit answer: `Name`, `Anonymous`, `Declined`, or `None` when the
/// text does not answer the question. Quoted lines and signatures are ignored.
pub fn parse_credit(body: &str) -> Option<Credit> {
    credit::parse_credit(body)
}

/// Classifies a report against the policy in `cfg`. Never panics; only the first 256 KiB of
/// subject and body are analysed.
pub fn classify(report: &ReportText, cfg: &TriageConfig) -> Classification {
    let subject = text::clip(report.subject, text::MAX_ANALYSED_BYTES);
    let raw_body = text::clip(report.body, text::MAX_ANALYSED_BYTES);
    let lines: Vec<&str> = text::unquoted_lines(raw_body).collect();
    let body = lines.join("\n");

    let ex_subject = text::extract(subject);
    let ex_body = text::extract(&body);
    let subject_norm = text::normalize_prose(subject);
    let body_norm = text::normalize_prose(&body);
    // one pass per text finds every phrase of the configuration, the built-in signals and the
    // completeness cues; occurrences in subject + body are those in the concatenated prose
    // (no phrase can span the two, which meet at a double space)
    let compiled = scope::compiled(cfg);
    let in_subject = compiled.phrases.counts(&subject_norm);
    let in_body = compiled.phrases.counts(&body_norm);
    let views = scope::Views {
        subject_counts: scope::Counts { all: &in_subject },
        body_counts: scope::Counts { all: &in_body },
        subject_hosts: &ex_subject.hosts,
        body_hosts: &ex_body.hosts,
    };
    let anywhere = |r: &std::ops::Range<usize>| {
        let (s, b) = (views.subject_counts.of(r), views.body_counts.of(r));
        s.iter().chain(b).any(|&n| n > 0)
    };

    let comp = scope::component(&views, cfg, &compiled);
    let hits = severity::signals_from_counts(
        views.subject_counts.of(&compiled.signals),
        views.body_counts.of(&compiled.signals),
    );
    let oos = scope::out_of_scope(&views, cfg, &compiled, &hits);
    let cvss = parse_cvss(subject).or_else(|| parse_cvss(&body));

    let missing = completeness::missing(&completeness::Inputs {
        lines: &lines,
        text: &body,
        mentions: completeness::Mentions {
            impact_cue: anywhere(&compiled.impact_cues),
            poc: anywhere(&compiled.poc),
        },
        attachments: report.attachment_names,
        has_component: comp.name.is_some(),
        has_class: !hits.is_empty() || oos.class.is_some(),
        has_cvss: cvss.is_some(),
    });

    let mut ranked: Vec<&severity::SignalHit> = hits.iter().collect();
    ranked.sort_by(|a, b| {
        let sa = SIGNALS.get(a.index).map(|s| s.severity);
        let sb = SIGNALS.get(b.index).map(|s| s.severity);
        sb.cmp(&sa).then(a.index.cmp(&b.index))
    });
    let signals: Vec<String> = ranked
        .iter()
        .filter_map(|h| SIGNALS.get(h.index).map(|s| s.name.to_string()))
        .collect();

    let severity = match &cvss {
        Some(c) => c.severity,
        None => severity::severity_from_signals(&hits),
    };
    let critical = severity == Severity::Critical || anywhere(&compiled.critical);

    let mut indicators: BTreeSet<String> = BTreeSet::new();
    for ex in [&ex_subject, &ex_body] {
        indicators.extend(ex.hosts.keys().cloned());
        indicators.extend(ex.paths.iter().cloned());
        indicators.extend(ex.cves.iter().cloned());
    }
    let indicators: Vec<String> = indicators.into_iter().take(MAX_INDICATORS).collect();

    Classification {
        component: comp.name,
        component_evidence: comp.evidence,
        out_of_scope: oos.class,
        out_of_scope_evidence: oos.evidence,
        missing,
        cvss,
        signals,
        severity,
        critical,
        indicators,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(subject: &str, body: &str) -> Classification {
        classify(
            &ReportText {
                subject,
                body,
                attachment_names: &[],
            },
            &TriageConfig::default(),
        )
    }

    #[test]
    fn default_config_is_valid() {
        assert_eq!(TriageConfig::default().validate(), Ok(()));
    }

    #[test]
    fn validate_names_the_bad_entry() {
        let mut cfg = TriageConfig::default();
        cfg.components[2].name = " ".into();
        assert_eq!(
            cfg.validate(),
            Err("triage.components[2].name is empty".into())
        );
        let mut cfg = TriageConfig::default();
        cfg.components[1].hosts.push("*.".into());
        assert!(cfg
            .validate()
            .unwrap_err()
            .starts_with("triage.components[1].hosts[1]"));
        let mut cfg = TriageConfig::default();
        cfg.out_of_scope[0].keywords.push("  ".into());
        assert!(cfg
            .validate()
            .unwrap_err()
            .starts_with("triage.out_of_scope[0].keywords["));
        let mut cfg = TriageConfig::default();
        cfg.critical_signals.push(String::new());
        assert!(cfg
            .validate()
            .unwrap_err()
            .starts_with("triage.critical_signals["));
        let mut cfg = TriageConfig::default();
        cfg.components[3].name = cfg.components[0].name.to_uppercase();
        assert!(cfg.validate().unwrap_err().contains("duplicate"));
    }

    #[test]
    fn config_round_trips_through_json_with_defaults() {
        let cfg: TriageConfig = serde_json::from_str(
            r#"{"components":[{"name":"X","hosts":["x.example"]}],"out_of_scope":[]}"#,
        )
        .unwrap();
        assert!(cfg.critical_signals.is_empty());
        assert!(cfg.components[0].aliases.is_empty());
        assert_eq!(cfg.validate(), Ok(()));
    }

    #[test]
    fn specific_host_beats_wildcard() {
        let c = run(
            "Bug on https://registry.hexon.io/v2/_catalog",
            "It lists everything.",
        );
        assert_eq!(c.component.as_deref(), Some("registry.hexon.io"));
        assert!(c
            .component_evidence
            .contains(&"host:registry.hexon.io".to_string()));
        let c = run("Bug on https://docs.hexon.io/x", "It lists everything.");
        assert_eq!(c.component.as_deref(), Some("hexon.io"));
    }

    #[test]
    fn nothing_matching_gives_unknown_component() {
        let c = run(
            "hello",
            "I found a critical vulnerability, reply for details.",
        );
        assert_eq!(c.component, None);
        assert_eq!(c.severity, Severity::Unknown);
        assert!(!c.critical);
    }

    #[test]
    fn dos_as_impact_stays_in_scope_but_dos_report_is_out() {
        let c = run(
            "SQL injection in the gateway admin API",
            "The filter parameter allows SQL injection; heavy queries could also cause a denial of service.",
        );
        assert_eq!(c.out_of_scope, None);
        let c = run(
            "Denial of service against the gateway with slowloris",
            "Slowloris with 2000 connections makes the gateway unresponsive.",
        );
        assert_eq!(c.out_of_scope.as_deref(), Some("denial-of-service"));
    }

    #[test]
    fn cvss_sets_severity_and_critical() {
        let c = run("RCE", "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H");
        assert_eq!(c.severity, Severity::Critical);
        assert!(c.critical);
        let c = run("XSS in the website", "reflected xss");
        assert_eq!(c.severity, Severity::Medium);
        assert!(!c.critical);
    }

    #[test]
    fn configured_critical_signal_marks_critical() {
        let c = run(
            "bug",
            "This is being actively exploited against our gateway.",
        );
        assert!(c.critical);
    }

    #[test]
    fn indicators_are_normalized_sorted_and_capped() {
        let mut body = String::from("CVE-2026-12345 https://Portal.Hexon.io/api/v1/Session?x=1 ");
        for i in 0..200 {
            body.push_str(&format!(" https://h{i}.example.com/p{i} "));
        }
        let c = run("x", &body);
        assert!(c.indicators.len() <= MAX_INDICATORS);
        assert_eq!(c.indicators[0], "/api/v1/session");
        assert!(c.indicators.windows(2).all(|w| w[0] < w[1]));
        let c = run(
            "x",
            "CVE-2026-12345 https://Portal.Hexon.io/api/v1/Session?x=1",
        );
        assert_eq!(
            c.indicators,
            vec!["/api/v1/session", "CVE-2026-12345", "portal.hexon.io"]
        );
    }

    #[test]
    fn quoted_lines_are_ignored() {
        let c = run(
            "Re: your report",
            "> https://registry.hexon.io/v2/\nThanks!",
        );
        assert_eq!(c.component, None);
    }

    #[test]
    fn hostile_input_never_panics() {
        let huge = "A".repeat(3 * 1024 * 1024);
        let weird = "\u{202e}\u{0}\u{FEFF}ｈｅｘｏｎ．ｉｏ 🦀 ÿ\r\n\r\n## \n1.\n```\n".repeat(2000);
        let names = vec!["".to_string(), "\u{0}.py".to_string(), "ä".repeat(10_000)];
        for body in [
            huge.as_str(),
            weird.as_str(),
            "",
            "CVSS:",
            "http://",
            "//////",
        ] {
            let t = ReportText {
                subject: body,
                body,
                attachment_names: &names,
            };
            let c = classify(&t, &TriageConfig::default());
            let f = fingerprint(&t, &c);
            let _ = similarity(&f, &f);
            let _ = parse_credit(body);
        }
    }

    #[test]
    fn random_token_soup_never_panics() {
        // deterministic xorshift so failures reproduce
        let mut next = crate::triage::xorshift(0x9e37_79b9_7f4a_7c15);
        let vocab = [
            "CVSS:3.1/",
            "CVSS:4.0/",
            "AV:N",
            "/",
            "AC:L",
            "AT:",
            "U:Red",
            ":",
            "http://",
            "https://",
            "registry.hexon.io",
            "*.hexon.io",
            "@",
            ".",
            "..",
            "%2e",
            "ä",
            "日本",
            "€",
            "\u{0}",
            "\n",
            "\n1. ",
            "```",
            "`curl -",
            " curl ",
            "credit me as ",
            "> ",
            "-- \n",
            "Impact:",
            "## ",
            "【影響】",
            "denial of service",
            "gateway",
            "hexonctl",
            "{\"a\":1}",
            "<svg",
            "CVE-2026-",
            "\t",
            " ",
            "Ω",
            "\u{202e}",
            "e\u{301}",
            "İ",
            "ß",
        ];
        let cfg = TriageConfig::default();
        for _ in 0..2000 {
            let n = (next() % 60) as usize;
            let mut subject = String::new();
            let mut body = String::new();
            for i in 0..n {
                let tok = vocab[(next() % vocab.len() as u64) as usize];
                if i % 7 == 0 {
                    subject.push_str(tok);
                } else {
                    body.push_str(tok);
                }
            }
            let names = vec![body.chars().take(10).collect::<String>()];
            let t = ReportText {
                subject: &subject,
                body: &body,
                attachment_names: &names,
            };
            let c = classify(&t, &cfg);
            let f = fingerprint(&t, &c);
            let sim = similarity(&f, &f);
            assert!((0.0..=1.0).contains(&sim));
            let _ = parse_credit(&body);
            let _ = parse_cvss(&body);
        }
    }

    #[test]
    fn severity_parse_and_as_str_round_trip() {
        for s in [
            Severity::Unknown,
            Severity::None,
            Severity::Low,
            Severity::Medium,
            Severity::High,
            Severity::Critical,
        ] {
            assert_eq!(Severity::parse(s.as_str()), Some(s));
        }
        assert_eq!(Severity::parse("Moderate"), Some(Severity::Medium));
        assert_eq!(Severity::parse("bogus"), None);
        assert!(Severity::Critical > Severity::High);
    }

    #[test]
    fn section_labels_and_serde_names() {
        assert_eq!(Section::StepsToReproduce.label(), "steps to reproduce");
        assert_eq!(
            serde_json::to_string(&Section::ProofOfConcept).unwrap(),
            "\"proof_of_concept\""
        );
        assert_eq!(
            serde_json::to_string(&Credit::Name("J".into())).unwrap(),
            r#"{"kind":"name","name":"J"}"#
        );
        assert_eq!(
            serde_json::to_string(&Credit::Anonymous).unwrap(),
            r#"{"kind":"anonymous"}"#
        );
    }
}
#[cfg(test)]
mod default_policy_equivalence {
    /// The shipped TOML policy equals the Rust literals it replaces (run once before they
    /// are deleted; the serialized forms are compared field by field, in order).
    #[test]
    fn toml_policy_equals_rust_literals() {
        let from_toml: super::TriageConfig =
            toml::from_str(include_str!("default-policy.toml")).unwrap();
        let old = serde_json::to_value(super::TriageConfig::default()).unwrap();
        let new = serde_json::to_value(&from_toml).unwrap();
        assert_eq!(old, new);
        assert_eq!(
            serde_json::to_string(&super::TriageConfig::default()).unwrap(),
            serde_json::to_string(&from_toml).unwrap()
        );
    }
}
