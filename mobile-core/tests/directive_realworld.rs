//! The importer on texts as they really arrive: OCR of signed scans, legal-document websites,
//! older numbering, the official gazette, and texts mixing these traits. Every text here was
//! written for these tests (fixtures/realworld/); none is a copy of a real directive.

use proptest::prelude::*;
use taskforce_core::directive::{
    Catalogue, Clause, Directive, DirectiveError, SEED_DIRECTIVE, import, parse,
};

const TEXTS: &[&str] = &[
    "ocr-scan-ct-btttt.txt",
    "website-ct-ttg.txt",
    "old-phu-thu-tuong.txt",
    "gazette-ct-ttg.txt",
    "ocr-hoi-dong-chinh-phu.txt",
    "website-ocr-ct-byt.txt",
];

fn text(name: &str) -> String {
    let path = format!(
        "{}/tests/fixtures/realworld/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn bundled() -> Catalogue {
    Catalogue::bundled().unwrap_or_else(|e| panic!("catalogue: {e}"))
}

fn health_catalogue() -> Catalogue {
    let path = format!(
        "{}/tests/fixtures/ct-byt-units.toml",
        env!("CARGO_MANIFEST_DIR")
    );
    let toml = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    Catalogue::from_toml(&toml).unwrap_or_else(|e| panic!("{e}"))
}

fn load_with(name: &str, catalogue: &Catalogue) -> Directive {
    import(text(name).as_bytes(), catalogue, None).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn load(name: &str) -> Directive {
    load_with(name, &bundled())
}

fn ids(d: &Directive) -> Vec<String> {
    d.all_clauses().map(|c| c.id.clone()).collect()
}

fn clause<'d>(d: &'d Directive, id: &str) -> &'d Clause {
    d.clause(id).unwrap_or_else(|| panic!("no clause {id}"))
}

fn leads(c: &Clause) -> Vec<&str> {
    c.units
        .iter()
        .filter(|a| a.role == taskforce_core::directive::Role::Lead)
        .map(|a| a.unit.as_str())
        .collect()
}

/// The fields the warnings name, in order.
fn warned(d: &Directive) -> Vec<&str> {
    d.warnings.iter().map(|w| w.field.as_str()).collect()
}

/// A scanned, signed PDF through OCR: a signature stamp above a header split in columns,
/// "l2" and a doubled letter in the number, "1O" and "2O23" in the date, "1." / "Il." /
/// "Ill." for the section numerals, a repeated "b)", "©)", a page-break marker, a bare page
/// number and noise lines, the recipients and the signature merged line by line.
#[test]
fn ocr_of_a_signed_scan_is_repaired_with_warnings() {
    let d = load("ocr-scan-ct-btttt.txt");
    assert_eq!(d.number, "12/CT-BTTTT");
    assert_eq!(d.issuer, "Bộ Thông tin và Truyền thông");
    assert_eq!(d.place.as_deref(), Some("Hà Nội"));
    assert_eq!(d.date.to_string(), "2023-09-10");
    assert_eq!(
        d.title,
        "Về việc bảo đảm an toàn thông tin mạng trong đợt cao điểm cuối năm 2023"
    );
    assert_eq!(d.preamble.len(), 2);
    assert_eq!(
        ids(&d),
        [
            "I", "II", "II.1", "II.1.a", "II.1.b", "II.1.c", "II.2", "II.2.a", "II.2.c", "III"
        ]
    );
    assert_eq!(
        clause(&d, "III").heading.as_deref(),
        Some("TỔ CHỨC THỰC HIỆN")
    );
    assert_eq!(
        clause(&d, "II.1.c").text,
        "Hướng dẫn các Sở Thông tin và Truyền thông rà soát lỗ hổng bảo mật."
    );
    assert_eq!(
        clause(&d, "II.2.c").text,
        "Báo cáo kết quả về Bộ hằng tháng."
    );
    assert_eq!(leads(clause(&d, "II.1.a")), ["cuc-attt"]);
    assert_eq!(leads(clause(&d, "II.2")), ["cuc-vt"]);
    assert_eq!(leads(clause(&d, "III")), ["vp-bo"]);
    assert_eq!(d.signer.title, "KT. BỘ TRƯỞNG / THỨ TRƯỞNG");
    assert_eq!(d.signer.name, "Nguyễn Hữu Phong");
    assert_eq!(
        d.recipients,
        ["Như trên;", "Các Thứ trưởng;", "Lưu: VT, CATTT."]
    );
    assert_eq!(
        warned(&d),
        [
            "number",
            "number",
            "date",
            "clause:I",
            "clause:II",
            "clause:II.1.c",
            "clause:II.2.c",
            "clause:III",
            "signer"
        ]
    );
    assert!(d.warnings[0].vi.contains("«l2» thành «12»"));
    assert!(
        d.warnings[1]
            .en
            .contains("\"CT-BTTTTT\" was read as \"CT-BTTTT\"")
    );
    assert!(d.warnings[7].en.contains("\"Ill.\" was read as \"III.\""));
    for c in d.all_clauses() {
        for noise in ["Trang", "Ký bởi", "ii"] {
            assert!(!c.text.contains(noise), "{noise} left in {}", c.id);
        }
    }
}

