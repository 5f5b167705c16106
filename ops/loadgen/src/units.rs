//! More units than the bundled directive gives tasks to (issue 25: 10,000 phones over 500
//! units). The server of its own is then started with a catalogue of the bundled units and
//! [`TEST_UNITS`] test units (`lg-0001` …), and a directive of the load generator's own
//! (`900/CT-BTTTT`) giving the first ones four tasks each is imported and published through
//! the `taskforce directive` command line before it starts, as an operator would.

use std::{
    fmt::Write as _,
    path::{Path, PathBuf},
    process::{Command, Stdio},
};

use anyhow::{Context, bail};
use sea_orm::EntityTrait;
use taskforce_core::{
    directive::{BUNDLED_FILES, Catalogue, SEED_DIRECTIVE, import},
    doc::DocHeader,
};
use taskforce_server::db::entity::directives;

/// Test units in the catalogue (whether or not this run's directive uses them all, so that
/// a database reused by a later run still finds every unit it holds documents for).
pub const TEST_UNITS: usize = 1000;

/// The load generator's directive, as the server names it.
pub const DIRECTIVE_ID: &str = "900-ct-btttt";

/// The units the bundled directive gives tasks to (a document each).
pub fn bundled_units() -> anyhow::Result<usize> {
    let catalogue = Catalogue::bundled()?;
    let directive = import(SEED_DIRECTIVE.as_bytes(), &catalogue, None)?;
    Ok(DocHeader::all_for(&directive, &catalogue).len())
}

/// The catalogue: the bundled files, then the test units.
pub fn catalogue_toml() -> String {
    let mut out = String::new();
    for (_, text) in BUNDLED_FILES {
        out.push_str(text);
        out.push('\n');
    }
    out.push_str("# --- The load generator's test units ---\n");
    for i in 1..=TEST_UNITS {
        let _ = write!(
            out,
            "\n[[unit]]\nid = \"lg-{i:04}\"\nname = \"Đơn vị thử tải số {i:04}\"\n\
             en = \"Load test unit {i:04}\"\nkind = \"department\"\n"
        );
    }
    out
}

/// A directive of the ministry giving each of the first `units` test units four tasks.
pub fn directive_text(units: usize) -> String {
    let mut out = String::from(
        "BỘ THÔNG TIN VÀ TRUYỀN THÔNG\n--------\n\nSố: 900/CT-BTTTT\n\n\
         Hà Nội, ngày 1 tháng 12 năm 2026\n\n**CHỈ THỊ**\n\n\
         Về việc thử tải hệ thống theo dõi thực hiện chỉ thị\n\n\
         Bộ trưởng Bộ Thông tin và Truyền thông chỉ thị:\n\n\
         I. MỤC TIÊU\n\nKiểm tra hệ thống khi nhiều đơn vị cùng báo cáo.\n\n",
    );
    // A section's clauses are numbered in one or two digits, as directives are: sections
    // II, III … of `PER_SECTION` units each.
    const PER_SECTION: usize = 90;
    for i in 1..=units {
        let k = (i - 1) % PER_SECTION + 1;
        if k == 1 {
            let section = (i - 1) / PER_SECTION + 2;
            let _ = write!(
                out,
                "{}. NHIỆM VỤ CỦA CÁC ĐƠN VỊ (PHẦN {})\n\n",
                roman(section),
                section - 1
            );
        }
        let _ = write!(
            out,
            "{k}. Đơn vị thử tải số {i:04}\n\n\
             - Rà soát danh sách thuê bao và gửi tin nhắn khuyến cáo phòng dịch;\n\n\
             - Bảo đảm miễn cước cuộc gọi đến đường dây nóng của Bộ Y tế;\n\n\
             - Gỡ bỏ tin giả về dịch bệnh trong vòng 24 giờ;\n\n\
             - Báo cáo kết quả thực hiện hằng tuần.\n\n"
        );
    }
    out.push_str(
        "Văn phòng Bộ chịu trách nhiệm theo dõi, đôn đốc và báo cáo Bộ trưởng kết quả thực \
         hiện Chỉ thị này./.\n\nNơi nhận:\n- Bộ trưởng (để b/c);\n- Lưu: VT.\n\n\
         KT. BỘ TRƯỞNG\nTHỨ TRƯỞNG\n\nNguyễn Văn Thử\n",
    );
    out
}

