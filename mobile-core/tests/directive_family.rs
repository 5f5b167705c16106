//! The importer on directives other than the seed, each with quirks of its own, and on
//! inputs that are not directives at all.

use proptest::prelude::*;
use taskforce_core::directive::{
    Catalogue, Clause, ClauseKind, Directive, DirectiveError, ImportError, Overrides,
    OverridesError, Role, import, parse, parse_bytes,
};

fn fixture(name: &str) -> Vec<u8> {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn bundled() -> Catalogue {
    Catalogue::bundled().unwrap_or_else(|e| panic!("catalogue: {e}"))
}

fn load(name: &str, catalogue: &Catalogue) -> Directive {
    import(&fixture(name), catalogue, None).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn clause<'d>(d: &'d Directive, id: &str) -> &'d Clause {
    d.clause(id).unwrap_or_else(|| panic!("no clause {id}"))
}

fn ids(d: &Directive) -> Vec<String> {
    d.all_clauses().map(|c| c.id.clone()).collect()
}

fn leads(c: &Clause) -> Vec<&str> {
    c.units
        .iter()
        .filter(|a| a.role == Role::Lead)
        .map(|a| a.unit.as_str())
        .collect()
}

/// Prime Minister's directive: CRLF, no sections, "+" under "-", hard wraps, page numbers
/// and a running header inside the body, a deputy signing for the Prime Minister, no
/// "Nơi nhận".
#[test]
fn prime_ministers_directive() {
    let d = load("ct-ttg-chuyen-doi-so.txt", &bundled());
    assert_eq!(d.number, "16/CT-TTg");
    assert_eq!(d.issuer, "Thủ tướng Chính phủ");
    assert_eq!(d.date.to_string(), "2021-03-14");
    assert_eq!(
        d.title,
        "Về việc bảo đảm thông tin liên lạc và chống tin giả trong mùa mưa bão năm 2021"
    );
    assert_eq!(d.preamble.len(), 2);
    assert!(d.preamble[0].contains("chỉ đạo, điều hành của Chính phủ"));
    assert_eq!(
        ids(&d),
        ["1", "1-1", "1-1-1", "1-1-2", "1-2", "2", "3", "4"]
    );
    assert_eq!(clause(&d, "1-1-2").kind, ClauseKind::Bullet);
    assert_eq!(
        clause(&d, "1-1-2").text,
        "Nhắn tin cảnh báo đến từng thuê bao trong vùng bão;"
    );
    assert!(
        clause(&d, "1-1")
            .text
            .ends_with("tại các vùng bị ảnh hưởng, trong đó:")
    );
    assert_eq!(
        clause(&d, "2").text,
        "Các doanh nghiệp bưu chính bảo đảm vận chuyển hàng cứu trợ miễn phí đến các vùng bị chia cắt."
    );
    assert_eq!(
        clause(&d, "4").heading.as_deref(),
        Some("Tổ chức thực hiện")
    );
    assert!(
        clause(&d, "4")
            .text
            .ends_with("chịu trách nhiệm thi hành Chỉ thị này./.")
    );
    assert_eq!(d.signer.title, "KT. THỦ TƯỚNG / PHÓ THỦ TƯỚNG");
    assert_eq!(d.signer.name, "Vũ Đức Đam");
    assert!(d.recipients.is_empty());
    assert_eq!(leads(clause(&d, "2")), ["postal"]);
    assert_eq!(leads(clause(&d, "3")), ["platforms"]);
    for c in d.all_clauses() {
        assert!(
            !c.text.contains("trang"),
            "running header left in {}: {}",
            c.id,
            c.text
        );
    }
}

