//! Shapes of steps and proofs of concept that carry no heading: a tool's output or a request
//! indented as a block, a URL the reader is told to open, a parameterised URL carrying a
//! payload, and the reporter saying that no proof of concept comes with the mail.
//! Pure line inspection; never panics.

use regex::Regex;
use std::sync::LazyLock;

/// Verbs (several languages) telling the reader to open a URL.
static OPEN_URL_RE: LazyLock<Option<Regex>> = LazyLock::new(|| {
    super::super::text::re(
        r"(?i)\b(?:open|visit|browse to|browse|navigate to|go to|load|request|fetch|call|send .{0,20}to|öffne|öffnen|aufrufen|ouvrir|ouvrez|visitez|abrir|abra|abre|visite|acesse|acessar|ir a)\b[^\n]{0,40}https?://",
    )
});

/// A URL with a query whose value holds another URL, an encoded or markup payload, or a
/// traversal: the exact request is itself the proof of concept.
static PAYLOAD_URL_RE: LazyLock<Option<Regex>> = LazyLock::new(|| {
    super::super::text::re(
        r#"(?i)https?://[^\s"'<>]+\?[^\s"'<>]*=(?:[^\s&"'<>]*(?:%[0-9a-f]{2}|//|\.\./|<|'|\$\{|javascript:))"#,
    )
});

/// The reporter says the mail carries no proof of concept (or only on request). ASCII word
/// boundaries (the keywords are ASCII): a Unicode `\b` would keep the regex off its fast
/// engines on any non-ASCII mail.
static POC_DECLINED_RE: LazyLock<Option<Regex>> = LazyLock::new(|| {
    super::super::text::re(concat!(
        r"(?i)(?:(?-u:\b)(?:no|not|without|don't|do not|didn't|did not|haven't|have not|won't)(?-u:\b)[^.;\n]{0,40}(?-u:\b)(?:poc|proof[- ]of[- ]concept|exploit code|exploit script|working exploit|an exploit)(?-u:\b)",
        r"|(?-u:\b)(?:poc|proof[- ]of[- ]concept|exploit code|exploit script)(?-u:\b)[^.;\n]{0,30}(?-u:\b)(?:on request|if needed|if you need|if required|if you want|later|upon request)(?-u:\b)",
        r"|(?-u:\b)(?:can|could|will|happy to) (?:prepare|provide|write|send|share)(?-u:\b)[^.\n]{0,25}(?-u:\b)(?:poc|proof[- ]of[- ]concept|exploit)(?-u:\b)",
        r"|(?-u:\b)(?:no adjunto|sin poc|sin exploit|no incluyo|pas de poc|sans poc|je n'ai pas|kein(?:en)? poc|kein(?:en)? exploit|ohne poc|sem poc)(?-u:\b)|não anexei|não incluí",
        r"|(?:poc|PoC|エクスプロイト)[^\n]{0,10}(?:ありません|なし|は添付していません))",
    ))
});

/// Does the reporter say no proof of concept comes with the mail?
pub fn poc_declined(text: &str) -> bool {
    POC_DECLINED_RE.as_ref().is_some_and(|r| r.is_match(text))
}

/// Words that order the actions of a prose account, by role (first / then / finally), in
/// the languages reports come in.
const SEQUENCE_MARKERS: [&[&str]; 3] = [
    &[
        "first",
        "firstly",
        "first of all",
        "primero",
        "primeiro",
        "zuerst",
        "erst",
        "d abord",
        "prima",
        "最初に",
        "まず",
    ],
    &[
        "then",
        "after that",
        "afterwards",
        "next",
        "luego",
        "despues",
        "depois",
        "em seguida",
        "a continuacion",
        "dann",
        "danach",
        "anschliessend",
        "ensuite",
        "puis",
        "poi",
        "dopo",
        "次に",
        "その後",
    ],
    &[
        "finally",
        "lastly",
        "finalmente",
        "por fim",
        "por ultimo",
        "schliesslich",
        "zum schluss",
        "enfin",
        "infine",
        "最後に",
    ],
];

/// Prose steps: a marker of every role of [`SEQUENCE_MARKERS`] (first ..., then ...,
/// finally ...) in the text.
pub fn sequenced(text: &str) -> bool {
    let norm = crate::triage::text::normalize_prose(text);
    let has = |w: &&str| {
        if w.is_ascii() {
            norm.contains(&format!(" {w} "))
        } else {
            norm.contains(*w)
        }
    };
    SEQUENCE_MARKERS.iter().all(|group| group.iter().any(has))
}

