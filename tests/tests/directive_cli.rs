//! `taskforce directive parse` as a user runs it: the real binary, real files.

use assert_cmd::Command;

fn taskforce() -> Command {
    Command::cargo_bin("taskforce").unwrap_or_else(|e| panic!("taskforce binary: {e}"))
}

fn seed_path() -> String {
    format!(
        "{}/../mobile-core/data/05-CT-BTTTT.txt",
        env!("CARGO_MANIFEST_DIR")
    )
}

#[test]
fn parse_seed_as_json() {
    let out = taskforce()
        .args(["directive", "parse", &seed_path(), "--json"])
        .output();
    let out = out.unwrap_or_else(|e| panic!("run: {e}"));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let doc: serde_json::Value =
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("stdout is not JSON: {e}"));
    assert_eq!(doc["number"], "5/CT-BTTTT");
    assert_eq!(doc["issuer"], "Bộ Thông tin và Truyền thông");
    assert_eq!(doc["date"], "2020-02-02");
    assert_eq!(doc["signer"]["title"], "BỘ TRƯỞNG");
    assert_eq!(doc["signer"]["name"], "Nguyễn Mạnh Hùng");
    assert_eq!(doc["recipients"].as_array().map(Vec::len), Some(8));
    let clauses = doc["clauses"].as_array().cloned().unwrap_or_default();
    let ids: Vec<&str> = clauses.iter().filter_map(|c| c["id"].as_str()).collect();
    assert_eq!(
        ids,
        ["I", "II", "III", "closing-1", "closing-2", "closing-3"]
    );
    let section = &clauses[0];
    for key in ["id", "kind", "heading", "text", "units", "children"] {
        assert!(section.get(key).is_some(), "clause lacks {key}");
    }
    assert_eq!(section["kind"], "section");
    let last = &clauses[5];
    assert_eq!(last["kind"], "closing");
    assert_eq!(last["units"][0]["unit"], "vp-bo");
    assert_eq!(last["units"][0]["name"], "Văn phòng Bộ");
    assert_eq!(last["units"][0]["role"], "lead");
    let sms = &clauses[1]["children"][0]["children"][0];
    assert_eq!(sms["id"], "II.1-1");
    assert_eq!(sms["kind"], "bullet");
}

#[test]
fn readable_tree_by_default() {
    let out = taskforce()
        .args(["directive", "parse", &seed_path()])
        .output();
    let out = out.unwrap_or_else(|e| panic!("run: {e}"));
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("Chỉ thị số 5/CT-BTTTT"));
    assert!(text.contains("III.10-2"));
    assert!(text.contains("vp-bo (chủ trì)"));
}

#[test]
fn bad_input_exits_non_zero_with_a_message() {
    let dir = std::env::temp_dir().join(format!("taskforce-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{e}"));
    let cases: [(&str, &[u8], &str); 3] = [
        ("empty.txt", b"", "empty"),
        ("binary.bin", b"\x7fELF\x02\x01\x01\x00\x00", "binary"),
        (
            "letter.txt",
            "Kính gửi anh Nam,\nhẹn gặp lại.".as_bytes(),
            "not a directive",
        ),
    ];
    for (name, bytes, expected) in cases {
        let path = dir.join(name);
        std::fs::write(&path, bytes).unwrap_or_else(|e| panic!("{e}"));
        let out = taskforce()
            .args(["directive", "parse", "--json"])
            .arg(&path)
            .output();
        let out = out.unwrap_or_else(|e| panic!("run: {e}"));
        assert!(!out.status.success(), "{name} accepted");
        assert!(out.stdout.is_empty(), "{name} printed to stdout");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(expected), "{name}: {err}");
    }
    let missing = taskforce()
        .args(["directive", "parse", "/nonexistent/x.txt"])
        .output();
    let missing = missing.unwrap_or_else(|e| panic!("run: {e}"));
    assert!(!missing.status.success());
    assert!(String::from_utf8_lossy(&missing.stderr).contains("cannot open"));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn catalogue_check_accepts_the_bundled_file_and_refuses_a_broken_one() {
    let path = format!(
        "{}/../mobile-core/data/units.toml",
        env!("CARGO_MANIFEST_DIR")
    );
    let ok = taskforce().args(["catalogue", "check", &path]).output();
    let ok = ok.unwrap_or_else(|e| panic!("run: {e}"));
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    assert!(String::from_utf8_lossy(&ok.stdout).contains("OK"));
    let broken = std::env::temp_dir().join(format!("units-broken-{}.toml", std::process::id()));
    std::fs::write(&broken, "[[unit]]\nid = \"x\"\nname = \"X\"\nen = \"X\"\nkind = \"department\"\ngroups = [\"nope\"]\n")
        .unwrap_or_else(|e| panic!("{e}"));
    let out = taskforce()
        .args(["catalogue", "check"])
        .arg(&broken)
        .output();
    let out = out.unwrap_or_else(|e| panic!("run: {e}"));
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a group"));
    let _ = std::fs::remove_file(&broken);
}