/// Another ministry: issuer and motto side by side, "Số: 03 /CT-BYT", a spaced "CHỈ   THỊ",
/// dotted sub-items, a section whose items carry the unit in a lettered heading, "đ)",
/// `__emphasis__`, a bullet split over a blank line, recipients beside the signer.
#[test]
fn another_ministrys_directive_with_its_own_catalogue() {
    let path = format!(
        "{}/tests/fixtures/ct-byt-units.toml",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let catalogue = Catalogue::from_toml(&text).unwrap_or_else(|e| panic!("{e}"));
    let d = load("ct-byt-phong-dich.txt", &catalogue);
    assert_eq!(d.number, "03/CT-BYT");
    assert_eq!(d.issuer, "Bộ Y tế");
    assert_eq!(d.date.to_string(), "2022-12-31");
    assert_eq!(
        ids(&d),
        [
            "I",
            "I.1",
            "I.1.1",
            "I.1.2",
            "II",
            "II.a",
            "II.a-1",
            "II.a-2",
            "II.b",
            "II.b-1",
            "II.b-1-1",
            "II.b-1-2",
            "II.c",
            "II.đ",
            "closing-1"
        ]
    );
    assert!(
        clause(&d, "I.1.1")
            .text
            .ends_with("hệ thống giám sát bệnh truyền nhiễm.")
    );
    assert!(
        clause(&d, "II.a-1")
            .text
            .ends_with("các cơ sở y tế tuyến huyện, tuyến xã trong mùa dịch.")
    );
    assert_eq!(clause(&d, "II.a").heading.as_deref(), Some("Bộ Tài chính"));
    assert_eq!(leads(clause(&d, "II.a-2")), ["btc"]);
    // "cơ sở y tế" is not "Sở Y tế".
    assert_eq!(clause(&d, "II.a-1").units.len(), 1);
    assert_eq!(leads(clause(&d, "II.b-1")), ["cuc-ytdp"]);
    assert!(
        clause(&d, "II.b-1")
            .units
            .iter()
            .any(|a| a.unit == "btc" && a.role == Role::Coordinating)
    );
    assert_eq!(leads(clause(&d, "II.c")), ["so-y-te"]);
    assert_eq!(
        clause(&d, "II.đ").text,
        "Chỉ đạo các bệnh viện sẵn sàng giường bệnh."
    );
    assert_eq!(leads(clause(&d, "II.đ")), ["cuc-kcb"]);
    assert_eq!(
        d.recipients,
        ["Như trên;", "Văn phòng Chính phủ;", "Lưu: VT, DP."]
    );
    assert_eq!(d.signer.title, "BỘ TRƯỞNG");
    assert_eq!(d.signer.name, "Đào Hồng Lan");
}

/// The ministry's own later directive: a bullet cut by a page break with a running header
/// and "- 2 -" between its halves, `**` emphasis, a closing clause for the Ministry Office.
#[test]
fn a_directive_cut_by_page_breaks() {
    let d = load("ct-btttt-tin-gia.txt", &bundled());
    assert_eq!(d.number, "07/CT-BTTTT");
    assert_eq!(
        d.clauses[0].text,
        "Ngăn chặn kịp thời tin giả về dịch bệnh và thiên tai."
    );
    let split = clause(&d, "II.1-1");
    assert_eq!(
        split.text,
        "Chủ trì vận hành hệ thống giám sát tin giả 24/7 và chia sẻ kết quả cho các Sở Thông tin và \
         Truyền thông để xử lý tại địa phương."
    );
    assert_eq!(leads(clause(&d, "II.2")), ["so-tttt-ha-noi"]);
    assert!(
        clause(&d, "II.2")
            .text
            .ends_with("báo cáo kết quả hằng tuần:")
    );
    assert_eq!(leads(clause(&d, "II.3")), ["carriers"]);
    let closing = clause(&d, "closing-1");
    assert!(
        closing.text.ends_with("kết quả thực hiện Chỉ thị này./."),
        "{}",
        closing.text
    );
    assert_eq!(leads(closing), ["vp-bo"]);
    assert_eq!(d.signer.title, "KT. BỘ TRƯỞNG / THỨ TRƯỞNG");
    assert_eq!(d.recipients.len(), 3);
}

#[test]
fn bad_input_gets_a_clear_error() {
    assert_eq!(parse(""), Err(DirectiveError::Empty));
    assert_eq!(parse(" \n\r\n "), Err(DirectiveError::Empty));
    assert!(matches!(
        parse_bytes(&[0xff, 0xfe, 0x00, 0x01]),
        Err(DirectiveError::Binary { .. })
    ));
    assert!(matches!(
        parse_bytes(b"PK\x03\x04\x00\x00binary"),
        Err(DirectiveError::Binary { .. })
    ));
    let noise = vec![b'a'; 10 * 1024 * 1024];
    assert!(matches!(
        parse_bytes(&noise),
        Err(DirectiveError::TooLarge { .. })
    ));
    let letter = "Kính gửi anh Nam,\n\nHẹn gặp lại vào thứ Hai.\n";
    assert!(matches!(
        parse(letter),
        Err(DirectiveError::NotADirective(_))
    ));
    let no_number = "CHỈ THỊ\n\nVề việc x\n\n1. Làm.";
    assert!(matches!(
        parse(no_number),
        Err(DirectiveError::NotADirective(_))
    ));
    let no_clauses =
        "Số: 1/CT-TTg\n\nHà Nội, ngày 1 tháng 1 năm 2020\n\nCHỈ THỊ\n\nVề việc x\n\nChỉ có lời.";
    assert_eq!(parse(no_clauses), Err(DirectiveError::NoClauses));
    let bad_date =
        "Số: 1/CT-TTg\n\nHà Nội, ngày 31 tháng 2 năm 2020\n\nCHỈ THỊ\n\nVề việc x\n\n1. Làm.";
    assert!(matches!(
        parse(bad_date),
        Err(DirectiveError::NotADirective(_))
    ));
}

#[test]
fn overrides_that_do_not_fit_are_refused() {
    let c = bundled();
    let seed = taskforce_core::directive::SEED_DIRECTIVE.as_bytes();
    let cases = [
        ("directive = \"9/CT-TTg\"", "not 5/CT-BTTTT"),
        (
            "directive = \"5/CT-BTTTT\"\n[[clause]]\nid = \"IX.9\"\nlead = [\"vp-bo\"]",
            "IX.9",
        ),
        (
            "directive = \"5/CT-BTTTT\"\n[[clause]]\nid = \"I.2\"\nlead = [\"nobody\"]",
            "nobody",
        ),
    ];
    for (text, expected) in cases {
        let o = Overrides::from_toml(text).unwrap_or_else(|e| panic!("{e}"));
        match import(seed, &c, Some(&o)) {
            Err(ImportError::Overrides(e)) => assert!(e.to_string().contains(expected), "{e}"),
            other => panic!("accepted {text}: {other:?}"),
        }
    }
    assert!(matches!(
        Overrides::from_toml("directive = 5"),
        Err(OverridesError::Syntax(_))
    ));
}

/// The seed cut into random pieces, with random bytes: the importer answers, never panics.
fn seed_fragments() -> impl Strategy<Value = String> {
    let seed = taskforce_core::directive::SEED_DIRECTIVE;
    let lines: Vec<&'static str> = seed.lines().collect();
    proptest::collection::vec(
        prop_oneof![
            proptest::sample::select(lines).prop_map(str::to_string),
            "\\PC{0,40}",
            Just("\n".to_string()),
            Just("CHỈ THỊ".to_string()),
            Just("- ".to_string()),
            Just("**".to_string()),
        ],
        0..120,
    )
    .prop_map(|parts| parts.join("\n"))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..4096)) {
        let c = bundled();
        let _ = import(&bytes, &c, None);
    }

    #[test]
    fn arbitrary_text_never_panics(text in "\\PC{0,2000}") {
        let _ = parse(&text);
    }

    #[test]
    fn mangled_directives_never_panic(text in seed_fragments()) {
        let c = bundled();
        if let Ok(d) = import(text.as_bytes(), &c, None) {
            // Whatever parses has unique clause ids.
            let mut ids: Vec<_> = d.all_clauses().map(|c| c.id.clone()).collect();
            let n = ids.len();
            ids.sort();
            ids.dedup();
            prop_assert_eq!(ids.len(), n);
        }
    }
}
