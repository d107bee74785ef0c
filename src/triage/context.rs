//! Context of words in a report body: which sentences *assert* the finding and which negate,
//! hedge, quote or only aside it ("not a scanner finding", "I don't think this gives code
//! execution", a `Notes:` section, a "quoted ticket title"), which lines name what is
//! *affected* (`Affected component: ...`, `Target: ...`), and whether the reporter says the
//! finding was validated by hand.
//! Pure text inspection over the already unquoted body lines: no I/O, never panics, linear in
//! the input.

/// Words that negate the sentence they are in (any language the corpus arrives in).
/// ("without", "ohne", "sans" ... describe a missing control, which *is* a finding, so
/// they do not negate.)
const NEGATIONS: &[&str] = &[
    "not", "no", "never", "cannot", "nor", "neither", "unlike", "instead", "nicht", "kein",
    "keine", "keinen", "keiner", "pas", "jamais", "aucun", "aucune", "nunca", "ningún", "ninguna",
    "não", "nao", "nem", "nenhum", "nenhuma", "non", "niet", "geen",
];
/// A negation followed by one of these states a missing control ("header not set", "no
/// banner retrieved"): a finding, not a denial of what the report is about.
const STATES: &[&str] = &[
    "set",
    "present",
    "configured",
    "enabled",
    "found",
    "implemented",
    "retrieved",
    "used",
    "validated",
    "checked",
    "enforced",
    "verified",
    "sent",
    "required",
    "applied",
    "defined",
    "rotated",
    "limited",
    "restricted",
    "protected",
    "authenticated",
    "encrypted",
    "signed",
    "gesetzt",
    "vorhanden",
    "geprüft",
    "défini",
    "présent",
    "vérifié",
    "configurado",
    "presente",
    "verificado",
    "validado",
];
/// Multi-word negations, matched on the space-joined words.
const NEGATION_PHRASES: &[&str] = &["rather than", "as opposed to", "other than"];
/// Substrings that negate in scripts written without spaces (Japanese).
const NEGATION_CJK: &[&str] = &["ない", "ません", "ではなく", "ず、", "なし"];
/// Words that hedge: the sentence speculates rather than states.
const HEDGES: &[&str] = &[
    "might",
    "maybe",
    "perhaps",
    "possibly",
    "potentially",
    "theoretically",
    "hypothetically",
    "could",
    "would",
    "may",
    "if",
    "unless",
    "speculative",
    "unclear",
    "unsure",
    "unconfirmed",
    "vielleicht",
    "möglicherweise",
    "eventuell",
    "könnte",
    "könnten",
    "würde",
    "peut",
    "pourrait",
    "pourraient",
    "quizás",
    "quizá",
    "podría",
    "podrían",
    "talvez",
    "poderia",
    "poderiam",
];
const HEDGES_CJK: &[&str] = &["かもしれ", "可能性", "思われ", "と思い"];
/// Section headings whose content is a side note, not the finding.
const ASIDE_HEADINGS: &[&str] = &[
    "note",
    "notes",
    "side note",
    "side notes",
    "aside",
    "remarks",
    "disclaimer",
    "background",
    "p s",
    "ps",
    "pps",
    "unrelated",
    "out of scope",
    "hinweis",
    "anmerkung",
    "anmerkungen",
    "remarque",
    "remarques",
    "nota",
    "notas",
    "備考",
    "補足",
];
/// Line labels naming what is affected.
const AFFECTED_LABELS: &[&str] = &[
    "affected",
    "affected component",
    "affected components",
    "affected product",
    "affected host",
    "affected url",
    "affected asset",
    "affected system",
    "affected service",
    "affected endpoint",
    "affected version",
    "affected versions",
    "component",
    "product",
    "target",
    "asset",
    "host",
    "url",
    "endpoint",
    "betroffen",
    "betroffene komponente",
    "betroffenes produkt",
    "komponente",
    "produkt",
    "composant",
    "composant affecté",
    "produit",
    "cible",
    "componente",
    "componente afectado",
    "componente afetado",
    "producto",
    "produto",
    "objetivo",
    "alvo",
    "対象",
    "影響を受けるコンポーネント",
    "対象コンポーネント",
    "コンポーネント",
];
/// Words that say the reporter confirmed the finding by hand.
const VALIDATION: &[&str] = &[
    "confirmed by hand",
    "verified by hand",
    "by hand",
    "i manually",
    "we manually",
    "verified manually",
    "confirmed manually",
    "checked manually",
    "tested manually",
    "reproduced manually",
    "manual verification",
    "manual validation",
    "manually verified",
    "manually confirmed",
    "i confirmed",
    "i verified",
    "i validated",
    "i reproduced",
    "working poc",
    "working proof of concept",
    "working exploit",
    "confirmed it",
    "verified it",
    "validated it",
    "manuell",
    "von hand",
    "manuellement",
    "à la main",
    "manualmente",
    "a mano",
    "à mão",
    "手動で",
    "手作業",
];

