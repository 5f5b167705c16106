//! Hotline-free billing (issue 23): call records generated with their truth and verified
//! (every figure), by the command line and by upload; the result in the carrier's document
//! (its phones get it, the audit chain holds, no phone can forge one); the confirmation it
//! contradicts shown as contradicted by the API, the dashboard and the office's digest; bad
//! files refused with their line and nothing recorded; an upload past the limit refused with
//! 413 while streaming; the register and a carrier's mapping kept by their owners.

mod common;

use std::io::Read;

use common::*;
use taskforce_core::{
    cdr::{self, RegisteredHotline},
    doc::{Confirmation, Day, Op},
};
use taskforce_server::hotlines::sample::{self, Layout, Spec, Truth};

fn day(y: i32, m: u32, d: u32) -> Day {
    Day::from_date(chrono::NaiveDate::from_ymd_opt(y, m, d).must())
}

/// A generated file and its truth.
fn generated(spec: &Spec) -> (tempfile_path::Path, Truth) {
    let path = tempfile_path::Path::new("cdr.csv");
    let file = std::fs::File::create(&path.0).must();
    let truth = sample::generate(
        std::io::BufWriter::new(file),
        spec,
        &sample::hotlines_2020(),
    )
    .must();
    (path, truth)
}

/// A temporary file removed when dropped.
mod tempfile_path {
    pub struct Path(pub std::path::PathBuf);
    impl Path {
        pub fn new(name: &str) -> Self {
            let n = super::COUNTER.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            Path(
                std::env::temp_dir()
                    .join(format!("taskforce-cdr-{}-{n}-{name}", std::process::id())),
            )
        }
        pub fn text(&self) -> String {
            self.0.display().to_string()
        }
    }
    impl Drop for Path {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.0);
        }
    }
}

/// Every figure of `report` (the JSON a verification answers) against `truth`.
fn check_figures(report: &serde_json::Value, truth: &Truth) {
    let n = |k: &str| report[k].as_u64().unwrap_or(u64::MAX);
    assert_eq!(n("rows"), truth.rows, "rows");
    assert_eq!(n("checked"), truth.checked, "checked");
    assert_eq!(n("broken"), truth.broken, "broken");
    assert_eq!(n("hotline_calls"), truth.hotline_calls, "hotline calls");
    assert_eq!(
        n("outside_free_period"),
        truth.outside_free_period,
        "outside"
    );
    assert_eq!(n("charged"), truth.charged, "charged");
    assert_eq!(
        n("unreadable_numbers"),
        truth.unreadable_numbers,
        "unreadable numbers"
    );
    assert_eq!(
        n("broken_to_hotlines"),
        truth.broken_to_hotlines,
        "broken rows to hotlines"
    );
    let lines: Vec<u64> = report["broken_rows"]
        .as_array()
        .must()
        .iter()
        .map(|b| b["line"].as_u64().must())
        .collect();
    assert_eq!(
        lines,
        truth
            .broken_lines
            .iter()
            .take(20)
            .copied()
            .collect::<Vec<_>>()
    );
    let offending = report["offending"].as_array().must();
    assert_eq!(offending.len(), truth.first_charged.len());
    for (o, t) in offending.iter().zip(&truth.first_charged) {
        assert_eq!(o["line"].as_u64(), Some(t.line));
        assert_eq!(o["caller"], t.caller.as_str(), "the caller masked");
        assert_eq!(o["hotline"], t.hotline.as_str());
        assert_eq!(
            o["start"].as_i64(),
            Some(t.start),
            "line {}: the time",
            t.line
        );
        assert_eq!(o["seconds"].as_u64(), Some(t.seconds));
        assert_eq!(o["charge"].as_i64(), Some(t.charge));
        assert_eq!(o["currency"], "VND");
    }
    let first: Vec<u64> = truth.charged_lines.iter().take(20).copied().collect();
    assert_eq!(
        truth
            .first_charged
            .iter()
            .map(|c| c.line)
            .collect::<Vec<_>>(),
        first
    );
    let total: i64 = report["wrongly_charged"]
        .as_array()
        .must()
        .iter()
        .map(|p| {
            assert_eq!(p[0], "VND");
            p[1].as_i64().must()
        })
        .sum();
    assert_eq!(total, truth.wrongly_charged, "wrongly charged");
    let hotlines = report["hotlines"].as_array().must();
    assert_eq!(hotlines.len(), truth.hotlines.len());
    for (i, h) in hotlines.iter().enumerate() {
        let t = truth.hotlines[i];
        assert_eq!(
            (
                h["calls"].as_u64().must(),
                h["in_free_period"].as_u64().must(),
                h["charged"].as_u64().must()
            ),
            (t.0, t.1, t.2),
            "hotline {i}"
        );
        assert_eq!(h["first_charged"].as_i64(), t.3.map(|d| i64::from(d.0)));
        assert_eq!(h["last_charged"].as_i64(), t.4.map(|d| i64::from(d.0)));
        let amount: i64 = h["wrongly_charged"]
            .as_array()
            .must()
            .iter()
            .map(|p| p[1].as_i64().must())
            .sum();
        assert_eq!(amount, t.5, "hotline {i}: the amount");
    }
    assert_eq!(
        report["first_day"].as_i64(),
        truth.first_day.map(|d| i64::from(d.0))
    );
    assert_eq!(
        report["last_day"].as_i64(),
        truth.last_day.map(|d| i64::from(d.0))
    );
}

