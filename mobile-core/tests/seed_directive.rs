//! The bundled directive 05/CT-BTTTT parses into exactly the tree its text has.

use taskforce_core::directive::{
    Catalogue, Clause, ClauseKind, Directive, Role, SEED_DIRECTIVE, import,
};

fn seed() -> Directive {
    let catalogue = Catalogue::bundled().unwrap_or_else(|e| panic!("catalogue: {e}"));
    import(SEED_DIRECTIVE.as_bytes(), &catalogue, None).unwrap_or_else(|e| panic!("seed: {e}"))
}

fn clause<'d>(d: &'d Directive, id: &str) -> &'d Clause {
    d.clause(id).unwrap_or_else(|| panic!("no clause {id}"))
}

fn bullets(c: &Clause) -> usize {
    c.children
        .iter()
        .filter(|c| c.kind == ClauseKind::Bullet)
        .count()
}

fn units(c: &Clause, role: Role) -> Vec<&str> {
    c.units
        .iter()
        .filter(|a| a.role == role)
        .map(|a| a.unit.as_str())
        .collect()
}

#[test]
fn header_recipients_and_signer() {
    let d = seed();
    assert_eq!(d.number, "5/CT-BTTTT");
    assert_eq!(d.issuer, "Bộ Thông tin và Truyền thông");
    assert_eq!(d.date.to_string(), "2020-02-02");
    assert_eq!(d.place.as_deref(), Some("Hà Nội"));
    assert!(
        d.title
            .starts_with("Về việc thực hiện công tác phòng, chống dịch bệnh")
    );
    assert!(d.title.ends_with("vi rút Corona gây ra"));
    assert_eq!(d.preamble.len(), 3);
    assert!(d.preamble[2].starts_with("Bộ trưởng Bộ Thông tin và Truyền thông chỉ thị"));
    assert_eq!(d.recipients.len(), 8);
    assert_eq!(
        d.recipients[0],
        "Thủ tướng và các Phó TTg Chính phủ (để b/c);"
    );
    assert_eq!(d.recipients[7], "Lưu: VT, VP.");
    assert_eq!(d.signer.title, "BỘ TRƯỞNG");
    assert_eq!(d.signer.name, "Nguyễn Mạnh Hùng");
}

#[test]
fn the_exact_clause_tree() {
    let d = seed();
    let top: Vec<(&str, ClauseKind)> = d.clauses.iter().map(|c| (c.id.as_str(), c.kind)).collect();
    assert_eq!(
        top,
        [
            ("I", ClauseKind::Section),
            ("II", ClauseKind::Section),
            ("III", ClauseKind::Section),
            ("closing-1", ClauseKind::Closing),
            ("closing-2", ClauseKind::Closing),
            ("closing-3", ClauseKind::Closing),
        ]
    );
    let ids = |c: &Clause| c.children.iter().map(|c| c.id.clone()).collect::<Vec<_>>();
    assert_eq!(ids(clause(&d, "I")), ["I.1", "I.2", "I.3"]);
    assert_eq!(ids(clause(&d, "I.1")), ["I.1.a", "I.1.b"]);
    assert_eq!(clause(&d, "I.1.a").kind, ClauseKind::Lettered);
    assert_eq!(ids(clause(&d, "II")), ["II.1", "II.2", "II.3", "II.4"]);
    let dash_counts: Vec<usize> = clause(&d, "II").children.iter().map(bullets).collect();
    assert_eq!(dash_counts, [3, 6, 2, 2]);
    assert_eq!(clause(&d, "II.2-3").kind, ClauseKind::Bullet);
    assert!(
        clause(&d, "II.2-3")
            .text
            .starts_with("Xây dựng, đăng tải các video clip")
    );
    let iii = ids(clause(&d, "III"));
    assert_eq!(
        iii,
        (1..=15).map(|n| format!("III.{n}")).collect::<Vec<_>>()
    );
    assert_eq!(bullets(clause(&d, "III.8")), 5);
    let iii10 = clause(&d, "III.10");
    assert_eq!(iii10.heading.as_deref(), Some("Cục Thông tin đối ngoại"));
    assert!(
        iii10
            .text
            .starts_with("Tham gia triển khai truyền thông trong nước")
    );
    assert_eq!(ids(iii10), ["III.10-1", "III.10-2"]);
    assert_eq!(clause(&d, "III.2").heading.as_deref(), Some("Vụ Bưu chính"));
    assert!(
        clause(&d, "III.2")
            .text
            .starts_with("Chỉ đạo các doanh nghiệp bưu chính")
    );
    assert!(
        clause(&d, "closing-3")
            .text
            .starts_with("Văn phòng Bộ chịu trách nhiệm kiểm tra")
    );
    assert_eq!(d.all_clauses().count(), 73);
}

