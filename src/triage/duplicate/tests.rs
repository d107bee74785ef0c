//! Unit tests of the duplicate fingerprint and similarity, against a set formulation.
use super::super::{classify, TriageConfig};
use super::*;

fn fp(subject: &str, body: &str) -> Fingerprint {
    let cfg = TriageConfig::default();
    let t = ReportText {
        subject,
        body,
        attachment_names: &[],
    };
    fingerprint(&t, &classify(&t, &cfg))
}

#[test]
fn same_endpoint_and_parameters_link_across_languages() {
    let en = fp(
        "registry.hexon.io: cross-repo blob mount leaks private layers",
        "POST /v2/me/scratch/blobs/uploads/?mount=sha256:abc&from=hexon/private HTTP/1.1\nThe registry does not check read access on the source repository.",
    );
    let de = fp(
        "Registry: Blob-Mount aus fremden Repositories",
        "Beim Anlegen eines Uploads mit POST /v2/jschulz/test/blobs/uploads/?mount=sha256:def&from=hexon/intern wird nicht geprüft, ob der Token Leserechte hat.",
    );
    assert!(similarity(&en, &de) >= NEAR_DUPLICATE_THRESHOLD);
    let other = fp(
        "registry.hexon.io: token scope prefix match",
        "GET /v2/hexon/gateway/manifests/latest with a token for namespace hex is accepted.",
    );
    assert!(similarity(&en, &other) < NEAR_DUPLICATE_THRESHOLD);
}

/// A store of `n` unrelated reports (distinct hosts and paths), each also naming `common`.
fn store_with(n: usize, common: &str) -> Rarity {
    let mut r = Rarity::default();
    for i in 0..n {
        let f = fp(
            &format!("Finding {i} on app{i}.hexon.io"),
            &format!("GET /area{i}/page{i}/item HTTP/1.1 on app{i}.hexon.io. {common}"),
        );
        r.add(&Comparable::new(&f));
    }
    r
}

#[test]
fn same_rare_class_in_the_same_component_links_across_languages() {
    let en = Comparable::new(&fp(
        "hexon-mcp: DNS rebinding lets any web page call tools",
        "The local MCP server does not check the Host or Origin header. A page that rebinds its name to 127.0.0.1 can call every tool of the MCP server.",
    ));
    let ja = Comparable::new(&fp(
        "MCPサーバーのDNSリバインディング",
        "ローカルのMCPサーバーはOriginヘッダーを検証しません。DNSリバインディングで任意のツールを呼び出せます。",
    ));
    let rarity = store_with(40, "");
    assert!(en.similarity_among(&ja, &rarity) >= NEAR_DUPLICATE_THRESHOLD);
    // too few reports to tell what is rare: no link on the class alone
    assert!(en.similarity_among(&ja, &store_with(5, "")) < NEAR_DUPLICATE_THRESHOLD);
    // a class every other report names is no evidence
    let common = store_with(40, "This is a DNS rebinding issue.");
    assert!(en.similarity_among(&ja, &common) < NEAR_DUPLICATE_THRESHOLD);
}

#[test]
fn different_classes_on_one_endpoint_are_two_bugs() {
    let xss = fp(
        "Stored XSS in /account/profile on portal.hexon.io",
        "POST /account/profile?display_name=<svg onload=alert(1)> on portal.hexon.io stores the name unescaped: stored XSS.",
    );
    let sqli = fp(
        "SQL injection in /account/profile on portal.hexon.io",
        "POST /account/profile?display_name=x'+OR+1=1-- on portal.hexon.io: the name reaches the query, SQL injection.",
    );
    let (a, b) = (Comparable::new(&xss), Comparable::new(&sqli));
    assert!(a.other_classes(&b));
    let rarity = store_with(40, "");
    let same = Comparable::new(&fp(
        "portal.hexon.io profile name XSS",
        "The display_name of POST /account/profile on portal.hexon.io is rendered unescaped (stored XSS).",
    ));
    assert!(
        a.similarity_among(&b, &rarity) < a.similarity_among(&same, &rarity),
        "a shared class must count for more than a shared endpoint with another class"
    );
}