/// The reader alone, on files of both layouts and several seeds: every figure is the
/// generator's, whatever way the hotlines were written.
#[test]
fn generated_files_are_read_figure_by_figure() {
    for (layout, seed) in [
        (Layout::Generic, 1),
        (Layout::Generic, 2),
        (Layout::Asterisk, 3),
    ] {
        let spec = Spec {
            rows: 20_000,
            seed,
            layout,
            broken_every: 499,
            ..Spec::default()
        };
        let mut bytes = Vec::new();
        let truth = sample::generate(&mut bytes, &spec, &sample::hotlines_2020()).must();
        assert!(truth.charged > 20 && truth.outside_free_period > 5 && truth.broken > 20);
        let report = cdr::verify(
            &bytes[..],
            &sample::hotlines_2020(),
            &cdr::Options::default(),
        )
        .must();
        check_figures(&serde_json::to_value(&report).must_json(), &truth);
        assert_eq!(report.bytes, bytes.len() as u64);
        use sha2::Digest;
        assert_eq!(
            report.sha256,
            <[u8; 32]>::from(sha2::Sha256::digest(&bytes))
        );
        // Free periods that end inside the file, one that began before it: calls after
        // the end (and on the last day, included) generated and counted.
        let ended = vec![
            RegisteredHotline {
                number: "19003228".into(),
                free_from: day(2020, 1, 1),
                free_until: Some(day(2020, 2, 10)),
            },
            RegisteredHotline {
                number: "1900 9095".into(),
                free_from: day(2020, 2, 1),
                free_until: Some(day(2020, 2, 20)),
            },
        ];
        let mut bytes = Vec::new();
        let truth = sample::generate(&mut bytes, &spec, &ended).must();
        assert!(truth.outside_free_period > 10 && truth.charged > 10);
        let r = cdr::verify(&bytes[..], &ended, &cdr::Options::default()).must();
        check_figures(&serde_json::to_value(&r).must_json(), &truth);
    }
}

trait MustJson {
    fn must_json(self) -> serde_json::Value;
}
impl MustJson for Result<serde_json::Value, serde_json::Error> {
    fn must_json(self) -> serde_json::Value {
        self.must()
    }
}

/// POST a body to the upload endpoint: (status, JSON).
fn upload(app: &TestApp, token: &str, query: &str, body: impl Read) -> (u16, serde_json::Value) {
    let mut body = body;
    let mut resp = Http::agent()
        .post(&format!("{}/api/v1/carriers/{query}", app.base))
        .header("Authorization", &format!("Bearer {token}"))
        .header("Content-Type", "text/csv")
        .send(ureq::SendBody::from_reader(&mut body))
        .must();
    let status = resp.status().as_u16();
    (status, resp.body_mut().read_json().unwrap_or_default())
}

fn confirmation(from: Day) -> Confirmation {
    Confirmation {
        carrier: "viettel".into(),
        hotline: "1900 9095".into(),
        free_from: from,
        attested_by: "Phòng cước / billing".into(),
        evidence: None,
        at: chrono::Utc::now().timestamp(),
    }
}

