//! Prime Minister's directives with the catalogue for the whole government: ministries,
//! government agencies and provincial people's committees are given tasks, the units of the
//! directive's date are the ones found (the 63 provinces of 2020, the 34 after the 2025
//! merger), and a ministry's own directive still gives them none.

use taskforce_core::directive::{
    Authority, Catalogue, Clause, Directive, Role, SEED_DIRECTIVE, import, parse,
};
use taskforce_core::doc::DocHeader;

fn fixture(name: &str) -> Vec<u8> {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn bundled() -> Catalogue {
    Catalogue::bundled().unwrap_or_else(|e| panic!("catalogue: {e}"))
}

fn load(name: &str) -> Directive {
    import(&fixture(name), &bundled(), None).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn clause<'d>(d: &'d Directive, id: &str) -> &'d Clause {
    d.clause(id).unwrap_or_else(|| panic!("no clause {id}"))
}

fn units(c: &Clause, role: Role) -> Vec<&str> {
    c.units
        .iter()
        .filter(|a| a.role == role)
        .map(|a| a.unit.as_str())
        .collect()
}

/// The units with a document for a directive: as the server decides (server/src/db/seed.rs
/// `document_headers`).
/// The units publishing gives a document to (what the server stores: `DocHeader::all_for`).
fn documents(d: &Directive, c: &Catalogue) -> Vec<String> {
    DocHeader::all_for(d, c)
        .into_iter()
        .map(|h| h.unit)
        .collect()
}

#[test]
fn a_prime_ministers_directive_of_2026_assigns_ministries_and_merged_provinces() {
    let d = load("ct-ttg-ubnd-2026.txt");
    assert_eq!(d.number, "07/CT-TTg");
    assert_eq!(d.issuer, "Thủ tướng Chính phủ");
    assert_eq!(d.date.to_string(), "2026-03-20");
    assert_eq!(d.signer.title, "KT. THỦ TƯỚNG / PHÓ THỦ TƯỚNG");
    assert_eq!(d.signer.name, "Nguyễn Văn Bình");
    let ids: Vec<&str> = d.all_clauses().map(|c| c.id.as_str()).collect();
    assert_eq!(ids, ["1", "1.a", "1.b", "2", "3", "4", "5", "6"]);
    // Bộ Khoa học và Công nghệ (which took over this ministry in 2025) leads, the ministries
    // it works with coordinate.
    assert_eq!(units(clause(&d, "1"), Role::Lead), ["bo-khcn"]);
    assert_eq!(
        units(clause(&d, "1"), Role::Coordinating),
        ["bo-quoc-phong", "bo-cong-an"]
    );
    assert_eq!(units(clause(&d, "1.a"), Role::Lead), ["bo-khcn"]);
    assert_eq!(units(clause(&d, "1.a"), Role::Coordinating), ["carriers"]);
    assert_eq!(units(clause(&d, "1.b"), Role::Coordinating), ["ubnd-tinh"]);
    assert_eq!(units(clause(&d, "2"), Role::Lead), ["bo-tai-chinh"]);
    assert_eq!(units(clause(&d, "3"), Role::Lead), ["bo-nnmt"]);
    // The merged provinces of 1 July 2025, not the ones of the same name before.
    assert_eq!(
        units(clause(&d, "4"), Role::Lead),
        ["ubnd-tuyen-quang-2025", "ubnd-lao-cai-2025"]
    );
    assert_eq!(units(clause(&d, "4"), Role::Coordinating), ["bo-khcn"]);
    // "Hà Giang" in 2026 is part of Tuyên Quang.
    assert_eq!(
        units(clause(&d, "5"), Role::Lead),
        ["ubnd-tuyen-quang-2025"]
    );
    assert_eq!(
        units(clause(&d, "6"), Role::Lead),
        ["bo-nganh", "ubnd-tinh"]
    );

    // Documents (through the groups of clause 6): the 34 provinces of 2026 and the ministries
    // and agencies in force then; none of the provinces or ministries that ended.
    let c = bundled();
    let docs = documents(&d, &c);
    let provinces = docs.iter().filter(|u| u.starts_with("ubnd-")).count();
    assert_eq!(provinces, 34, "{docs:?}");
    for gone in [
        "ubnd-ha-giang",
        "ubnd-tuyen-quang",
        "bo-tttt",
        "bo-khdt",
        "ubnd-thua-thien-hue",
    ] {
        assert!(!docs.iter().any(|u| u == gone), "{gone} has a document");
    }
    for present in [
        "ubnd-hue",
        "ubnd-ha-noi",
        "bo-khcn",
        "nhnn",
        "vtv",
        "viettel",
    ] {
        assert!(
            docs.iter().any(|u| u == present),
            "{present} has no document"
        );
    }
}