#[test]
fn a_common_one_segment_endpoint_or_a_lab_host_alone_is_not_strong() {
    let a = Comparable::new(&fp(
        "MCP session ids are sequential",
        "curl http://mcp.lab.local:8931/mcp -d '{}' returns session 1001, the next one 1002.",
    ));
    let b = Comparable::new(&fp(
        "MCP tool gateway_get_secret returns client_secret",
        "curl http://mcp.lab.local:8931/mcp -d '{\"method\":\"tools/call\"}' prints the OAuth client secret.",
    ));
    // `/mcp` named by a few percent of the store, the lab host by these two only
    let mut rarity = store_with(60, "");
    for c in [&a, &b] {
        rarity.add(c);
    }
    for i in 0..3 {
        let other = format!("Tool {i} of the MCP server: POST http://127.0.0.1:8931/mcp");
        rarity.add(&Comparable::new(&fp("MCP finding", &other)));
    }
    assert!(rarity.weight("/mcp") >= 0.5 && rarity.weight("/mcp") < 0.9);
    assert!(a.similarity_among(&b, &rarity) < NEAR_DUPLICATE_THRESHOLD);
}

#[test]
fn a_rare_long_path_links_two_wordings() {
    let a = Comparable::new(&fp(
        "Gateway admin API reachable without a session",
        "GET /_hexon/static/%2e%2e/admin/v1/config returns the whole config. Also tried /_hexon/login, /metrics, /healthz, /api/v2/status and ports 8443, 9443.",
    ));
    let b = Comparable::new(&fp(
        "encoded dot-dot gives admin",
        "Through /_hexon/static/%2e%2e/admin/v1/config the router and the auth check disagree; user u_02 became admin via PUT.",
    ));
    let rarity = store_with(60, "");
    assert!(a.similarity_among(&b, &rarity) >= NEAR_DUPLICATE_THRESHOLD);
    // the same path shared by many reports of the store is no such evidence
    let mut common = store_with(40, "");
    for _ in 0..20 {
        common.add(&a);
    }
    assert!(common.weight("/_hexon/static/%2e%2e/admin/v1/config") < 0.9);
}

#[test]
fn shell_devices_are_not_path_tails() {
    let t = neutral_tokens("curl -s https://x.hexon.io/v2/token > /dev/null 2>/dev/stderr");
    assert!(!t.iter().any(|x| x.contains("dev/")), "{t:?}");
}

#[test]
fn the_same_endpoint_and_parameter_link_however_often_reported() {
    let en = fp(
        "reflected xss in docs search",
        "https://docs.hexon.io/search?q=%3Csvg%2Fonload%3Dalert(1)%3E",
    );
    let de = fp(
        "Reflektiertes XSS in der Dokumentationssuche",
        "Der Parameter wird nicht kodiert:\n\nGET /search?q=%22%3E%3Cimg%20src%3Dx%20onerror%3Dalert(1)%3E HTTP/1.1\nHost: docs.hexon.io",
    );
    let (a, b) = (Comparable::new(&en), Comparable::new(&de));
    // even in a store where every report names that endpoint
    let mut rarity = store_with(40, "");
    for _ in 0..20 {
        rarity.add(&a);
    }
    assert!(a.similarity_among(&b, &rarity) >= NEAR_DUPLICATE_THRESHOLD);
    // an auth endpoint called on the way to another bug is not that bug
    let via_token = Comparable::new(&fp(
        "registry.hexon.io: blob mount leaks layers",
        "GET https://registry.hexon.io/token?service=r&scope=repository:x:pull then POST https://registry.hexon.io/v2/me/x/blobs/uploads/?mount=sha256:1&from=hexon/private",
    ));
    let token_bug = Comparable::new(&fp(
        "registry.hexon.io: token service prefix match",
        "GET https://registry.hexon.io/token?service=r&scope=repository:hexon/gateway:push&account=hex",
    ));
    assert!(via_token.endpoint_similarity(&token_bug) == 0.0);
}

#[test]
fn fnv1a_is_stable() {
    assert_eq!(fnv1a(b""), 0xcbf2_9ce4_8422_2325);
    assert_eq!(fnv1a(b"a"), 0xaf63_dc4c_8601_ec8c);
}