fn an_upload_is_evidence_in_the_carriers_document(db: TestDb) {
    let app = spawn_app_with_members(db);
    let office = app.token("vanphong");
    // Viettel's phone confirms both hotlines free from 1 February 2020.
    let mut phone = app.phone("viettel.a", "viettel");
    phone.edit(Op::Confirm(confirmation(day(2020, 2, 1))));
    let mut other = confirmation(day(2020, 2, 1));
    other.hotline = "19003228".into();
    phone.edit(Op::Confirm(other));
    phone.sync(&app);
    let (_, first) = app.get(&office, "/api/v1/hotlines/table");
    let cell = |t: &serde_json::Value, carrier: &str, h: &str| {
        t["cells"]
            .as_array()
            .must()
            .iter()
            .find(|c| c["carrier"] == carrier && c["hotline"] == h)
            .map(|c| c["state"].as_str().must().to_string())
            .must()
    };
    assert_eq!(cell(&first, "viettel", "19009095"), "confirmed");
    assert_eq!(cell(&first, "mobifone", "19009095"), "missing");
    let previous = with_db(&app.db, async |db| {
        let catalogue = taskforce_core::Catalogue::bundled().must();
        let today = chrono::Utc::now().date_naive();
        taskforce_server::progress::digest::office_digest(
            &db,
            &catalogue,
            today,
            chrono::Utc::now().timestamp(),
            None,
            3,
        )
        .await
        .must()
        .1
    });

    // Call records with calls to 1900 9095 charged in February.
    let spec = Spec {
        rows: 20_000,
        seed: 9,
        ..Spec::default()
    };
    let mut bytes = Vec::new();
    let truth = sample::generate(&mut bytes, &spec, &sample::hotlines_2020()).must();
    assert!(truth.hotlines[1].2 > 0);
    // Another unit's member may not, nor an unknown carrier, and nothing is read.
    let cucvt = app.token("cucvt.a");
    assert_eq!(upload(&app, &cucvt, "viettel/cdr", &bytes[..]).0, 403);
    assert_eq!(upload(&app, &office, "nobody/cdr", &bytes[..]).0, 404);
    let token = app.token("viettel.a");
    let (status, body) = upload(&app, &token, "viettel/cdr?file_name=feb.csv", &bytes[..]);
    assert_eq!(status, 200, "{body}");
    check_figures(&body["report"], &truth);
    use sha2::Digest;
    let sha = taskforce_core::cdr::hex(&sha2::Sha256::digest(&bytes));
    assert_eq!(body["report"]["sha256"], sha.as_str());

    // The phone gets it: the verification, and the confirmation contradicted.
    phone.sync(&app);
    let held = phone.replica.doc().verifications();
    assert_eq!(held.len(), 1);
    assert_eq!(
        held[0].1.sha256.to_vec(),
        sha2::Sha256::digest(&bytes).to_vec()
    );
    assert_eq!(held[0].1.uploaded_by, "viettel.a");
    assert_eq!(held[0].1.file_name, "feb.csv");
    assert!(
        phone
            .replica
            .doc()
            .is_contradicted(&confirmation(day(2020, 2, 1)))
    );
    // Confirmed again from after the last charged call: not contradicted.
    let after = truth.hotlines[1].4.must();
    assert!(
        !phone
            .replica
            .doc()
            .is_contradicted(&confirmation(Day(after.0 + 1)))
    );

    // The office sees it: the table, the confirmations, the verifications, the page.
    let (_, table) = app.get(&office, "/api/v1/hotlines/table");
    assert_eq!(cell(&table, "viettel", "19009095"), "contradicted");
    let (_, listed) = app.get(&office, "/api/v1/confirmations?state=contradicted");
    assert_eq!(
        listed.as_array().must().len(),
        usize::from(truth.hotlines[0].2 > 0) + 1
    );
    let (_, vs) = app.get(&office, "/api/v1/verifications?carrier=viettel");
    assert_eq!(vs[0]["sha256"], sha.as_str());
    assert_eq!(vs[0]["charged"].as_u64(), Some(truth.charged));
    assert_eq!(
        vs[0]["wrongly_charged"]["VND"].as_str().must(),
        taskforce_core::cdr::format_amount(truth.wrongly_charged)
    );
    // Another carrier's member reads only its own.
    assert_eq!(
        app.get(&cucvt, "/api/v1/verifications?carrier=viettel").0,
        403
    );
    let (status, page) = app.fetch(&office, "/hotlines");
    let page = String::from_utf8_lossy(&page);
    assert_eq!(status, 200);
    assert!(
        page.contains(
            "data-carrier=\"viettel\" data-hotline=\"19009095\" data-state=\"contradicted\""
        ),
        "{page}"
    );
    assert!(
        page.contains("data-carrier=\"mobifone\" data-hotline=\"19009095\" data-state=\"missing\""),
        "{page}"
    );
    assert!(
        page.contains(&format!("dòng {} — ", truth.charged_lines[0])),
        "the first offending call"
    );
    assert!(page.contains("Mâu thuẫn với dữ liệu cước"));
    assert!(page.contains(&sha[..16]));

    // The office's next digest lists it as contradicted since the one before.
    let digest = with_db(&app.db, async move |db| {
        let catalogue = taskforce_core::Catalogue::bundled().must();
        let today = chrono::Utc::now().date_naive();
        taskforce_server::progress::digest::office_digest(
            &db,
            &catalogue,
            today,
            chrono::Utc::now().timestamp(),
            Some(&previous),
            3,
        )
        .await
        .must()
        .0
    });
    let lines = &digest.directives[0].contradicted.shown;
    assert!(
        lines.iter().any(|l| l.carrier.id == "viettel"
            && l.hotline == "1900 9095"
            && l.state == "contradicted"),
        "{lines:?}"
    );

    // No phone makes a verification: the sync is refused, the document unchanged.
    let ops_before = app.document(&token, "viettel")["ops"].clone();
    let mut forged = held[0].1.clone();
    forged.hotlines.iter_mut().for_each(|h| h.charged = 0);
    phone.edit(Op::Verify(Box::new(forged)));
    let refused = phone.try_sync(&app);
    assert!(matches!(refused, Err((403, _))), "{refused:?}");
    assert_eq!(app.document(&token, "viettel")["ops"], ops_before);

    // The audit chain holds, the verifier's device signed it.
    let url = app.db.url().to_string();
    let (ok, text) = taskforce(&["audit", "verify", "--db", &url]);
    assert!(ok, "{text}");
    let devices = app.query_i64(
        "SELECT COUNT(*) FROM devices d JOIN users u ON u.id = d.user_id WHERE u.username = 'taskforce.verifier'",
    );
    assert_eq!(devices, 1);
}