/// A legal-document website: the site's title line first, the header, "CHỈ THỊ", a title in
/// capitals and the first paragraph on one line, the recipients on one line, the signature
/// block glued into one line with "K/T".
#[test]
fn a_websites_collapsed_lines_are_cut_apart() {
    let d = load("website-ct-ttg.txt");
    assert_eq!(d.number, "21/CT-TTg");
    assert_eq!(d.issuer, "Thủ tướng Chính phủ");
    // The place is the end of the collapsed header, before the date.
    assert_eq!(d.place.as_deref(), Some("Hà Nội"));
    assert_eq!(d.date.to_string(), "2022-08-08");
    assert_eq!(
        d.title,
        "VỀ VIỆC TĂNG CƯỜNG CHUYỂN ĐỔI SỐ TRONG DỊCH VỤ BƯU CHÍNH"
    );
    assert!(d.preamble[0].starts_with("Trong những năm qua, dịch vụ bưu chính"));
    assert!(d.preamble[0].ends_with("trong khâu phát hàng còn chậm."));
    assert_eq!(ids(&d), ["1", "1.a", "1.b", "2", "3", "4"]);
    assert_eq!(
        clause(&d, "1").heading.as_deref(),
        Some("Bộ Thông tin và Truyền thông")
    );
    assert_eq!(leads(clause(&d, "2")), ["postal"]);
    assert_eq!(leads(clause(&d, "3")), ["platforms"]);
    assert_eq!(
        d.recipients,
        [
            "Ban Bí thư Trung ương Đảng;",
            "Các bộ, cơ quan ngang bộ;",
            "Lưu: VT, KTTH (2b)."
        ]
    );
    assert_eq!(d.signer.title, "KT. THỦ TƯỚNG / PHÓ THỦ TƯỚNG");
    assert_eq!(d.signer.name, "Trần Quốc Khánh");
    assert_eq!(warned(&d), ["title"]);
}

/// Older numbering: "Số: 112/TTg" without "CT-", issued by the "Phủ Thủ tướng", signed "K/T".
#[test]
fn older_numbering_and_issuers_are_read() {
    let d = load("old-phu-thu-tuong.txt");
    assert_eq!(d.number, "112/TTg");
    assert_eq!(d.slug(), "112-ttg");
    assert_eq!(d.issuer, "Phủ Thủ tướng");
    assert_eq!(d.date.to_string(), "1979-06-12");
    assert_eq!(ids(&d), ["1", "1.a", "1.b", "2", "3", "4"]);
    assert_eq!(leads(clause(&d, "1")), ["cuc-bdtw"]);
    assert_eq!(leads(clause(&d, "2")), ["cuc-xbin"]);
    assert_eq!(leads(clause(&d, "3")), ["postal"]);
    assert!(
        clause(&d, "4")
            .text
            .ends_with("chịu trách nhiệm thi hành Chỉ thị này.")
    );
    assert_eq!(d.signer.title, "KT. THỦ TƯỚNG / PHÓ THỦ TƯỚNG");
    assert_eq!(d.signer.name, "Lê Văn Hòa");
    assert!(d.recipients.is_empty());
    assert!(d.warnings.is_empty(), "{:?}", d.warnings);
}

