//! Unit and differential tests of the text primitives: normalization against its
//! straightforward definition, phrase sets against single phrases, derived regex groups
//! against capture groups, the ASCII host-scan view against the original pattern.
//! Pure; no I/O.

use super::hosts::*;
use super::indicators::*;
use super::normalize::*;
use super::*;

#[test]
fn all_static_patterns_compile() {
    assert!(URL_RE.is_some());
    assert!(BARE_HOST_RE.is_some());
    assert!(BARE_PATH_RE.is_some());
    assert!(CVE_RE.is_some());
    assert!(BARE_HOST_VIEW_RE.is_some());
    assert!(NON_ASCII_WORD_RE.is_some());
    assert!(NON_ASCII_DIGIT_RE.is_some());
    assert!(NON_ASCII_SPACE_RE.is_some());
    assert_eq!(view_byte('é'), Some(b'W'));
    assert_eq!(view_byte('\u{3000}'), Some(b' '));
    assert_eq!(view_byte('٣'), Some(b'D'));
    assert_eq!(view_byte('€'), Some(b'!'));
    assert_eq!(view_byte('\u{212A}'), Some(b'k'));
}

/// Groups derived from URL and bare-path matches equal the capture groups.
#[test]
fn derived_groups_equal_captures() {
    let url = URL_RE.as_ref().unwrap();
    let path = BARE_PATH_RE.as_ref().unwrap();
    let vocab = [
        "http://",
        "HTTPS://",
        "oci://",
        "wss://",
        "ftp:/",
        "user",
        "@",
        "[",
        "]",
        "::1",
        "fe80::a",
        ".",
        "-",
        "x",
        "\u{212A}",
        "ſ",
        "registry.hexon.io",
        ":",
        "8080",
        "٣",
        "/",
        "/v2/_catalog",
        "?q=a@b",
        "#f",
        " ",
        "\"",
        "'",
        "<",
        ">",
        "`",
        ")",
        "|",
        ",",
        ";",
        "\\",
        "é",
        "日本",
        "\n",
        "(",
        "=",
        "（",
        "「",
        "%2e",
        "{id}",
        "a:b",
    ];
    let mut next = crate::triage::xorshift(0x6c07_8965_d1b4_a3e9);
    for _ in 0..20_000 {
        let text: String = crate::triage::random_words(&mut next, &vocab, 16).concat();
        let captured: Vec<_> = url
            .captures_iter(&text)
            .map(|c| (c.get(1).unwrap().as_str(), c.get(2).map(|p| p.as_str())))
            .collect();
        let derived: Vec<_> = url
            .find_iter(&text)
            .map(|m| split_url(m.as_str()).unwrap())
            .collect();
        assert_eq!(derived, captured, "{text:?}");
        let captured: Vec<_> = path
            .captures_iter(&text)
            .map(|c| {
                let g = c.get(1).unwrap();
                (g.start() - c.get(0).unwrap().start(), g.as_str())
            })
            .collect();
        let derived: Vec<_> = path
            .find_iter(&text)
            .map(|m| split_bare_path(m.as_str()).unwrap())
            .collect();
        assert_eq!(derived, captured, "{text:?}");
    }
}

