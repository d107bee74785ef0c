//! Completeness check against the disclosure policy: description, steps to reproduce, impact
//! assessment and proof of concept, detected from headings/labels (English, German, French,
//! Spanish, Portuguese, Japanese) and content cues (numbered steps, commands, HTTP requests,
//! code blocks, attachments). Pure text inspection; never panics.

use super::text::{normalize, push_normalized_words, tokens, Phrase};
use super::Section;
use regex::Regex;
use std::sync::LazyLock;

/// Body words needed before a report is considered to carry a description.
pub const MIN_DESCRIPTION_WORDS: usize = 10;
/// Body words that are a description even when no component or class was recognised.
pub const PROSE_DESCRIPTION_WORDS: usize = 40;

mod vocabulary;
use vocabulary::*;
pub(super) use vocabulary::{IMPACT_CUES, POC_LABELS};

/// A section label and the first word it must start the line with.
struct Label {
    phrase: Phrase,
    /// first word of the phrase as written (see [`first_word`])
    first: String,
}

struct Compiled {
    description: Vec<Label>,
    steps: Vec<Label>,
    impact: Vec<Label>,
    poc: Vec<Label>,
}

fn labels(list: &[&str]) -> Vec<Label> {
    super::text::phrases(list)
        .into_iter()
        .map(|phrase| Label {
            first: first_word(&phrase).to_string(),
            phrase,
        })
        .collect()
}

static COMPILED: LazyLock<Compiled> = LazyLock::new(|| Compiled {
    description: labels(DESCRIPTION_LABELS),
    steps: labels(STEPS_LABELS),
    impact: labels(IMPACT_LABELS),
    poc: labels(POC_LABELS),
});

/// [`PAYLOAD_MARKERS`] in one ASCII-case-insensitive pattern. On any line it matches exactly
/// when the line's `to_lowercase()` contains a marker: the markers are ASCII, and the only
/// non-ASCII characters that lowercase to ASCII are the Kelvin sign (`k`, in no marker) and
/// `İ` (`i` followed by a combining dot, so never inside or at the end of a marker).
static PAYLOAD_RE: LazyLock<Option<Regex>> = LazyLock::new(|| {
    let alternation: Vec<String> = PAYLOAD_MARKERS.iter().map(|m| regex::escape(m)).collect();
    super::text::re(&format!("(?i-u:{})", alternation.join("|")))
});

/// A necessary condition for the inline tool check of [`has_inline_command`]: a token that is
/// one of [`INLINE_TOOLS`] after leading `(`, `"`, `'`, followed by a token starting with `-`,
/// `http` or `'` (`\s` is the `White_Space` property, as `split_whitespace` uses).
static INLINE_TOOL_RE: LazyLock<Option<Regex>> = LazyLock::new(|| {
    let tools: Vec<String> = INLINE_TOOLS.iter().map(|t| regex::escape(t)).collect();
    super::text::re(&format!(
        r#"(?:^|\s)["'(]*(?:{})\s+(?:-|http|')"#,
        tools.join("|")
    ))
});

/// A necessary condition for [`is_http_request_line`]: one of [`HTTP_METHODS`] appears.
static HTTP_METHOD_RE: LazyLock<Option<Regex>> =
    LazyLock::new(|| super::text::re(&HTTP_METHODS.join("|")));

/// Last words of the inline labels (see [`may_have_inline_label`]).
static INLINE_LAST_WORDS: LazyLock<Vec<&'static str>> = LazyLock::new(|| {
    [INLINE_STEPS, INLINE_IMPACT, INLINE_POC]
        .iter()
        .flat_map(|labels| labels.iter())
        .filter_map(|pat| pat.strip_suffix(':')?.rsplit(' ').next())
        .collect()
});