#[test]
fn a_prime_ministers_directive_of_2020_assigns_the_provinces_of_2020() {
    let d = load("ct-ttg-ubnd-2020.txt");
    assert_eq!(d.number, "11/CT-TTg");
    assert_eq!(d.date.to_string(), "2020-04-09");
    assert_eq!(units(clause(&d, "1"), Role::Lead), ["bo-tttt"]);
    assert_eq!(
        units(clause(&d, "1"), Role::Coordinating),
        ["carriers", "bo-y-te"]
    );
    assert_eq!(
        units(clause(&d, "2"), Role::Lead),
        ["bo-khdt", "bo-tai-chinh"]
    );
    assert_eq!(
        units(clause(&d, "3"), Role::Lead),
        [
            "ubnd-ha-giang",
            "ubnd-tuyen-quang",
            "ubnd-hcm",
            "ubnd-ba-ria-vung-tau",
            "ubnd-thua-thien-hue"
        ]
    );
    assert_eq!(units(clause(&d, "4"), Role::Lead), ["ubnd-tinh"]);
    assert_eq!(units(clause(&d, "4"), Role::Coordinating), ["so-tttt"]);
    let docs = documents(&d, &bundled());
    assert_eq!(
        docs.iter().filter(|u| u.starts_with("ubnd-")).count(),
        63,
        "{docs:?}"
    );
    assert!(!docs.iter().any(|u| u.ends_with("-2025") || u == "ubnd-hue"));
}

#[test]
fn a_ministrys_own_directive_names_ministries_and_provinces_but_gives_them_nothing() {
    let mut text = String::from_utf8(fixture("ct-ttg-ubnd-2020.txt")).unwrap_or_default();
    text = text
        .replace("THỦ TƯỚNG CHÍNH PHỦ\n", "BỘ THÔNG TIN VÀ TRUYỀN THÔNG\n")
        .replace("11/CT-TTg", "11/CT-BTTTT")
        .replace("KT. THỦ TƯỚNG\nPHÓ THỦ TƯỚNG", "BỘ TRƯỞNG");
    let c = bundled();
    let d = import(text.as_bytes(), &c, None).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(Authority::of(&d), Authority::Ministry);
    for cl in d.all_clauses() {
        for a in &cl.units {
            assert!(
                c.get(&a.unit).is_some_and(|u| u.is_assignable()),
                "{} given to {} in a ministry's directive",
                cl.id,
                a.unit
            );
        }
    }
    assert_eq!(units(clause(&d, "1"), Role::Coordinating), ["carriers"]);
    assert!(clause(&d, "3").units.iter().all(|a| a.unit == "carriers"));
}

#[test]
fn the_issuer_decides_who_can_be_given_tasks() {
    for (issuer, number, expected) in [
        ("THỦ TƯỚNG CHÍNH PHỦ", "1/CT-TTg", Authority::Government),
        ("CHÍNH PHỦ", "1/CT-CP", Authority::Government),
        ("PHỦ THỦ TƯỚNG", "1/TTg", Authority::Government),
        ("HỘI ĐỒNG CHÍNH PHỦ", "1/CT", Authority::Government),
        ("BỘ Y TẾ", "1/CT-BYT", Authority::Ministry),
        (
            "BỘ THÔNG TIN VÀ TRUYỀN THÔNG",
            "1/CT-BTTTT",
            Authority::Ministry,
        ),
    ] {
        let text = format!(
            "{issuer}\n\nSố: {number}\n\nHà Nội, ngày 1 tháng 2 năm 2021\n\nCHỈ THỊ\n\n\
             Về việc x\n\n1. Bộ Y tế chủ trì.\n\nBỘ TRƯỞNG\n\nNguyễn Văn A\n"
        );
        let d = parse(&text).unwrap_or_else(|e| panic!("{issuer}: {e}"));
        assert_eq!(
            Authority::of(&d),
            expected,
            "{issuer} / {number}: {}",
            d.issuer
        );
    }
}

#[test]
fn the_seed_directive_is_a_ministrys() {
    let d = import(SEED_DIRECTIVE.as_bytes(), &bundled(), None).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(Authority::of(&d), Authority::Ministry);
}