fn bad_files_are_refused_and_nothing_is_recorded(db: TestDb) {
    let app = spawn_app_with(db, |c| c.cdr_upload_limit = 1024 * 1024);
    app.create_user(
        "viettel.a",
        taskforce_server::auth::Role::Member,
        &[("viettel", false)],
    );
    let token = app.token("viettel.a");
    let ops = app.document(&token, "viettel")["ops"].clone();
    let header = "caller,called,start_time,duration,charge\n";
    let good = "0912345678,19009095,2020-02-03 08:15:00,60,1500\n";
    for (body, words) in [
        ("a,b,c\n1,2,3\n".to_string(), "line 1: unknown layout"),
        (String::new(), "the file is empty"),
        (
            format!("{header}{}", "x\n".repeat(1001)),
            "more than 1000 broken rows, and more than 1 % of the rows (line 1002",
        ),
        (
            format!("{header}{}", "9".repeat(70_000)),
            "line 2: longer than 65536 bytes",
        ),
        (
            "caller,called,start_time\n1,2,3\n".into(),
            "line 1: unknown layout",
        ),
    ] {
        let (status, e) = upload(&app, &token, "viettel/cdr", body.as_bytes());
        assert_eq!(status, 400, "{e}");
        assert!(e["message"].as_str().must().contains(words), "{e}");
    }
    let mut latin = format!("{header}{good}").into_bytes();
    latin.extend_from_slice(b"0912,19009095,2020-02-03 08:15:00,60,0,\xe0\n");
    let (status, e) = upload(&app, &token, "viettel/cdr", &latin[..]);
    assert_eq!(status, 400);
    assert!(
        e["message"].as_str().must().contains("line 3: not UTF-8"),
        "{e}"
    );
    // A few broken rows are reported, not fatal.
    let few = format!("{header}{good}broken\n{good}");
    let (status, body) = upload(&app, &token, "viettel/cdr", few.as_bytes());
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["report"]["broken_rows"][0]["line"], 3);
    assert_eq!(app.query_i64("SELECT COUNT(*) FROM verifications"), 1);

    // Past the limit, streamed without a length: 413, nothing recorded.
    struct Endless(u64);
    impl Read for Endless {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            if self.0 == 0 {
                return Ok(0);
            }
            let line = b"0912345678,0987654321,2020-02-03 08:15:00,60,1500\n";
            let n = (buf.len() / line.len()).max(1).min(self.0 as usize);
            for i in 0..n {
                buf[i * line.len()..(i + 1) * line.len()].copy_from_slice(line);
            }
            self.0 -= n as u64;
            Ok(n * line.len())
        }
    }
    // 1.5 MB, chunked (no Content-Length): refused once past the 1 MiB limit.
    let body = std::io::Cursor::new(header.as_bytes()).chain(Endless(30_000));
    let (status, e) = upload(&app, &token, "viettel/cdr", body);
    assert_eq!(status, 413, "{e}");
    assert_eq!(e["error"], "too_large");
    // A Content-Length past the limit: refused before a byte is read.
    let mut big = header.as_bytes().to_vec();
    big.resize(1024 * 1024 + 10, b'9');
    let mut resp = Http::agent()
        .post(&format!("{}/api/v1/carriers/viettel/cdr", app.base))
        .header("Authorization", &format!("Bearer {token}"))
        .send(&big[..])
        .must();
    assert_eq!(resp.status().as_u16(), 413);
    let e: serde_json::Value = resp.body_mut().read_json().must();
    assert!(e["message"].as_str().must().contains("1048576"), "{e}");
    assert_eq!(app.query_i64("SELECT COUNT(*) FROM verifications"), 1);

    // Streamed: a body whose first line is refused is answered while the rest has not been
    // sent (a server that held the body would wait for its end).
    use std::io::Write;
    let addr = app.base.trim_start_matches("http://").to_string();
    let mut socket = std::net::TcpStream::connect(&addr).must();
    socket
        .set_read_timeout(Some(std::time::Duration::from_secs(30)))
        .must();
    let first = "a,b,c\n1,2,3\n";
    write!(
        socket,
        "POST /api/v1/carriers/viettel/cdr HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\nContent-Type: text/csv\r\nTransfer-Encoding: chunked\r\n\r\n{:x}\r\n{first}\r\n",
        first.len()
    )
    .must();
    socket.flush().must();
    let mut answer = [0u8; 12];
    socket.read_exact(&mut answer).must();
    assert_eq!(&answer, b"HTTP/1.1 400", "answered before the body ended");
    drop(socket);
    let after = app.document(&token, "viettel")["ops"].as_i64().must();
    assert_eq!(
        after,
        ops.as_i64().must() + 1,
        "only the good file's operation"
    );
}