/// What the whole normalized text (subject and body prose) mentions.
#[derive(Debug, Clone, Copy)]
pub struct Mentions {
    /// one of [`IMPACT_CUES`] ("an attacker can ...")
    pub impact_cue: bool,
    /// one of [`POC_LABELS`] ("proof of concept", "PoC", ...)
    pub poc: bool,
}

/// [`Mentions`] of normalized text ([`super::classify`] gets them from its single pass).
#[cfg(test)]
pub fn mentions(norm: &str) -> Mentions {
    use super::text::PhraseSet;
    let any = |list: &[&str]| {
        PhraseSet::new(super::text::phrases(list))
            .counts(norm)
            .iter()
            .any(|&n| n > 0)
    };
    Mentions {
        impact_cue: any(IMPACT_CUES),
        poc: any(POC_LABELS),
    }
}

/// Inline labels (see [`has_inline_label`]), colon included.
const INLINE_STEPS: &[&str] = &[
    "repro:",
    "steps:",
    "reproduce:",
    "to reproduce:",
    "pasos:",
    "passos:",
    "schritte:",
    "etapes:",
    "how i tested:",
    "what i did:",
    "tested:",
    "to see it:",
    "to see it,",
];
const INLINE_IMPACT: &[&str] = &["impact:", "impacto:", "auswirkung:"];
const INLINE_POC: &[&str] = &["poc:", "proof of concept:", "exploit:"];

/// Strips list markers and markdown decoration from the start of a line; tells whether the
/// line carried heading markup.
fn strip_decoration(line: &str) -> (&str, bool) {
    let t = line.trim();
    let heading = t.starts_with('#')
        || t.starts_with("**")
        || t.starts_with("__")
        || t.starts_with('【')
        || t.starts_with('[')
        || t.starts_with('■');
    let t = t.trim_start_matches(['#', '*', '_', '-', '【', '[', '■', '>', ' ', '\t']);
    (t, heading)
}

/// The start of a line as a section label candidate: its normalized head (the first words up
/// to a separator) and whether a label there may open a section (followed by a separator,
/// heading-decorated or underlined, or a short head). [`label_head`] returns `None` for a
/// blank line and wherever no wanted label can open a section.
struct LabelHead {
    head_norm: String,
    may_open: bool,
}

fn label_head(
    line: &str,
    next: Option<&str>,
    first_word: &mut String,
    wanted: impl Fn(&str) -> bool,
) -> Option<LabelHead> {
    let (t, mut heading) = strip_decoration(line);
    if t.is_empty() {
        return None;
    }
    // the label is the first few words of the line, up to a separator
    let head_end = find_separator(t).unwrap_or(t.len());
    let head = &t[..head_end];
    // a label can only open a section if its first word starts the normalized head, i.e.
    // is a prefix of the head's first normalized word (label first words have no spaces)
    first_normalized_word(head, first_word);
    if !wanted(first_word) {
        return None;
    }
    if next.is_some_and(|n| {
        let n = n.trim();
        n.len() >= 3 && n.chars().all(|c| c == '-' || c == '=')
    }) {
        heading = true;
    }
    let separated = head_end < t.len();
    // the words of the normalized head are its runs of alphanumerics and `_`
    let may_open = separated || heading || word_runs(head) <= 4;
    if !may_open {
        return None;
    }
    Some(LabelHead {
        head_norm: normalize(head),
        may_open,
    })
}

/// `t.find([':', '：', '(', ']', '】', '*', '\n', '—'])`, on bytes.
fn find_separator(t: &str) -> Option<usize> {
    let b = t.as_bytes();
    b.iter().enumerate().find_map(|(i, &x)| {
        let wide = |tail: [u8; 2]| b.get(i + 1..i + 3) == Some(&tail[..]);
        match x {
            b':' | b'(' | b']' | b'*' | b'\n' => Some(i),
            0xEF if wide([0xBC, 0x9A]) => Some(i), // '：' U+FF1A
            0xE3 if wide([0x80, 0x91]) => Some(i), // '】' U+3011
            0xE2 if wide([0x80, 0x94]) => Some(i), // '—' U+2014
            _ => None,
        }
    })
}