/// The official gazette: its running header with issue and date on every page beside the
/// page number, "Ký bởi" stamps between pages, an item cut across a page, no recipients.
#[test]
fn a_gazette_text_loses_its_running_headers_and_stamps() {
    let d = load("gazette-ct-ttg.txt");
    assert_eq!(d.number, "18/CT-TTg");
    assert_eq!(d.issuer, "Thủ tướng Chính phủ");
    assert_eq!(d.date.to_string(), "2021-06-24");
    assert_eq!(
        ids(&d),
        [
            "I", "I.1", "I.2", "II", "II.1", "II.1-1", "II.1-2", "II.2", "III"
        ]
    );
    assert_eq!(
        clause(&d, "I.2").text,
        "Cục Tần số vô tuyến điện bảo đảm tần số cho thông tin liên lạc phục vụ chỉ huy cứu hộ, \
         cứu nạn."
    );
    // A Prime Minister's directive gives the section "NHIỆM VỤ CỦA BỘ THÔNG TIN VÀ TRUYỀN
    // THÔNG" to the ministry itself (which it could not before the government catalogue:
    // `bo-tttt` was `external`); the department that opens each item takes it from the
    // ministry.
    assert_eq!(leads(clause(&d, "I")), ["bo-tttt"]);
    assert_eq!(leads(clause(&d, "I.1")), ["cuc-vt"]);
    assert_eq!(leads(clause(&d, "I.2")), ["cuc-tan-so"]);
    assert_eq!(leads(clause(&d, "II.1")), ["carriers"]);
    assert_eq!(leads(clause(&d, "II.2")), ["postal"]);
    assert!(d.recipients.is_empty());
    assert_eq!(d.signer.title, "KT. THỦ TƯỚNG / PHÓ THỦ TƯỚNG");
    assert_eq!(d.signer.name, "Phạm Minh Tâm");
    for c in d.all_clauses() {
        assert!(!c.text.contains("CÔNG BÁO"), "running header in {}", c.id);
        assert!(!c.text.contains("Ký bởi"), "stamp in {}", c.id);
    }
    assert!(d.warnings.is_empty(), "{:?}", d.warnings);
}

/// OCR of an old "Hội đồng Chính phủ" directive: "2O/CT", a date without diacritics and with
/// letters for digits, "CHI THI", "1." for "I.", "©)", "- 2 -" and a noise line, "T/M" and
/// a "K/T" signature glued to the name.
#[test]
fn ocr_of_an_old_council_directive() {
    let d = load("ocr-hoi-dong-chinh-phu.txt");
    assert_eq!(d.number, "20/CT");
    assert_eq!(d.issuer, "Hội đồng Chính phủ");
    assert_eq!(d.date.to_string(), "1980-12-05");
    assert_eq!(
        ids(&d),
        ["I", "II", "II.1", "II.1.a", "II.1.b", "II.1.c", "II.2"]
    );
    assert_eq!(clause(&d, "I").heading.as_deref(), Some("YÊU CẦU"));
    assert_eq!(leads(clause(&d, "II.1")), ["cuc-tan-so"]);
    assert_eq!(leads(clause(&d, "II.2")), ["cuc-vt"]);
    assert_eq!(
        d.signer.title,
        "TM. HỘI ĐỒNG CHÍNH PHỦ / KT. THỦ TƯỚNG / PHÓ THỦ TƯỚNG"
    );
    assert_eq!(d.signer.name, "Đặng Văn Lâm");
    assert_eq!(d.recipients, ["Các Bộ, Tổng cục;", "Lưu."]);
    assert_eq!(
        warned(&d),
        ["heading", "number", "date", "clause:I", "clause:II.1.c"]
    );
    assert!(d.warnings[2].en.contains("\"ngay 5 thang l2 nam 198O\""));
}