#[test]
fn pdf_damage_is_repaired() {
    let d = seed();
    let ii26 = clause(&d, "II.2-6");
    assert!(
        ii26.text
            .contains("trách nhiệm quốc tế của Việt Nam, tinh thần hợp tác"),
        "{}",
        ii26.text
    );
    let iii31 = clause(&d, "III.3-1");
    assert!(
        iii31.text.contains("đang quản lý, cách ly"),
        "{}",
        iii31.text
    );
    for c in d.all_clauses() {
        assert!(
            !c.text.contains("**"),
            "{} keeps markdown: {}",
            c.id,
            c.text
        );
        assert!(!c.text.contains('\r'), "{} keeps a CR", c.id);
    }
    assert!(
        clause(&d, "II.1-3")
            .text
            .contains("hashtag #ICT_anti_nCoV,")
    );
}

#[test]
fn assignments_follow_section_iii() {
    let d = seed();
    for id in ["III.3", "III.3-1", "III.3-2", "III.3-3"] {
        assert_eq!(units(clause(&d, id), Role::Lead), ["cuc-vt"], "{id}");
    }
    for id in ["III.14", "III.14-1", "III.14-2", "III.14-3"] {
        let leads = units(clause(&d, id), Role::Lead);
        assert!(
            leads.contains(&"carriers") && leads.contains(&"platforms"),
            "{id}: {leads:?}"
        );
    }
    let sms = clause(&d, "II.1-1");
    assert!(sms.text.contains("nhắn tin"));
    assert_eq!(units(sms, Role::Lead), ["cuc-vt"]);
    assert_eq!(units(sms, Role::Coordinating), ["carriers"]);
    assert_eq!(units(clause(&d, "closing-3"), Role::Lead), ["vp-bo"]);
    assert_eq!(units(clause(&d, "III.2"), Role::Lead), ["vu-buu-chinh"]);
    assert_eq!(units(clause(&d, "III.2"), Role::Coordinating), ["postal"]);
    assert_eq!(units(clause(&d, "III.11"), Role::Lead), ["so-tttt"]);
    // "phối hợp với Cục Phát thanh, …" makes that Cục coordinate on III.5-4.
    assert!(units(clause(&d, "III.5-4"), Role::Coordinating).contains(&"cuc-ptth"));
}

#[test]
fn every_actionable_clause_has_a_responsible_unit() {
    let d = seed();
    let catalogue = Catalogue::bundled().unwrap_or_else(|e| panic!("catalogue: {e}"));
    for c in d.all_clauses().filter(|c| c.is_actionable()) {
        assert!(
            c.units.iter().any(|a| a.role == Role::Lead),
            "{} has no lead: {}",
            c.id,
            c.text
        );
        for a in &c.units {
            let unit = catalogue
                .get(&a.unit)
                .unwrap_or_else(|| panic!("{} unknown", a.unit));
            assert!(unit.is_assignable(), "{} given to {}", c.id, a.unit);
        }
    }
}