/// Sets `out` to the first word of `normalize(s)` ("" if it has none).
fn first_normalized_word(s: &str, out: &mut String) {
    let start = s
        .find(|c: char| c.is_alphanumeric() || c == '_')
        .unwrap_or(s.len());
    let rest = &s[start..];
    let end = rest
        .find(|c: char| !(c.is_alphanumeric() || c == '_'))
        .unwrap_or(rest.len());
    out.clear();
    push_normalized_words(out, &rest[..end]);
}

/// Number of words of `normalize(s)` (runs of alphanumerics and `_`), counted up to 5.
fn word_runs(s: &str) -> usize {
    let mut n = 0;
    let mut in_word = false;
    for c in s.chars() {
        let w = c.is_alphanumeric() || c == '_';
        if w && !in_word {
            n += 1;
            if n > 4 {
                break;
            }
        }
        in_word = w;
    }
    n
}

/// Does this head open a section with one of `labels`? A label counts at the start of a line
/// when it is the whole line, is followed by `:`/`：`/`(`/`]`/`】`/`*`, or the line is
/// heading-decorated (`## Impact`, `**Impact**`, `【影響】`) or underlined (next line `---`).
fn opens_section(h: &LabelHead, labels: &[Label]) -> bool {
    if !h.may_open {
        return false;
    }
    let start = h.head_norm.trim_start();
    labels
        .iter()
        .any(|l| start.starts_with(l.first.as_str()) && l.phrase.count(&h.head_norm, 1) > 0)
}

/// The normalized first word of a phrase (used to anchor labels at the line start).
fn first_word(p: &Phrase) -> &str {
    p.raw.split_whitespace().next().map_or("", |w| {
        // raw phrases are ASCII or CJK without diacritics, so raw lowercase equals normalized
        w
    })
}

/// Inline labels such as "... repro: capture a login" anywhere in a line; `labels` end
/// with `:`.
fn has_inline_label(norm_with_colons: &str, labels: &[&str]) -> bool {
    // every occurrence of a label ends at one of the (few) colons
    norm_with_colons.match_indices(':').any(|(c, _)| {
        let upto = norm_with_colons.get(..=c).unwrap_or("");
        labels.iter().any(|pat| {
            upto.strip_suffix(pat).is_some_and(|before| {
                before.is_empty() || !before.ends_with(|ch: char| ch.is_alphanumeric())
            })
        })
    })
}

fn is_numbered_step(line: &str) -> bool {
    let t = line.trim_start();
    let digits = t.bytes().take_while(u8::is_ascii_digit).count();
    if digits > 0 && digits <= 2 {
        let rest = &t[digits..];
        return rest.starts_with(". ") || rest.starts_with(") ") || rest.starts_with('.');
    }
    // "step N": only the first six characters matter (lowercasing never turns more than one
    // input character into these six output bytes, nor anything else into an ASCII digit)
    let lower: String = t.chars().take(6).flat_map(char::to_lowercase).collect();
    lower.starts_with("step ") && lower[5..].starts_with(|c: char| c.is_ascii_digit())
}

/// Line after list markers, numbering, `$ ` prompts and backticks.
fn command_part(line: &str) -> &str {
    let mut t = line.trim_start();
    let digits = t.chars().take_while(|c| c.is_ascii_digit()).count();
    if digits > 0 && digits <= 2 {
        let rest = &t[digits..];
        if let Some(r) = rest.strip_prefix(". ").or_else(|| rest.strip_prefix(") ")) {
            t = r;
        }
    }
    t.trim_start_matches(['-', '*', ' ', '`', '\t', '$', '>'])
}