/// A line telling the reader to open a URL ("open https://... in a browser").
pub fn is_url_step(line: &str) -> bool {
    line.contains("://") && OPEN_URL_RE.as_ref().is_some_and(|r| r.is_match(line))
}

/// A URL whose query carries a payload (`?next=/%5Cevil.example`, `?q=<svg onload=...>`).
pub fn has_payload_url(line: &str) -> bool {
    line.contains('?') && PAYLOAD_URL_RE.as_ref().is_some_and(|r| r.is_match(line))
}

/// A line indented by two or more spaces that is output, a header, a request or code rather
/// than a wrapped sentence or a list item: `  Set-Cookie: a=b`, `  HTTP/2 302`,
/// `  [+] Done`, `  $ ip addr`, `  https://host/path?x=1`.
pub fn is_indented_output(line: &str) -> bool {
    if !(line.starts_with("  ") || line.starts_with('\t')) {
        return false;
    }
    let t = line.trim();
    if t.len() < 4 || t.starts_with(['-', '*', '•']) || super::is_numbered_step(t) {
        return false;
    }
    let header = t.split_once(": ").is_some_and(|(name, v)| {
        !v.is_empty()
            && name.len() <= 40
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            && (name.contains(|c: char| c.is_ascii_uppercase() || c == '-')
                || v.starts_with(|c: char| !c.is_alphabetic()))
    });
    let marked = t.starts_with(['[', '{', '<', '$', '#', '>', '|'])
        || t.starts_with("HTTP/")
        || t.starts_with("http://")
        || t.starts_with("https://");
    let symbols = t
        .chars()
        .filter(|c| {
            matches!(
                c,
                '=' | '/' | '{' | '}' | '[' | ']' | '<' | '>' | '$' | '_' | '|' | ';' | '&' | '%'
            )
        })
        .count();
    let words = t.split_whitespace().count();
    let prose = t.ends_with(['.', ',']) && words >= 6 && symbols <= 1;
    !prose && (header || marked || symbols * 12 >= t.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn indented_output_but_not_wrapped_prose() {
        for l in [
            "  Set-Cookie: hx=dV84; Path=/; Secure",
            "  HTTP/2 302",
            "  [usb] pm3 --> lf hid reader",
            "  https://gw.test/.hexon/logout?redirect_uri=https://evil.example/",
            "\tlocation: /\\evil.example/x",
        ] {
            assert!(is_indented_output(l), "{l}");
        }
        for l in [
            "   con su propio endpoint y su propia huella de CA.",
            "  - a list item",
            "  2. a numbered step",
            "no indentation: a=b",
            "   the gateway accepts it without checking the EKU, which is wrong.",
        ] {
            assert!(!is_indented_output(l), "{l}");
        }
    }

    #[test]
    fn urls_to_open_and_urls_with_payloads() {
        assert!(is_url_step(
            "Hi, open https://downloads.hexon.io/nightly/ in a browser"
        ));
        assert!(!is_url_step(
            "See https://hexon.io/security for the policy."
        ));
        assert!(has_payload_url(
            "Open redirect: https://auth.hexon.io/login?next=/%5Cattacker.tld"
        ));
        assert!(has_payload_url("https://a.test/s?q=<svg/onload=alert(1)>"));
        assert!(!has_payload_url("https://a.test/s?page=2"));
    }

    #[test]
    fn prose_ordered_by_first_then_finally_is_steps() {
        assert!(sequenced(
            "Primero puse un proxy. Luego modifiqué la respuesta. Finalmente repetí la prueba."
        ));
        assert!(sequenced(
            "First I log in, then open the page, and finally click Save."
        ));
        assert!(!sequenced(
            "First of all, thanks. Then again, it may be nothing."
        ));
    }

    #[test]
    fn declined_proofs_of_concept() {
        for t in [
            "No adjunto código de explotación, pero puedo preparar uno.",
            "I have not written a PoC yet.",
            "PoC available on request.",
            "I can provide a proof of concept if needed.",
        ] {
            assert!(poc_declined(t), "{t}");
        }
        assert!(!poc_declined("PoC:\n  curl https://x.test/?a=1"));
        assert!(!poc_declined("The proof of concept below works."));
    }
}