/// The ASCII-view scan finds exactly what the original pattern finds on the text.
#[test]
fn bare_host_view_matches_original_pattern() {
    let original = |text: &str| -> Vec<(usize, String, usize, Option<String>)> {
        let r = BARE_HOST_RE.as_ref().unwrap();
        r.captures_iter(text)
            .map(|c| {
                let tld = c.get(1).unwrap();
                (
                    c.get(0).unwrap().start(),
                    tld.as_str().to_string(),
                    tld.end(),
                    c.get(2).map(|p| p.as_str().to_string()),
                )
            })
            .collect()
    };
    let viewed = |text: &str| -> Vec<(usize, String, usize, Option<String>)> {
        bare_hosts(text)
            .into_iter()
            .map(|m| {
                (
                    m.start,
                    m.tld.to_string(),
                    m.host_end,
                    m.path.map(str::to_string),
                )
            })
            .collect()
    };
    let vocab = [
        "registry.hexon.io",
        "a.b",
        ".",
        "..",
        "-",
        "x",
        "COM",
        "io",
        "/v2/_catalog",
        ":",
        "8080",
        ":٣٤",
        "٣",
        "ſ",
        "\u{212A}",
        "K",
        "é",
        "の",
        "ゲートウェイ",
        "\u{301}",
        "_",
        " ",
        "\u{a0}",
        "\u{3000}",
        "\n",
        "€",
        "🦀",
        "'",
        "\"",
        "`",
        "<",
        ")",
        "|",
        ",",
        ";",
        "\\",
        "?q=ü",
        "#",
        "de",
        "docs.hexon.io/search",
        "ＨＥＸＯＮ",
        "１２",
        "\u{200d}",
        "𝟘",
        "𝐀",
        "𠀀",
        "\u{1F3FB}",
        "\u{E0020}",
        "\u{10FFFD}",
        "\u{1D7CE}",
    ];
    let mut next = crate::triage::xorshift(0x2545_f491_4f6c_dd1d);
    for _ in 0..5000 {
        let text: String = crate::triage::random_words(&mut next, &vocab, 24).concat();
        assert_eq!(viewed(&text), original(&text), "{text:?}");
    }
    for text in [
        "push to registry.hexon.ioにプッシュ and hexon.io。",
        "host ſtatus.hexon.io and \u{212A}ey.hexon.\u{212A}de x.io:٣٤/a",
        "ß.de über.com café.fr/x é.hexon.io",
    ] {
        assert_eq!(viewed(text), original(text), "{text:?}");
    }
}

#[test]
fn clip_respects_char_boundaries() {
    let s = "ääää";
    assert_eq!(clip(s, 3), "ä");
    assert_eq!(clip(s, 100), s);
    assert_eq!(clip(s, 0), "");
}

#[test]
fn normalize_lowercases_folds_and_pads() {
    assert_eq!(
        normalize("End-to-Origin, ACCESO Físico!"),
        " end to origin acceso fisico "
    );
    assert_eq!(normalize(""), " ");
    assert_eq!(normalize("get_gateway_config"), " get_gateway_config ");
}

#[test]
fn phrase_matches_whole_words_only() {
    let p = Phrase::new("gateway").unwrap();
    assert_eq!(
        p.count(&normalize("the gateway, Gateway and gateways"), 10),
        2
    );
    let p = Phrase::new("end-to-origin").unwrap();
    assert_eq!(p.count(&normalize("End to origin encryption"), 10), 1);
}

#[test]
fn phrase_prefix_and_cjk_substring() {
    let p = Phrase::new("tailgat*").unwrap();
    assert_eq!(p.count(&normalize("I tailgated twice"), 10), 1);
    let p = Phrase::new("サービス拒否").unwrap();
    assert_eq!(p.count(&normalize("これはサービス拒否攻撃です"), 10), 1);
    assert!(Phrase::new("  * ").is_none());
}

#[test]
fn phrase_set_counts_equal_phrase_count() {
    let list = [
        "foo",
        "foo foo",
        "foo*",
        "fo",
        "f",
        "foo bar",
        "foo bar*",
        "bar",
        "bar",
        "Foo-Bar",
        "gateway",
        "gateways",
        "tailgat*",
        "サービス拒否",
        "サービス",
        "sql インジェクション",
        "ﾃｽﾄ",
        "é",
        "über*",
        "x y z",
        "y",
        "_",
        "a_b",
        "İ",
        "ß",
    ];
    let set = PhraseSet::new(phrases(&list));
    let vocab = [
        "foo",
        "Foo",
        "foobar",
        "bar",
        "foo-bar",
        "fo",
        "f",
        " ",
        ".",
        "gateway",
        "gateways",
        "tailgating",
        "サービス拒否",
        "サービス",
        "拒否",
        "sql",
        "インジェクション",
        "é",
        "Über",
        "überlast",
        "x",
        "y",
        "z",
        "_",
        "a_b",
        "İ",
        "ß",
        "SS",
        "\n",
        "日本",
    ];
    let mut next = crate::triage::xorshift(0x1234_5678_9abc_def1);
    for _ in 0..3000 {
        let raw: Vec<&str> = crate::triage::random_words(&mut next, &vocab, 30);
        let sep = if next().is_multiple_of(2) { " " } else { "" };
        let hay = normalize(&raw.join(sep));
        let counts = set.counts(&hay);
        for (p, c) in set.phrases().iter().zip(&counts) {
            assert_eq!(*c, p.count(&hay, usize::MAX), "{:?} in {hay:?}", p.raw);
            assert_eq!((*c).min(3), p.count(&hay, 3));
        }
    }
    // concatenated normalized texts (subject + body) count as the sum of their parts
    let (a, b) = (normalize("foo bar サービス"), normalize("拒否 foo"));
    let joined = set.counts(&format!("{a}{b}"));
    let parts: Vec<usize> = set
        .counts(&a)
        .iter()
        .zip(set.counts(&b))
        .map(|(x, y)| x + y)
        .collect();
    assert_eq!(joined, parts);
}