/// A line that starts with a known command and is not an English sentence about it
/// ("hexonctl login --password takes the admin password on the command line, so ...").
fn is_command_line(line: &str) -> bool {
    let t = command_part(line);
    let mut words = t.split_whitespace();
    let first = words.next().unwrap_or("");
    if !COMMANDS.contains(&first) || words.next().is_none() {
        return false;
    }
    let plain_words = t
        .split_whitespace()
        .filter(|w| w.chars().all(|c| c.is_ascii_lowercase() || c == ','))
        .count();
    let sentence = t.trim_end().ends_with('.') && plain_words >= 8;
    !sentence
}

/// A command inside a line: a backtick span starting with a known command, or an inline tool
/// invocation with a flag or URL ("Reproduktion: curl -N http://...").
fn has_inline_command(line: &str, inline_tool_possible: bool) -> bool {
    let mut parts = line.split('`');
    parts.next(); // text before the first backtick
    let mut in_code = true;
    for part in parts {
        if in_code {
            // `hexonctl login` names a command; `hexonctl login --server https://x` runs one
            let mut w = part.split_whitespace();
            let first = w.next().unwrap_or("");
            let has_operand = w.any(|a| {
                a.starts_with('-') || a.contains('/') || a.contains('=') || a.starts_with("http")
            });
            if COMMANDS.contains(&first) && has_operand {
                return true;
            }
        }
        in_code = !in_code;
    }
    if !inline_tool_possible || INLINE_TOOL_RE.as_ref().is_some_and(|r| !r.is_match(line)) {
        return false;
    }
    let mut words = line.split_whitespace();
    let Some(mut prev) = words.next() else {
        return false;
    };
    for w in words {
        if INLINE_TOOLS.contains(&prev.trim_start_matches(['(', '"', '\'']))
            && (w.starts_with('-') || w.starts_with("http") || w.starts_with('\''))
        {
            return true;
        }
        prev = w;
    }
    false
}

/// A line of JSON, HTML or XML (a request body or markup PoC).
fn is_structured_code_line(line: &str) -> bool {
    let t = line.trim();
    (t.starts_with('{') && t.contains("\":"))
        || (t.starts_with('<')
            && t.ends_with('>')
            && t.len() > 3
            && t.chars().nth(1).is_some_and(|c| c.is_ascii_alphabetic()))
}

fn has_payload(line: &str) -> bool {
    match PAYLOAD_RE.as_ref() {
        Some(r) => r.is_match(line),
        None => {
            let lower = line.to_lowercase();
            PAYLOAD_MARKERS.iter().any(|m| lower.contains(m))
        }
    }
}

fn is_http_request_line(line: &str) -> bool {
    let t = command_part(line);
    let mut it = t.split_whitespace();
    let (Some(m), Some(target)) = (it.next(), it.next()) else {
        return false;
    };
    HTTP_METHODS.contains(&m) && (target.starts_with('/') || target.starts_with("http"))
}

/// An attachment that is itself a proof of concept: exploit scripts, captures, recordings,
/// screenshots, archives of them.
pub fn is_poc_attachment(name: &str) -> bool {
    let lower = name.trim().to_lowercase();
    let stem_hint = [
        "poc",
        "exploit",
        "proof",
        "screenshot",
        "screen",
        "repro",
        "capture",
    ]
    .iter()
    .any(|h| lower.contains(h));
    let ext = lower.rsplit('.').next().unwrap_or("");
    let poc_ext = [
        "har", "pcap", "pcapng", "py", "sh", "js", "rb", "go", "html", "htm", "mp4", "mov", "webm",
        "gif", "ps1", "c", "rs", "java", "php", "zip", "gz", "tgz", "7z", "tar",
    ]
    .contains(&ext);
    stem_hint || poc_ext
}