/// What [`roles`] found in a body.
#[derive(Debug, Default)]
pub struct Roles {
    /// the body without negated sentences, quoted spans and side-note sections
    pub asserted: String,
    /// `asserted` without hedged sentences as well: what the report states as fact
    pub stated: String,
    /// the values of the lines naming what is affected
    pub affected: String,
    /// the reporter says the finding was confirmed by hand (in an asserted sentence)
    pub validated: bool,
}

/// Lowercase words of `s` (letters, digits, apostrophes inside words).
fn words(s: &str) -> Vec<String> {
    s.to_lowercase()
        .split(|c: char| !(c.is_alphanumeric() || c == '\'' || c == '’'))
        .filter(|w| !w.is_empty())
        .map(|w| w.replace('’', "'"))
        .collect()
}

/// The words of `s` joined by single spaces and padded, for phrase lookups.
fn joined(ws: &[String]) -> String {
    format!(" {} ", ws.join(" "))
}

/// Does a (subject) line say the finding was confirmed by hand ("working PoC")?
pub fn says_validated(line: &str) -> bool {
    !negated(line) && has_phrase(&joined(&words(line)), VALIDATION)
}

/// Is one of `phrases` in `j` (padded words, see [`joined`]) as whole words?
fn has_phrase(j: &str, phrases: &[&str]) -> bool {
    let b = j.as_bytes();
    phrases.iter().any(|p| {
        j.match_indices(p).any(|(i, _)| {
            i.checked_sub(1).and_then(|k| b.get(k)) == Some(&b' ')
                && b.get(i + p.len()) == Some(&b' ')
        })
    })
}

/// Does the sentence negate what it says?
pub fn negated(sentence: &str) -> bool {
    let ws = words(sentence);
    let state_follows = |i: usize| {
        ws.iter()
            .skip(i + 1)
            .take(2)
            .any(|n| STATES.contains(&n.as_str()))
    };
    ws.iter()
        .enumerate()
        .any(|(i, w)| (NEGATIONS.contains(&w.as_str()) || w.ends_with("n't")) && !state_follows(i))
        || has_phrase(&joined(&ws), NEGATION_PHRASES)
        || NEGATION_CJK.iter().any(|c| sentence.contains(c))
}

/// Does the sentence speculate rather than state?
pub fn hedged(sentence: &str) -> bool {
    let ws = words(sentence);
    ws.iter().any(|w| HEDGES.contains(&w.as_str()))
        || has_phrase(&joined(&ws), &["i think", "i believe", "in theory"])
        || HEDGES_CJK.iter().any(|c| sentence.contains(c))
}

/// `s` with text inside double quotes (ASCII, typographic, guillemets, 「」) blanked.
fn unquote(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut closing: Option<char> = None;
    for c in s.chars() {
        match closing {
            Some(close) if c == close => {
                closing = None;
                out.push(' ');
            }
            Some(_) => {}
            None => match c {
                '"' => closing = Some('"'),
                '“' => closing = Some('”'),
                '«' => closing = Some('»'),
                '「' => closing = Some('」'),
                _ => out.push(c),
            },
        }
    }
    out
}

/// Sentences of a line (split after `.`, `!`, `?`, `;` before a space, and after `。`).
fn sentences(line: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut prev: Option<char> = None;
    for (i, c) in line.char_indices() {
        let cut = match c {
            '。' | '！' | '？' => Some(i + c.len_utf8()),
            ' ' if matches!(prev, Some('.' | '!' | '?' | ';')) => Some(i),
            _ => None,
        };
        if let Some(end) = cut {
            out.extend(line.get(start..end));
            start = end;
        }
        prev = Some(c);
    }
    out.extend(line.get(start..));
    out
}