/// Random strings over characters that exercise every branch of the fast paths.
fn random_texts(seed: u64, count: usize) -> Vec<String> {
    let vocab = [
        "a",
        "Z",
        "_",
        "0",
        " ",
        "\t",
        "\n",
        "\r",
        "\u{b}",
        "\u{c}",
        "\u{1c}",
        "\u{85}",
        "\u{a0}",
        "\u{2003}",
        "\u{3000}",
        "\u{200b}",
        "-",
        ".",
        "/",
        "@",
        "é",
        "É",
        "ß",
        "İ",
        "\u{212A}",
        "ſ",
        "Σ",
        "日本",
        "ｈｅｘｏｎ",
        "٣",
        "\u{301}",
        "🦀",
        "\u{0}",
        "x.io",
        "a@b.de",
        "e.g.",
        "(docs.hexon.io).",
    ];
    let mut state = seed;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    (0..count)
        .map(|_| {
            let n = (next() % 40) as usize;
            (0..n)
                .map(|_| vocab[(next() % vocab.len() as u64) as usize])
                .collect()
        })
        .collect()
}

#[test]
fn tokens_equal_split_whitespace() {
    for t in random_texts(0x51ed_270b_27b6_e3a1, 3000) {
        let a: Vec<&str> = tokens(&t).collect();
        let b: Vec<&str> = t.split_whitespace().collect();
        assert_eq!(a, b, "{t:?}");
    }
}

#[test]
fn prose_equals_reference() {
    fn reference(text: &str) -> String {
        let mut out = String::new();
        for (i, tok) in text.split_whitespace().enumerate() {
            if i > 0 {
                out.push(' ');
            }
            let bare = tok.trim_matches(|c: char| !c.is_alphanumeric());
            let hostlike = bare.contains('.')
                && bare
                    .rsplit('.')
                    .next()
                    .is_some_and(|tld| TLDS.contains(&tld.to_ascii_lowercase().as_str()))
                && bare
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-');
            if tok.contains('/') || tok.contains('@') || hostlike {
                continue;
            }
            out.push_str(tok);
        }
        out
    }
    for t in random_texts(0xfeed_beef_1234_5678, 3000) {
        assert_eq!(prose(&t), reference(&t), "{t:?}");
    }
}

#[test]
fn pushed_words_equal_trimmed_normalize() {
    for t in random_texts(0x9e37_79b9_0bad_cafe, 3000) {
        let mut out = String::from("x");
        push_normalized_words(&mut out, &t);
        assert_eq!(&out[1..], normalize(&t).trim(), "{t:?}");
    }
}

#[test]
fn normalize_prose_equals_composition() {
    for t in random_texts(0x7f4a_7c15_9e37_79b9, 3000) {
        assert_eq!(normalize_prose(&t), normalize(&prose(&t)), "{t:?}");
    }
}

#[test]
fn cached_char_normalization_equals_uncached() {
    for c in (0x80u32..0x1_0000).filter_map(char::from_u32) {
        // twice: the second answer comes from the cache
        assert_eq!(normalized_char(c), normalized_char_uncached(c), "{c:?}");
        assert_eq!(normalized_char(c), normalized_char_uncached(c), "{c:?}");
    }
}