fn the_register_and_mappings_are_kept_by_their_owners(db: TestDb) {
    let app = spawn_app_with_members(db);
    let office = app.token("vanphong");
    let member = app.token("viettel.a");
    let (_, list) = app.get(&member, "/api/v1/hotlines");
    let numbers: Vec<&str> = list
        .as_array()
        .must()
        .iter()
        .map(|h| h["number"].as_str().must())
        .collect();
    assert_eq!(numbers, ["19003228", "19009095"]);
    let put = |token: &str, body: serde_json::Value| {
        let mut resp = Http::agent()
            .put(&format!("{}/api/v1/hotlines", app.base))
            .header("Authorization", &format!("Bearer {token}"))
            .send_json(body)
            .must();
        (
            resp.status().as_u16(),
            resp.body_mut()
                .read_json::<serde_json::Value>()
                .unwrap_or_default(),
        )
    };
    let hotline = serde_json::json!({"number": "+84 24 3736 7133", "name": "Tổng đài", "owner": "Bộ Y tế", "free_from": "2020-03-01", "free_until": "2020-12-31"});
    assert_eq!(put(&member, hotline.clone()).0, 403);
    let (status, made) = put(&office, hotline);
    assert_eq!(status, 200, "{made}");
    assert_eq!(made["number"], "2437367133");
    let (status, e) = put(
        &office,
        serde_json::json!({"number": "1900 9095", "name": "x", "owner": "y", "free_from": "2020-03-01", "free_until": "2020-02-01"}),
    );
    assert_eq!(status, 400, "{e}");
    assert_eq!(put(&office, serde_json::json!({"number": "hello", "name": "x", "owner": "y", "free_from": "2020-03-01"})).0, 400);
    assert_eq!(
        app.query_i64("SELECT COUNT(*) FROM audit_log WHERE action = 'hotline.set'"),
        1
    );
    // The command line reads the same register, and changes it as an office account.
    let url = app.db.url().to_string();
    let (ok, text) = taskforce(&["hotline", "list", "--db", &url]);
    assert!(
        ok && text.contains("2437367133") && text.contains("19009095"),
        "{text}"
    );
    let (ok, text) = taskforce(&[
        "hotline",
        "remove",
        "24 3736 7133",
        "--as",
        "viettel.a",
        "--db",
        &url,
    ]);
    assert!(!ok, "{text}");
    let (ok, text) = taskforce(&[
        "hotline",
        "remove",
        "24 3736 7133",
        "--as",
        "vanphong",
        "--db",
        &url,
    ]);
    assert!(ok, "{text}");
    assert_eq!(
        app.get(&member, "/api/v1/hotlines")
            .1
            .as_array()
            .must()
            .len(),
        2
    );

    // A carrier's own columns: set by its member, used for its uploads.
    let mapping = |token: &str, spec: serde_json::Value| {
        let mut resp = Http::agent()
            .put(&format!("{}/api/v1/carriers/viettel/cdr-mapping", app.base))
            .header("Authorization", &format!("Bearer {token}"))
            .send_json(serde_json::json!({ "spec": spec }))
            .must();
        (
            resp.status().as_u16(),
            resp.body_mut()
                .read_json::<serde_json::Value>()
                .unwrap_or_default(),
        )
    };
    assert_eq!(mapping(&app.token("cucvt.a"), "caller=a".into()).0, 403);
    assert_eq!(mapping(&member, "caller=a".into()).0, 400);
    let (status, m) = mapping(
        &member,
        "caller=so_goi,called=so_bi_goi,start=bat_dau,seconds=thoi_luong,charge=cuoc".into(),
    );
    assert_eq!(status, 200, "{m}");
    let file = "So_goi,So_bi_goi,Bat_dau,Thoi_luong,Cuoc\n0912345678,1900 9095,2020-02-03 08:15:00,60,1500\n";
    let (status, body) = upload(&app, &member, "viettel/cdr", file.as_bytes());
    assert_eq!(status, 200, "{body}");
    assert!(
        body["report"]["layout"]
            .as_str()
            .must()
            .starts_with("custom: caller=so_goi")
    );
    assert_eq!(body["report"]["charged"], 1);
    assert_eq!(
        app.get(&member, "/api/v1/carriers/viettel/cdr-mapping").1["spec"]
            .as_str()
            .map(|s| s.contains("so_bi_goi")),
        Some(true)
    );
}