/// Inputs for the completeness check.
pub struct Inputs<'a> {
    /// body lines (quoted lines already removed)
    pub lines: &'a [&'a str],
    /// a text containing every line (the lines joined), for whole-text prefilters
    pub text: &'a str,
    /// what the normalized prose of subject + body mentions (see `mentions`, the reference used by the tests)
    pub mentions: Mentions,
    /// attachment file names
    pub attachments: &'a [String],
    /// a component was recognised
    pub has_component: bool,
    /// a vulnerability class (signal) or out-of-scope class was recognised
    pub has_class: bool,
    /// a valid CVSS vector was found (counts as an impact assessment)
    pub has_cvss: bool,
    /// indented tool output counts as a proof of concept (not when the report reads as
    /// pasted scanner output)
    pub output_is_poc: bool,
}

/// Sections the report still lacks, in policy order.
pub fn missing(inp: &Inputs) -> Vec<Section> {
    let cues = scan(inp);
    let impact_cue = inp.mentions.impact_cue;
    let poc_attachment = inp.attachments.iter().any(|a| is_poc_attachment(a));
    let code = cues.code_fences >= 2 || cues.indented_code >= 1 || cues.structured >= 1;
    let poc_in_text = inp.mentions.poc;
    let (commands, http_requests) = (cues.commands, cues.http_requests);

    let has_description = cues.label_desc
        || (cues.words >= MIN_DESCRIPTION_WORDS
            && (inp.has_component || inp.has_class || cues.words >= PROSE_DESCRIPTION_WORDS));
    let has_steps = cues.label_steps
        || cues.inline_steps
        || narrative(inp.text)
        || shapes::sequenced(inp.text)
        || cues.numbered >= 2
        || commands >= 1
        || http_requests >= 1
        || cues.url_steps
        || cues.payload_url;
    let has_impact = cues.label_impact || cues.inline_impact || impact_cue || inp.has_cvss;
    // the reporter saying none comes with the mail outweighs commands in the steps
    let shown = poc_attachment || cues.code_fences >= 2 || cues.structured >= 1 || cues.payload_url;
    let has_poc = if shapes::poc_declined(inp.text) {
        shown
    } else {
        cues.label_poc
            || cues.inline_poc
            || shown
            || commands >= 1
            || http_requests >= 1
            || code
            || (cues.indented_output && inp.output_is_poc)
            || (poc_in_text && (commands + http_requests > 0 || code))
    };

    let mut out = Vec::new();
    if !has_description {
        out.push(Section::Description);
    }
    if !has_steps {
        out.push(Section::StepsToReproduce);
    }
    if !has_impact {
        out.push(Section::Impact);
    }
    if !has_poc {
        out.push(Section::ProofOfConcept);
    }
    out
}

static NARRATIVE_RE: LazyLock<Option<Regex>> = LazyLock::new(|| {
    super::text::re(concat!(
        r"(?i)\b(?:i|we|then i|then we)\s+(?:(?:then|also|first|just|simply|again|finally|now|only|quickly|manually)\s+){0,2}",
        r"(?:\w+ed|sent|went|ran|made|got|found|took|put|wrote|set|saw|did|told|gave|began|chose|left|paid|read|rang|spoke|dug|forgot|bought|built|brought|caught|kept|held|lost|met|said|thought|stood|plugged|logged)\b",
        r"|\b(?:puse|modifiqué|hice|comprobé|repetí|cambié|creé|inicié|accedí|subí|descargué|instalé|configuré|lancé|usé|copié|capturé|intercepté|observé|encontré|descubrí|revisé|verifiqué|confirmé|recibí|obtuve|conseguí)\b",
        r"|\b(?:tirei|esperei|usei|mudei|alterei|criei|instalei|configurei|removi|acessei|observei|capturei|interceptei|encontrei|descobri|verifiquei|confirmei|reproduzi|fiz|coloquei|rodei|cliquei|entrei|baixei|copiei)\b",
        r"|\b(?:me hice|le dije|llamé|envié|abrí|ejecuté|probé|intenté|escribí|liguei|enviei|abri|executei|tentei|testei|escrevi|j'ai (?:\w+é|envoyé|ouvert|fait|mis|pris|vu|écrit)|ich habe|habe ich|wir haben)\b",
    ))
});