/// A clause of the JSON tree and its descendants, depth first: (id, lead units).
fn flatten(clauses: &serde_json::Value, out: &mut Vec<(String, Vec<String>)>) {
    for c in clauses.as_array().into_iter().flatten() {
        let leads = c["units"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|a| a["role"] == "lead")
            .filter_map(|a| a["unit"].as_str().map(str::to_string))
            .collect();
        out.push((c["id"].as_str().unwrap_or_default().to_string(), leads));
        flatten(&c["children"], out);
    }
}

/// `taskforce directive parse FILE --json` on texts as they really arrive (OCR of scans,
/// websites, older numbering, the gazette): the expected tree, signer, date, leads and warnings.
#[test]
fn parse_realworld_texts_as_json() {
    struct Case {
        file: &'static str,
        catalogue: Option<&'static str>,
        number: &'static str,
        date: &'static str,
        signer: (&'static str, &'static str),
        ids: &'static [&'static str],
        leads: &'static [(&'static str, &'static str)],
        warnings: &'static [&'static str],
    }
    let cases = [
        Case {
            file: "ocr-scan-ct-btttt.txt",
            catalogue: None,
            number: "12/CT-BTTTT",
            date: "2023-09-10",
            signer: ("KT. BỘ TRƯỞNG / THỨ TRƯỞNG", "Nguyễn Hữu Phong"),
            ids: &[
                "I", "II", "II.1", "II.1.a", "II.1.b", "II.1.c", "II.2", "II.2.a", "II.2.c", "III",
            ],
            leads: &[("II.1.a", "cuc-attt"), ("II.2", "cuc-vt"), ("III", "vp-bo")],
            warnings: &[
                "number",
                "number",
                "date",
                "clause:I",
                "clause:II",
                "clause:II.1.c",
                "clause:II.2.c",
                "clause:III",
                "signer",
            ],
        },
        Case {
            file: "website-ct-ttg.txt",
            catalogue: None,
            number: "21/CT-TTg",
            date: "2022-08-08",
            signer: ("KT. THỦ TƯỚNG / PHÓ THỦ TƯỚNG", "Trần Quốc Khánh"),
            ids: &["1", "1.a", "1.b", "2", "3", "4"],
            leads: &[("2", "postal"), ("3", "platforms")],
            warnings: &["title"],
        },
        Case {
            file: "old-phu-thu-tuong.txt",
            catalogue: None,
            number: "112/TTg",
            date: "1979-06-12",
            signer: ("KT. THỦ TƯỚNG / PHÓ THỦ TƯỚNG", "Lê Văn Hòa"),
            ids: &["1", "1.a", "1.b", "2", "3", "4"],
            leads: &[("1", "cuc-bdtw"), ("2", "cuc-xbin"), ("3", "postal")],
            warnings: &[],
        },
        Case {
            file: "gazette-ct-ttg.txt",
            catalogue: None,
            number: "18/CT-TTg",
            date: "2021-06-24",
            signer: ("KT. THỦ TƯỚNG / PHÓ THỦ TƯỚNG", "Phạm Minh Tâm"),
            ids: &[
                "I", "I.1", "I.2", "II", "II.1", "II.1-1", "II.1-2", "II.2", "III",
            ],
            leads: &[("I.1", "cuc-vt"), ("I.2", "cuc-tan-so"), ("II.2", "postal")],
            warnings: &[],
        },
        Case {
            file: "ocr-hoi-dong-chinh-phu.txt",
            catalogue: None,
            number: "20/CT",
            date: "1980-12-05",
            signer: (
                "TM. HỘI ĐỒNG CHÍNH PHỦ / KT. THỦ TƯỚNG / PHÓ THỦ TƯỚNG",
                "Đặng Văn Lâm",
            ),
            ids: &["I", "II", "II.1", "II.1.a", "II.1.b", "II.1.c", "II.2"],
            leads: &[("II.1", "cuc-tan-so"), ("II.2", "cuc-vt")],
            warnings: &["heading", "number", "date", "clause:I", "clause:II.1.c"],
        },
        Case {
            file: "website-ocr-ct-byt.txt",
            catalogue: Some("ct-byt-units.toml"),
            number: "07/CT-BYT",
            date: "2024-10-03",
            signer: ("KT. BỘ TRƯỞNG / THỨ TRƯỞNG", "Đỗ Minh Quang"),
            ids: &["I", "II", "II.1", "II.1.a", "II.1.b", "II.2"],
            leads: &[("II.1.a", "cuc-ytdp"), ("II.2", "so-y-te")],
            warnings: &["title", "date"],
        },
    ];
    let fixtures = format!(
        "{}/../mobile-core/tests/fixtures",
        env!("CARGO_MANIFEST_DIR")
    );
    for case in cases {
        let mut cmd = taskforce();
        cmd.env_remove("TASKFORCE_CATALOGUE").args([
            "directive",
            "parse",
            &format!("{fixtures}/realworld/{}", case.file),
            "--json",
        ]);
        if let Some(catalogue) = case.catalogue {
            cmd.arg("--catalogue")
                .arg(format!("{fixtures}/{catalogue}"));
        }
        let out = cmd.output().unwrap_or_else(|e| panic!("run: {e}"));
        assert!(
            out.status.success(),
            "{}: {}",
            case.file,
            String::from_utf8_lossy(&out.stderr)
        );
        let doc: serde_json::Value = serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("{}: stdout is not JSON: {e}", case.file));
        assert_eq!(doc["number"], case.number, "{}", case.file);
        assert_eq!(doc["date"], case.date, "{}", case.file);
        assert_eq!(doc["signer"]["title"], case.signer.0, "{}", case.file);
        assert_eq!(doc["signer"]["name"], case.signer.1, "{}", case.file);
        let mut tree = Vec::new();
        flatten(&doc["clauses"], &mut tree);
        let ids: Vec<&str> = tree.iter().map(|(id, _)| id.as_str()).collect();
        assert_eq!(ids, case.ids, "{}", case.file);
        for (id, unit) in case.leads {
            let leads = tree
                .iter()
                .find(|(i, _)| i == id)
                .map(|(_, l)| l.clone())
                .unwrap_or_default();
            assert_eq!(leads, [unit.to_string()], "{}: leads of {id}", case.file);
        }
        let warnings: Vec<&str> = doc["warnings"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|w| w["field"].as_str())
            .collect();
        assert_eq!(warnings, case.warnings, "{}", case.file);
        for w in doc["warnings"].as_array().into_iter().flatten() {
            assert!(
                w["vi"].as_str().is_some_and(|s| !s.is_empty()),
                "{}",
                case.file
            );
            assert!(
                w["en"].as_str().is_some_and(|s| !s.is_empty()),
                "{}",
                case.file
            );
        }
    }
}
