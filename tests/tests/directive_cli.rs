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