/// A first-person account of what the reporter did ("I sent an email to ..., I called ...,
/// then I logged in ..."): two such clauses are steps to reproduce written as prose.
fn narrative(text: &str) -> bool {
    NARRATIVE_RE
        .as_ref()
        .is_some_and(|re| re.find_iter(text).take(2).count() >= 2)
}

/// What [`scan`] found in the body lines. Every count is only compared with a small
/// threshold by [`missing`], so each stops growing once its threshold is reached (except
/// `code_fences`, which counts every fence).
#[derive(Debug, Default)]
struct Cues {
    label_desc: bool,
    label_steps: bool,
    label_impact: bool,
    label_poc: bool,
    numbered: usize,
    commands: usize,
    http_requests: usize,
    code_fences: usize,
    indented_code: usize,
    structured: usize,
    words: usize,
    inline_steps: bool,
    inline_impact: bool,
    inline_poc: bool,
    /// a line telling the reader to open a URL
    url_steps: bool,
    /// a URL whose query carries a payload
    payload_url: bool,
    /// a line of output, headers or code indented by two or more spaces
    indented_output: bool,
}

/// Whole-text prefilters: a line can only match where the text does.
struct Prefilters {
    payload: bool,
    inline_tool: bool,
    http: bool,
}

impl Cues {
    /// Is a section label still to be found?
    fn labels_open(&self) -> bool {
        !(self.label_desc && self.label_steps && self.label_impact && self.label_poc)
    }

    /// Is an inline label still to be found?
    fn inline_open(&self) -> bool {
        !(self.inline_steps && self.inline_impact && self.inline_poc)
    }

    /// Has every check reached its threshold (so further lines change nothing)?
    fn complete(&self) -> bool {
        !self.labels_open()
            && !self.inline_open()
            && self.numbered >= 2
            && self.commands >= 1
            && self.structured >= 1
            && self.http_requests >= 1
            && self.code_fences >= 2
            && self.indented_code >= 1
            && self.words >= PROSE_DESCRIPTION_WORDS
            && self.url_steps
            && self.payload_url
            && self.indented_output
    }

    /// Section headings and labels (`## Impact`, `Steps to reproduce`) on `line`, with
    /// `next` for underlined headings.
    fn scan_labels(&mut self, line: &str, next: Option<&str>, first_word: &mut String) {
        let c = &*COMPILED;
        let wanted = |first: &str| {
            [
                (self.label_desc, &c.description),
                (self.label_steps, &c.steps),
                (self.label_impact, &c.impact),
                (self.label_poc, &c.poc),
            ]
            .iter()
            .any(|(found, labels)| {
                !found && labels.iter().any(|l| first.starts_with(l.first.as_str()))
            })
        };
        if let Some(h) = label_head(line, next, first_word, wanted) {
            self.label_desc = self.label_desc || opens_section(&h, &c.description);
            self.label_steps = self.label_steps || opens_section(&h, &c.steps);
            self.label_impact = self.label_impact || opens_section(&h, &c.impact);
            self.label_poc = self.label_poc || opens_section(&h, &c.poc);
        }
    }