#[test]
fn normalize_equals_reference() {
    // the straightforward definition
    fn reference(s: &str) -> String {
        let mut out = String::from(" ");
        let mut last_space = true;
        for c in s.chars() {
            if c.is_alphanumeric() || c == '_' {
                for l in c.to_lowercase() {
                    out.push(fold(l));
                }
                last_space = false;
            } else if !last_space {
                out.push(' ');
                last_space = true;
            }
        }
        if !last_space {
            out.push(' ');
        }
        out
    }
    for t in random_texts(0x0dd_ba11_cafe_f00d, 3000) {
        assert_eq!(normalize(&t), reference(&t), "{t:?}");
    }
}

#[test]
fn phrase_counts_adjacent_repeats() {
    let p = Phrase::new("foo").unwrap();
    assert_eq!(p.count(&normalize("foo foo foo"), 10), 3);
    assert_eq!(p.count(&normalize("foo foo foo"), 2), 2);
}

#[test]
fn host_patterns_prefer_exact_over_wildcard() {
    let exact = host_match("registry.hexon.io", "registry.hexon.io").unwrap();
    let wild = host_match("registry.hexon.io", "*.hexon.io").unwrap();
    assert!(exact > wild);
    assert!(host_match("hexon.io", "*.hexon.io").is_none());
    assert!(host_match("evilhexon.io", "*.hexon.io").is_none());
    assert!(is_host_pattern("*.zendesk.com"));
    assert!(!is_host_pattern("status page"));
}

#[test]
fn extract_finds_hosts_paths_and_cves_but_not_emails_or_files() {
    let t = "See https://Docs.Hexon.io/search?q=x and registry.hexon.io/hexon/gateway:4.3 \
             POST /api/v1/users/1234/keys HTTP/1.1, mail security@hexon.io, run poc.sh, \
             read /etc/passwd, CVE-2026-12345 and cve-2025-0001.";
    let e = extract(t);
    let hosts: Vec<_> = e.hosts.keys().cloned().collect();
    assert_eq!(hosts, vec!["docs.hexon.io", "registry.hexon.io"]);
    assert!(e.paths.contains(&"/search".to_string()));
    assert!(e.paths.contains(&"/hexon/gateway".to_string()));
    assert!(e.paths.contains(&"/api/v1/users/{id}/keys".to_string()));
    assert!(!e.paths.iter().any(|p| p.starts_with("/etc")));
    assert_eq!(e.cves, vec!["CVE-2025-0001", "CVE-2026-12345"]);
}

#[test]
fn extract_drops_paths_of_metadata_payload_urls() {
    let e = extract("fetch http://169.254.169.254/latest/meta-data/ now");
    assert!(e.hosts.contains_key("169.254.169.254"));
    assert!(e.paths.is_empty());
}

#[test]
fn extract_keeps_paths_of_loopback_test_installs() {
    let e = extract("curl http://127.0.0.1:8765/mcp -d x");
    assert_eq!(e.paths, vec!["/mcp"]);
}

#[test]
fn prose_blanks_urls_hosts_and_slash_tokens() {
    let p = prose(
        "push to registry.hexon.io/hexon/gateway via hexon/gateway, mail a@b.io at docs.hexon.io.",
    );
    assert!(!p.contains("hexon"));
    assert!(p.contains("push to"));
}

#[test]
fn extract_survives_hostile_input() {
    let junk = "/".repeat(100_000) + &"a.".repeat(50_000) + "http://[::::" + "\u{202e}";
    let _ = extract(&junk);
    let _ = prose(&junk);
    let _ = normalize(&junk);
}

#[test]
fn defanged_links_name_their_host() {
    let e =
        extract("The link went to hxxps://auth-hexon[.]io-verify[.]com/login and evil(.)example");
    assert!(
        e.hosts.contains_key("auth-hexon.io-verify.com"),
        "{:?}",
        e.hosts
    );
    assert!(e.hosts.contains_key("evil.example"), "{:?}", e.hosts);
    assert!(e.paths.iter().any(|p| p == "/login"), "{:?}", e.paths);
}