/// 2 MiB through the whole importer (parse, then the ~250-unit matcher over every clause)
/// in release. Prints the time taken, asserts none. Run with `cargo test --release -p
/// taskforce-core --test directive_government -- --ignored --nocapture`.
#[test]
#[ignore = "a measurement: run in release with --ignored --nocapture"]
fn two_mebibytes_import_time() {
    let limit = taskforce_core::directive::MAX_DIRECTIVE_BYTES;
    let body = String::from_utf8(fixture("ct-ttg-ubnd-2026.txt")).unwrap_or_default();
    let (head, rest) = body
        .split_once("1. Bộ Khoa học")
        .unwrap_or_else(|| panic!("no first item"));
    let lines: Vec<String> = format!("1. Bộ Khoa học{rest}")
        .lines()
        .filter(|l| l.chars().count() > 20)
        .map(str::to_string)
        .collect();
    let mut text = head.to_string();
    let mut n = 0;
    'fill: loop {
        for line in &lines {
            n += 1;
            let item = format!("\n{}. {line} (mục {n})\n", n % 99 + 1);
            if text.len() + item.len() + 200 > limit {
                break 'fill;
            }
            text.push_str(&item);
        }
    }
    text.push_str("\nKT. THỦ TƯỚNG\nPHÓ THỦ TƯỚNG\n\nNguyễn Văn A\n");
    let c = bundled();
    let runs = 5;
    let start = std::time::Instant::now();
    let mut assigned = 0;
    for _ in 0..runs {
        let d = import(text.as_bytes(), &c, None).unwrap_or_else(|e| panic!("{e}"));
        assigned = d.all_clauses().filter(|c| !c.units.is_empty()).count();
    }
    let import_ms = (start.elapsed() / runs).as_secs_f64() * 1000.0;
    let start = std::time::Instant::now();
    for _ in 0..runs {
        parse(&text).unwrap_or_else(|e| panic!("{e}"));
    }
    let parse_ms = (start.elapsed() / runs).as_secs_f64() * 1000.0;
    println!(
        "import of {} bytes ({assigned} clauses assigned, {} units): {:.1} ms per run over {runs} runs",
        text.len(),
        c.units().len(),
        import_ms
    );
    println!("of which parse: {parse_ms:.1} ms");
}

/// The matcher as it was before the catalogue for the whole government (every alias searched
/// through the whole text, longest first): the indexed one must find the same units.
fn reference_find(c: &Catalogue, text: &str) -> Vec<(String, usize, usize)> {
    use taskforce_core::directive::fold;
    let mut aliases: Vec<(String, String, bool)> = c
        .units()
        .iter()
        .flat_map(|u| {
            std::iter::once(&u.name).chain(&u.aliases).map(move |a| {
                let capital = a.chars().next().is_some_and(char::is_uppercase);
                (fold(a), u.id.clone(), capital)
            })
        })
        .filter(|(a, _, _)| !a.is_empty())
        .collect();
    aliases.sort_by(|a, b| b.0.len().cmp(&a.0.len()).then_with(|| a.0.cmp(&b.0)));
    aliases.dedup();
    let folded = fold(text);
    let capital: Vec<bool> = {
        let mut v = Vec::new();
        for (i, w) in text.split_whitespace().enumerate() {
            if i > 0 {
                v.push(false);
            }
            for ch in w.chars() {
                for lower in ch.to_lowercase() {
                    v.extend(std::iter::repeat_n(ch.is_uppercase(), lower.len_utf8()));
                }
            }
        }
        v
    };
    let mut taken: Vec<(String, usize, usize)> = Vec::new();
    for (alias, unit, needs_capital) in &aliases {
        for (start, _) in folded.match_indices(alias.as_str()) {
            let end = start + alias.len();
            let boundary = |ch: Option<char>| ch.is_none_or(|ch| !ch.is_alphanumeric());
            if !boundary(folded[..start].chars().next_back())
                || !boundary(folded[end..].chars().next())
                || (*needs_capital && !capital.get(start).copied().unwrap_or(false))
                || taken.iter().any(|(_, s, e)| start < *e && *s < end)
            {
                continue;
            }
            taken.push((unit.clone(), start, end));
        }
    }
    taken.sort_by_key(|m| m.1);
    taken
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(300))]
    /// Texts made of unit names (whole, cut, glued, lower-cased) and noise: the indexed
    /// matcher finds exactly what searching every alias through the text finds.
    #[test]
    fn the_indexed_matcher_finds_what_a_search_for_every_alias_finds(
        picks in proptest::collection::vec((0usize..10_000, 0usize..6, "[ ,.;:()a-zđ]{0,4}"), 1..12)
    ) {
        let c = bundled();
        let names: Vec<&str> = c
            .units()
            .iter()
            .flat_map(|u| std::iter::once(u.name.as_str()).chain(u.aliases.iter().map(String::as_str)))
            .collect();
        let mut text = String::new();
        for (i, how, noise) in &picks {
            let name = names[i % names.len()];
            let piece = match how {
                0 => name.to_string(),
                1 => name.to_lowercase(),
                2 => name.chars().skip(3).collect(),
                3 => name.chars().take(name.chars().count() / 2).collect(),
                4 => format!("x{name}"),
                _ => format!("{name}{name}"),
            };
            text.push_str(&piece);
            text.push_str(noise);
            text.push(' ');
        }
        let m = taskforce_core::directive::UnitMatcher::new(&c);
        let found: Vec<(String, usize, usize)> =
            m.find(&text).into_iter().map(|x| (x.unit, x.start, x.end)).collect();
        proptest::prop_assert_eq!(found, reference_find(&c, &text), "{}", text);
    }
}