    /// The content cues of one line: steps, commands, code, HTTP requests, words and
    /// (if `inline_open`) inline labels.
    fn scan_content(&mut self, line: &str, pre: &Prefilters, inline_open: bool) {
        if self.numbered < 2 && is_numbered_step(line) {
            self.numbered += 1;
        }
        if self.commands < 1 && (is_command_line(line) || has_inline_command(line, pre.inline_tool))
        {
            self.commands += 1;
        }
        if self.structured < 1
            && (is_structured_code_line(line) || (pre.payload && has_payload(line)))
        {
            self.structured += 1;
        }
        if self.http_requests < 1 && pre.http && is_http_request_line(line) {
            self.http_requests += 1;
        }
        let trimmed = line.trim_start();
        if trimmed.starts_with("```") || trimmed.starts_with("~~~") {
            self.code_fences += 1;
        }
        if self.indented_code < 1
            && (line.starts_with("    ") || line.starts_with('\t'))
            && !trimmed.is_empty()
            && !trimmed.starts_with(['-', '*'])
            && !is_numbered_step(trimmed)
        {
            self.indented_code += 1;
        }
        if self.words < PROSE_DESCRIPTION_WORDS {
            self.words += tokens(line).count();
        }
        self.url_steps = self.url_steps || shapes::is_url_step(line);
        self.payload_url = self.payload_url || shapes::has_payload_url(line);
        self.indented_output = self.indented_output || shapes::is_indented_output(line);
        // every inline label ends with a colon, which only a word ending in ':' or '：' yields
        if inline_open && may_have_inline_label(line) {
            let lower = normalize_keep_colons(line);
            self.inline_steps = self.inline_steps || has_inline_label(&lower, INLINE_STEPS);
            self.inline_impact = self.inline_impact || has_inline_label(&lower, INLINE_IMPACT);
            self.inline_poc = self.inline_poc || has_inline_label(&lower, INLINE_POC);
        }
    }
}

/// Scans the body lines for labels and content cues, stopping once every check has
/// reached its threshold.
fn scan(inp: &Inputs) -> Cues {
    let pre = Prefilters {
        payload: has_payload(inp.text),
        inline_tool: INLINE_TOOL_RE.as_ref().is_none_or(|r| r.is_match(inp.text)),
        http: HTTP_METHOD_RE.as_ref().is_none_or(|r| r.is_match(inp.text)),
    };
    let mut cues = Cues::default();
    let mut first_word = String::new();
    for (i, line) in inp.lines.iter().enumerate() {
        if cues.complete() {
            break;
        }
        let inline_open = cues.inline_open();
        if cues.labels_open() {
            cues.scan_labels(line, inp.lines.get(i + 1).copied(), &mut first_word);
        }
        cues.scan_content(line, &pre, inline_open);
    }
    cues
}

/// Does a whitespace-separated word of `line` end with `:` or `：`?
fn has_word_ending_in_colon(line: &str) -> bool {
    let ends_word = |end: usize| {
        line.get(end..)
            .is_some_and(|rest| rest.chars().next().is_none_or(char::is_whitespace))
    };
    line.match_indices(':').any(|(i, _)| ends_word(i + 1))
        || line
            .match_indices('：')
            .any(|(i, m)| ends_word(i + m.len()))
}

/// Can `normalize_keep_colons(line)` contain an inline label? Each label ends with
/// `"{last word}:"`, and a `:` is only written after a word ending in `:`/`：`, so such a
/// word's normalized form must end with a label's last word.
fn may_have_inline_label(line: &str) -> bool {
    if !has_word_ending_in_colon(line) {
        return false;
    }
    let mut norm = String::new();
    tokens(line).any(|w| {
        if !(w.ends_with(':') || w.ends_with('：')) {
            return false;
        }
        norm.clear();
        push_normalized_words(&mut norm, w);
        INLINE_LAST_WORDS.iter().any(|last| norm.ends_with(last))
    })
}

/// Lowercase with diacritics folded but punctuation (notably `:`) kept.
fn normalize_keep_colons(line: &str) -> String {
    // normalize() drops punctuation; rebuild word by word keeping colons attached.
    let mut out = String::with_capacity(line.len());
    for (i, w) in tokens(line).enumerate() {
        if i > 0 {
            out.push(' ');
        }
        push_normalized_words(&mut out, w);
        if w.ends_with(':') || w.ends_with('：') {
            out.push(':');
        }
    }
    out
}

mod shapes;

#[cfg(test)]
mod tests;