/// `taskforce cdr generate` and `taskforce cdr verify FILE --carrier ID`: the figures printed
/// are the generator's, the verification is recorded.
fn the_command_line_verifies_a_file(db: TestDb) {
    let app = spawn_app_with_members(db);
    let url = app.db.url().to_string();
    let (path, _) = generated(&Spec {
        rows: 1,
        ..Spec::default()
    });
    let (ok, text) = taskforce(&[
        "cdr",
        "generate",
        &path.text(),
        "--rows",
        "30000",
        "--seed",
        "5",
        "--layout",
        "asterisk",
    ]);
    assert!(ok, "{text}");
    let truth: serde_json::Value = serde_json::from_str(&text).must();
    let (ok, text) = taskforce(&[
        "cdr",
        "verify",
        &path.text(),
        "--carrier",
        "viettel",
        "--db",
        &url,
        "--json",
    ]);
    assert!(ok, "{text}");
    let out: serde_json::Value = serde_json::from_str(&text).must();
    for k in [
        "rows",
        "checked",
        "broken",
        "hotline_calls",
        "outside_free_period",
        "charged",
    ] {
        assert_eq!(out["report"][k], truth[k], "{k}");
    }
    assert_eq!(out["report"]["layout"], "asterisk");
    let (ok, text) = taskforce(&[
        "cdr",
        "verify",
        &path.text(),
        "--carrier",
        "viettel",
        "--db",
        &url,
    ]);
    assert!(
        ok && text.contains("SHA-256") && text.contains("recorded in 5-ct-btttt/viettel"),
        "{text}"
    );
    assert_eq!(app.query_i64("SELECT COUNT(*) FROM verifications"), 2);
    let (ok, text) = taskforce(&[
        "cdr",
        "verify",
        &path.text(),
        "--carrier",
        "nobody",
        "--db",
        &url,
    ]);
    assert!(!ok && text.contains("nobody"), "{text}");
    let office = app.token("vanphong");
    let (_, vs) = app.get(&office, "/api/v1/verifications");
    assert_eq!(vs.as_array().must().len(), 2);
    assert_eq!(vs[0]["uploaded_by"], "taskforce cdr verify");
}

on_every_store!(
    an_upload_is_evidence_in_the_carriers_document,
    bad_files_are_refused_and_nothing_is_recorded,
    the_register_and_mappings_are_kept_by_their_owners,
    the_command_line_verifies_a_file,
);