/// The label of a `Label: value` line or of a heading line, normalized, and the value.
fn label_of(line: &str) -> Option<(String, &str)> {
    let t = line
        .trim()
        .trim_start_matches(['#', '=', '*', '-', '•', ' ', '[', '【'])
        .trim_end_matches(['=', '*', '#', ' ', ']', '】']);
    let (label, value) = match t.find([':', '：']) {
        Some(i) => (
            t.get(..i)?,
            t.get(i..)?.trim_start_matches([':', '：']).trim(),
        ),
        // a heading without a colon: marked up, or a few words without a full stop
        None if line.trim_start().starts_with(['#', '='])
            || (t.split_whitespace().count() <= 3 && !t.ends_with(['.', '!', '?'])) =>
        {
            (t, "")
        }
        None => return None,
    };
    let label = joined(&words(label)).trim().to_string();
    if label.is_empty() || label.split(' ').count() > 4 {
        return None;
    }
    Some((label, value))
}

/// Splits the body lines into their roles (see [`Roles`]).
pub fn roles(lines: &[&str]) -> Roles {
    let mut r = Roles::default();
    let mut aside = false;
    let mut affected_next = false;
    for line in lines {
        if line.trim().is_empty() {
            continue;
        }
        let mut text: &str = line;
        if affected_next {
            r.affected.push_str(line.trim());
            r.affected.push('\n');
            affected_next = false;
            continue;
        }
        if let Some((label, value)) = label_of(line) {
            let is_aside = ASIDE_HEADINGS.contains(&label.as_str());
            if is_aside || value.is_empty() {
                // a heading (or an aside label): the section it opens is an aside or not
                aside = is_aside;
            }
            if AFFECTED_LABELS.contains(&label.as_str()) {
                if value.is_empty() {
                    affected_next = true;
                } else {
                    r.affected.push_str(value);
                    r.affected.push('\n');
                }
                continue;
            }
            if is_aside {
                continue;
            }
            if value.is_empty() && label.split(' ').count() <= 4 && line.trim().len() <= 40 {
                // a heading names what follows: it asserts like a subject does
                r.asserted.push_str(line);
                r.asserted.push('\n');
                continue;
            }
            text = value;
        }
        if aside {
            continue;
        }
        for s in sentences(&unquote(text)) {
            if negated(s) {
                continue;
            }
            r.asserted.push_str(s);
            r.asserted.push('\n');
            let j = joined(&words(s));
            r.validated |= has_phrase(&j, VALIDATION) || VALIDATION.iter().any(|v| s.contains(v));
            if !hedged(s) {
                r.stated.push_str(s);
                r.stated.push('\n');
            }
        }
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    fn of(body: &str) -> Roles {
        let lines: Vec<&str> = body.lines().collect();
        roles(&lines)
    }

    #[test]
    fn negated_and_hedged_sentences_do_not_assert() {
        let r = of("This is not a scanner finding. I found an XSS.\nI don't think this gives code execution; it may allow phishing.");
        assert!(!r.asserted.contains("scanner"), "{}", r.asserted);
        assert!(r.asserted.contains("XSS"));
        assert!(!r.asserted.contains("code execution"));
        assert!(r.asserted.contains("phishing"));
        assert!(!r.stated.contains("phishing"), "{}", r.stated);
    }

    #[test]
    fn quotes_and_notes_are_asides() {
        let r = of("Title was \"denial of service\" in the ticket.\nSQLi in /search.\n\nNotes:\nThe office wifi was slow.\n\nImpact:\nData theft.");
        assert!(!r.asserted.contains("denial"), "{}", r.asserted);
        assert!(!r.asserted.contains("office"), "{}", r.asserted);
        assert!(r.asserted.contains("Data theft"), "{}", r.asserted);
    }

    #[test]
    fn affected_lines_and_validation() {
        let r = of("Affected component: hexonctl 2.1\nTarget:\nhttps://registry.hexon.io/v2/\nIt started as a scanner finding but I confirmed it by hand.");
        assert!(r.affected.contains("hexonctl"));
        assert!(r.affected.contains("registry.hexon.io"));
        assert!(r.validated);
        let r = of("There was no manual validation.");
        assert!(!r.validated);
    }
}