#[test]
fn identifiers_equal_reference() {
    fn reference(text: &str) -> BTreeSet<String> {
        let mut out = BTreeSet::new();
        for tok in text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')) {
            if tok.len() < 6 || tok.len() > 64 {
                continue;
            }
            let underscore =
                tok.trim_matches('_').contains('_') && tok.chars().any(|c| c.is_ascii_alphabetic());
            let bytes = tok.as_bytes();
            let camel = bytes
                .windows(2)
                .any(|w| w[0].is_ascii_lowercase() && w[1].is_ascii_uppercase());
            if underscore || camel {
                out.insert(format!("id:{}", tok.to_ascii_lowercase()));
            }
            if out.len() >= MAX_IDENTIFIERS {
                break;
            }
        }
        out
    }
    let vocab = [
        "get_gateway_config",
        "channelBinding",
        "__init__",
        "___",
        "_a_",
        "abc_def",
        "x",
        "ab_12",
        "123_456",
        "é",
        "日本",
        " ",
        ".",
        "aB",
        "verylongidentifierName",
        "__x__y__",
        "_______a",
        "A_B_C_D",
        "fooBarBazQuxQuuxCorgeGraultGarplyWaldoFredPlughXyzzyThud1234567",
    ];
    let mut next = crate::triage::xorshift(0x1357_9bdf_2468_ace0);
    for _ in 0..3000 {
        let t: String = crate::triage::random_words(&mut next, &vocab, 60).concat();
        assert_eq!(identifiers(&t), reference(&t), "{t:?}");
    }
}

#[test]
fn identical_reports_are_fully_similar() {
    let a = fp(
        "XSS on docs",
        "Reflected XSS at https://docs.hexon.io/search?q=x in the heading",
    );
    assert!((similarity(&a, &a) - 1.0).abs() < 1e-9);
}

#[test]
fn reworded_report_on_same_endpoint_is_near_duplicate() {
    let a = fp("XSS", "Reflected cross-site scripting on https://docs.hexon.io/search via q, inserted with innerHTML.");
    let b = fp(
        "bug",
        "Das Suchfeld unter https://docs.hexon.io/search?q=<svg> führt Skripte aus.",
    );
    assert!(similarity(&a, &b) >= NEAR_DUPLICATE_THRESHOLD);
}

#[test]
fn sharing_only_a_host_is_not_enough() {
    let a = fp(
        "SPF",
        "Your SPF record for hexon.io is soft fail, spoofing possible.",
    );
    let b = fp(
        "DDoS",
        "I flooded hexon.io and it went down, pay me a bounty.",
    );
    assert!(similarity(&a, &b) < NEAR_DUPLICATE_THRESHOLD);
}

#[test]
fn sketch_is_bounded_and_sorted() {
    let body = (0..5000)
        .map(|i| format!("w{i}"))
        .collect::<Vec<_>>()
        .join(" ");
    let f = fp("x", &body);
    assert!(f.shingles.len() <= SKETCH_SIZE);
    assert!(f.shingles.windows(2).all(|w| w[0] < w[1]));
}