/// A ministry's directive from a website, itself from a scan: the header on one line with an
/// OCR'd date, "CHỈ THỊ", a sentence-case title and the first sentence on the next, "Trang
/// 2/3", a stamp, the signature glued.
#[test]
fn a_website_copy_of_a_scan_with_its_own_catalogue() {
    let d = load_with("website-ocr-ct-byt.txt", &health_catalogue());
    assert_eq!(d.number, "07/CT-BYT");
    assert_eq!(d.issuer, "Bộ Y tế");
    assert_eq!(d.place.as_deref(), Some("Hà Nội"));
    assert_eq!(d.date.to_string(), "2024-10-03");
    assert_eq!(
        d.title,
        "Về việc tăng cường phòng, chống dịch sốt xuất huyết"
    );
    assert_eq!(
        d.preamble[0],
        "Thời gian qua, số ca mắc sốt xuất huyết tăng nhanh tại nhiều địa phương."
    );
    assert_eq!(ids(&d), ["I", "II", "II.1", "II.1.a", "II.1.b", "II.2"]);
    assert_eq!(leads(clause(&d, "II.1.a")), ["cuc-ytdp"]);
    assert_eq!(leads(clause(&d, "II.2")), ["so-y-te"]);
    assert_eq!(d.signer.title, "KT. BỘ TRƯỞNG / THỨ TRƯỞNG");
    assert_eq!(d.signer.name, "Đỗ Minh Quang");
    assert_eq!(d.recipients, ["Như trên;", "Lưu: VT, DP."]);
    assert_eq!(warned(&d), ["title", "date"]);
}

/// Clean texts get no warnings, and a stored directive without `warnings` still reads.
#[test]
fn clean_texts_have_no_warnings_and_old_json_still_reads() {
    let d = parse(SEED_DIRECTIVE).unwrap_or_else(|e| panic!("{e}"));
    assert!(d.warnings.is_empty(), "{:?}", d.warnings);
    let json = serde_json::to_value(&d).unwrap_or_else(|e| panic!("{e}"));
    assert!(json.get("warnings").is_none());
    let back: Directive = serde_json::from_value(json).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(back, d);
    let warned = load("ocr-scan-ct-btttt.txt");
    let json = serde_json::to_string(&warned).unwrap_or_else(|e| panic!("{e}"));
    let back: Directive = serde_json::from_str(&json).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(back.warnings, warned.warnings);
}

/// What is not a directive is still refused, however tolerant the importer has become.
#[test]
fn what_is_not_a_directive_is_still_refused() {
    let page = "Thư viện văn bản\n\nChỉ thị 21/CT-TTg năm 2022 — văn bản đã hết hiệu lực.\n";
    assert!(matches!(parse(page), Err(DirectiveError::NotADirective(_))));
    let no_date = "Số: 1/CT-TTg\n\nCHỈ THỊ\n\nVề việc x\n\n1. Làm.";
    assert!(matches!(
        parse(no_date),
        Err(DirectiveError::NotADirective(_))
    ));
}

/// 2 MiB parsed in release, two ways: these texts one after another (most lines then repeat
/// and are dropped as running headers), and one directive of these texts' body lines as
/// thousands of numbered items. Prints the time taken, asserts none. Run with `cargo test
/// --release -p taskforce-core --test directive_realworld -- --ignored --nocapture`.
#[test]
#[ignore = "a measurement: run in release with --ignored --nocapture"]
fn two_mebibytes_parse_time() {
    let limit = taskforce_core::directive::MAX_DIRECTIVE_BYTES;
    let all: String = TEXTS.iter().map(|n| text(n) + "\n\n").collect();
    let mut repeated = String::new();
    while repeated.len() + all.len() <= limit {
        repeated.push_str(&all);
    }
    let scan = text("ocr-scan-ct-btttt.txt");
    let (head, _) = scan
        .split_once("1. YÊU CẦU CHUNG")
        .unwrap_or_else(|| panic!("the scan has no first section"));
    let body: Vec<String> = TEXTS
        .iter()
        .flat_map(|n| text(n).lines().map(str::to_string).collect::<Vec<_>>())
        .filter(|l| l.chars().count() > 20)
        .collect();
    let mut items = head.to_string();
    let mut n = 0;
    'fill: loop {
        for line in &body {
            n += 1;
            let item = format!("\n{}. {line} (mục {n})\n", n % 99 + 1);
            if items.len() + item.len() + 200 > limit {
                break 'fill;
            }
            items.push_str(&item);
        }
    }
    items.push_str("\nNơi nhận:\n- Như trên;\n\nBỘ TRƯỞNG\n\nNguyễn Văn A\n");
    for (what, big) in [("repeated texts", &repeated), ("numbered items", &items)] {
        let runs = 10;
        let start = std::time::Instant::now();
        let mut clauses = 0;
        for _ in 0..runs {
            let d = parse(big).unwrap_or_else(|e| panic!("{what}: {e}"));
            clauses = d.all_clauses().count();
        }
        let each = start.elapsed() / runs;
        println!(
            "parse of {} bytes, {what} ({clauses} clauses): {:.1} ms per run over {runs} runs",
            big.len(),
            each.as_secs_f64() * 1000.0
        );
    }
}