/// Write the catalogue into `dir` and, unless the database (migrated: the admin is created
/// first) already holds it, import and publish the directive for `units` test units there.
/// The catalogue's path, for `serve --catalogue`.
pub fn provision(exe: &Path, db: &str, dir: &Path, units: usize) -> anyhow::Result<PathBuf> {
    if units > TEST_UNITS {
        bail!("at most {TEST_UNITS} test units besides the bundled directive's; asked for {units}");
    }
    let catalogue = dir.join("catalogue.toml");
    std::fs::write(&catalogue, catalogue_toml())
        .with_context(|| format!("write {}", catalogue.display()))?;
    // A database from an earlier run already holds the directive: publishing it again would be
    // a revision (whether it gives tasks to enough units is checked against --units later).
    if published(db)? {
        return Ok(catalogue);
    }
    let text = dir.join("900-CT-BTTTT.txt");
    std::fs::write(&text, directive_text(units))
        .with_context(|| format!("write {}", text.display()))?;
    let path = text.display().to_string();
    run(exe, &["directive", "import", &path, "--db", db], &catalogue)?;
    run(
        exe,
        &["directive", "publish", DIRECTIVE_ID, "--db", db],
        &catalogue,
    )?;
    Ok(catalogue)
}

/// Whether the database holds the load generator's directive.
fn published(db: &str) -> anyhow::Result<bool> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("a runtime")?
        .block_on(async {
            let conn = taskforce_server::db::connect(db).await?;
            let row = directives::Entity::find_by_id(DIRECTIVE_ID.to_string())
                .one(&conn)
                .await?;
            Ok(row.is_some())
        })
}

/// Run `taskforce ARGS` with the catalogue: its stdout, or its stderr as the error.
fn run(exe: &Path, args: &[&str], catalogue: &Path) -> anyhow::Result<String> {
    let out = Command::new(exe)
        .args(args)
        .env("TASKFORCE_CATALOGUE", catalogue)
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("{} {}", exe.display(), args.join(" ")))?;
    if !out.status.success() {
        bail!(
            "taskforce {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// `n` (1 ≤ n < 40) in Roman numerals.
fn roman(n: usize) -> String {
    const TENS: [&str; 4] = ["", "X", "XX", "XXX"];
    const ONES: [&str; 10] = ["", "I", "II", "III", "IV", "V", "VI", "VII", "VIII", "IX"];
    format!("{}{}", TENS[(n / 10).min(3)], ONES[n % 10])
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The importer reads the directive as meant: each test unit its four tasks, lead.
    #[test]
    fn the_test_directive_gives_each_test_unit_four_tasks() -> anyhow::Result<()> {
        let catalogue = Catalogue::from_toml(&catalogue_toml())?;
        let directive = import(directive_text(TEST_UNITS).as_bytes(), &catalogue, None)?;
        let headers = DocHeader::all_for(&directive, &catalogue);
        let ids: Vec<&str> = headers.iter().map(|h| h.unit.as_str()).collect();
        let mut want: Vec<String> = (1..=TEST_UNITS).map(|i| format!("lg-{i:04}")).collect();
        // And the Ministry Office its closing clause (to follow up and report), as in any.
        want.insert(0, "vp-bo".into());
        assert_eq!(ids, want);
        assert!(
            headers[1..].iter().all(|h| h.tasks.len() == 4),
            "{:?}",
            &headers[1]
        );
        assert_eq!(
            (roman(2), roman(14), roman(39)),
            ("II".into(), "XIV".into(), "XXXIX".into())
        );
        assert_eq!(directive.warnings, vec![], "no warnings");
        // The bundled directive is read the same with the test units in the catalogue.
        let seed = import(SEED_DIRECTIVE.as_bytes(), &catalogue, None)?;
        assert_eq!(
            DocHeader::all_for(&seed, &catalogue).len(),
            bundled_units()?
        );
        Ok(())
    }
}