/// The set-based formulation `Comparable` replaced, kept to pin its results.
fn reference_similarity(a: &Fingerprint, b: &Fingerprint) -> f64 {
    let meta = |set: &BTreeSet<&str>, prefix: &str| -> Option<String> {
        set.iter()
            .find(|i| i.starts_with(prefix))
            .map(|i| (*i).to_string())
    };
    let all_a: BTreeSet<&str> = a
        .indicators
        .iter()
        .take(MAX_COMPARED)
        .map(String::as_str)
        .collect();
    let all_b: BTreeSet<&str> = b
        .indicators
        .iter()
        .take(MAX_COMPARED)
        .map(String::as_str)
        .collect();
    let plain = |i: &&str| !is_meta(i) && !i.starts_with(ENDPOINT_PREFIX);
    let ia: BTreeSet<&str> = all_a.iter().copied().filter(plain).collect();
    let ib: BTreeSet<&str> = all_b.iter().copied().filter(plain).collect();
    let weight = |s: &BTreeSet<&str>| -> f64 { s.iter().map(|i| indicator_weight(i)).sum() };
    let shared: BTreeSet<&str> = ia.intersection(&ib).copied().collect();
    let (wa, wb, ws) = (weight(&ia), weight(&ib), weight(&shared));
    let union_w = wa + wb - ws;
    let jaccard = if union_w > 0.0 { ws / union_w } else { 0.0 };
    let smaller = wa.min(wb);
    let containment = if smaller > 0.0 { ws / smaller } else { 0.0 };
    let mut ind = 0.5 * jaccard + 0.5 * containment;
    let strong = shared
        .iter()
        .any(|i| i.starts_with('/') || i.starts_with("CVE-"))
        || shared.iter().filter(|i| i.starts_with("id:")).count() >= 2;
    if !strong {
        ind *= 0.4;
    }
    let (ca, cb) = (
        meta(&all_a, COMPONENT_PREFIX),
        meta(&all_b, COMPONENT_PREFIX),
    );
    if ca.is_some() && cb.is_some() && ca != cb {
        ind *= 0.5;
    }
    if meta(&all_a, OOS_PREFIX) != meta(&all_b, OOS_PREFIX) {
        ind *= 0.5;
    }
    let sa: BTreeSet<u64> = a.shingles.iter().take(MAX_COMPARED).copied().collect();
    let sb: BTreeSet<u64> = b.shingles.iter().take(MAX_COMPARED).copied().collect();
    let k = SKETCH_SIZE.min(sa.len().max(sb.len()));
    let text = if k == 0 {
        0.0
    } else {
        let union: Vec<u64> = sa.union(&sb).take(k).copied().collect();
        let both = union
            .iter()
            .filter(|h| sa.contains(h) && sb.contains(h))
            .count();
        both as f64 / union.len() as f64
    };
    let mut s = text.max(0.7 * ind + 0.3 * text);
    // the endpoint rule: the same component and verdict, most endpoints shared
    let eps = |all: &BTreeSet<&str>| -> BTreeSet<String> {
        all.iter()
            .filter(|i| i.starts_with(ENDPOINT_PREFIX))
            .map(|i| (*i).to_string())
            .collect()
    };
    let (ea, eb) = (eps(&all_a), eps(&all_b));
    let classes = |all: &BTreeSet<&str>| -> BTreeSet<String> {
        all.iter()
            .filter(|i| i.starts_with(CLASS_PREFIX))
            .map(|i| (*i).to_string())
            .collect()
    };
    let (ka, kb) = (classes(&all_a), classes(&all_b));
    let disjoint = !ka.is_empty() && !kb.is_empty() && ka.is_disjoint(&kb);
    let shared_eps = ea.intersection(&eb).count();
    if ca.is_some()
        && ca == cb
        && meta(&all_a, OOS_PREFIX) == meta(&all_b, OOS_PREFIX)
        && !disjoint
        && shared_eps > 0
        && shared_eps * 2 >= ea.union(&eb).count()
    {
        s = s.max(ENDPOINT_SIMILARITY);
    }
    if s.is_finite() {
        s.clamp(0.0, 1.0)
    } else {
        0.0
    }
}

#[test]
fn comparable_matches_the_set_formulation() {
    let mut next = crate::triage::xorshift(0x2468_ace0_1357_9bdf);
    let pool = [
        "/api/v1/login",
        "/search",
        "CVE-2026-1234",
        "CVE-2025-0001",
        "hexon.io",
        "docs.hexon.io",
        "id:get_config",
        "id:channelbinding",
        "id:user_id",
        "component:gateway",
        "component:console",
        "oos:dos",
        "oos:spf",
        "",
    ];
    let mut fps = Vec::new();
    for _ in 0..120 {
        let n = (next() % 9) as usize;
        let indicators = (0..n)
            .map(|_| pool[(next() % pool.len() as u64) as usize].to_string())
            .collect();
        let m = (next() % 200) as usize;
        let shingles = (0..m).map(|_| next() % 400).collect();
        fps.push(Fingerprint {
            indicators,
            shingles,
        });
    }
    fps.push(fp(
        "XSS",
        "Reflected cross-site scripting on https://docs.hexon.io/search via q.",
    ));
    fps.push(fp(
        "bug",
        "Das Suchfeld unter https://docs.hexon.io/search?q=<svg> führt Skripte aus.",
    ));
    for a in &fps {
        for b in &fps {
            let (new, old) = (similarity(a, b), reference_similarity(a, b));
            assert!(
                new.to_bits() == old.to_bits(),
                "{a:?} {b:?}: {new} vs {old}"
            );
        }
    }
}

#[test]
fn empty_and_foreign_fingerprints_do_not_panic() {
    let e = Fingerprint {
        indicators: vec![],
        shingles: vec![],
    };
    assert_eq!(similarity(&e, &e), 0.0);
    let odd = Fingerprint {
        indicators: vec!["".into(); 5000],
        shingles: (0..5000u64).rev().collect(),
    };
    let s = similarity(&odd, &e);
    assert!((0.0..=1.0).contains(&s));
}