/// These texts cut into pieces, with random noise: the importer answers, never panics, and
/// whatever parses has distinct clause ids.
fn realworld_fragments() -> impl Strategy<Value = String> {
    let lines: Vec<String> = TEXTS
        .iter()
        .flat_map(|n| text(n).lines().map(str::to_string).collect::<Vec<_>>())
        .collect();
    proptest::collection::vec(
        prop_oneof![
            proptest::sample::select(lines),
            "\\PC{0,40}",
            Just("\n".to_string()),
            Just("CHỈ THỊ".to_string()),
            Just("©) ".to_string()),
            Just("Ill. ".to_string()),
            Just("K/T THỦ TƯỚNG ".to_string()),
            Just("Nơi nhận: ".to_string()),
        ],
        0..120,
    )
    .prop_map(|parts| parts.join("\n"))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn mangled_realworld_texts_never_panic(text in realworld_fragments()) {
        let c = bundled();
        if let Ok(d) = import(text.as_bytes(), &c, None) {
            let mut ids: Vec<_> = d.all_clauses().map(|c| c.id.clone()).collect();
            let n = ids.len();
            ids.sort();
            ids.dedup();
            prop_assert_eq!(ids.len(), n);
        }
    }
}

/// OCR may put the motto's column first and garble it: it is still not taken for the issuer.
#[test]
fn a_garbled_motto_is_not_the_issuer() {
    let text = "CQNG HOA XA HOI CHU NGHIA VIET NAM\nĐộc lập - Tự do - Hạnh phúc\n\n\
                ỦY BAN NHÂN DÂN\n\nSố: 3/CT-UBND\n\nngày 2 tháng 3 năm 2023\n\nCHỈ THỊ\n\n\
                Về việc x\n\n1. Các Sở Thông tin và Truyền thông làm.";
    let d = parse(text).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(d.issuer, "Ủy ban nhân dân");
}

/// A header without a date takes the first date of the text, with a warning; a number whose
/// dash after "CT" was lost is read with a warning.
#[test]
fn a_date_missing_from_the_header_and_a_lost_dash_are_guessed_with_warnings() {
    let text = "BỘ THÔNG TIN VÀ TRUYỀN THÔNG\n\nSố: 9/CT BTTTT\n\nCHỈ THỊ\n\nVề việc x\n\n\
                1. Cục Viễn thông làm.\n\nHà Nội, ngày 4 tháng 5 năm 2022\n\nBỘ TRƯỞNG\n\n\
                Nguyễn Văn A";
    let d = parse(text).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(d.number, "9/CT-BTTTT");
    assert_eq!(d.date.to_string(), "2022-05-04");
    assert_eq!(warned(&d), ["number", "date"]);
    assert!(d.warnings[1].en.contains("The header has no date"));
    assert_eq!(d.signer.name, "Nguyễn Văn A");
}

/// "15/CT Hà Nội" is the older number followed by the place, not "CT-Hà".
#[test]
fn an_older_number_beside_the_place_is_not_given_a_suffix() {
    let text = "HỘI ĐỒNG CHÍNH PHỦ\n\nSố: 15/CT Hà Nội, ngày 1 tháng 2 năm 1975\n\nCHỈ THỊ\n\n\
                Về việc x\n\n1. Cục Viễn thông làm.";
    let d = parse(text).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(d.number, "15/CT");
    assert_eq!(d.issuer, "Hội đồng Chính phủ");
    assert_eq!(d.date.to_string(), "1975-02-01");
    assert!(d.warnings.is_empty(), "{:?}", d.warnings);
}
