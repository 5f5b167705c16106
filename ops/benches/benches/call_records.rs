//! Call-record verification (issue 23): rows per second and peak memory of
//! `taskforce_core::cdr::verify` on a generated file of 10 million rows, beside a plain `csv`
//! read of the same file in the same run (the yardstick: the least any CSV reader must do),
//! and on a file a tenth the size, to show the memory does not grow with the file.
//!
//! `cargo bench -p taskforce-benches --bench call_records` (`CDR_ROWS` to change the size).
//! Each measurement runs in a child process of its own, so its peak resident memory
//! (`VmHWM`) is its own; each child reads the file once before the timed pass, so both read
//! from the page cache. One thread: one core.

use std::{
    fs::File,
    io::{BufWriter, Read},
    path::{Path, PathBuf},
    process::Command,
    time::Instant,
};

use taskforce_core::cdr::{self, Options};
use taskforce_server::hotlines::sample::{self, Spec};

fn peak_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

/// Read the file once, untimed (the page cache), then time `mode` over it.
fn child(mode: &str, path: &Path) -> Result<(), Box<dyn std::error::Error>> {
    let mut warm = File::open(path)?;
    let mut buf = vec![0u8; 1 << 20];
    while warm.read(&mut buf)? > 0 {}
    drop(buf);
    let base = peak_kib();
    let started = Instant::now();
    let rows = match mode {
        "csv" => {
            let mut reader = csv::ReaderBuilder::new()
                .has_headers(false)
                .flexible(true)
                .buffer_capacity(64 * 1024)
                .from_reader(File::open(path)?);
            let mut record = csv::ByteRecord::new();
            let mut rows = 0u64;
            let mut fields = 0u64;
            while reader.read_byte_record(&mut record)? {
                rows += 1;
                fields += record.len() as u64;
            }
            std::hint::black_box(fields);
            rows.saturating_sub(1)
        }
        _ => {
            let r = cdr::verify(
                File::open(path)?,
                &sample::hotlines_2020(),
                &Options::default(),
            )?;
            std::hint::black_box(&r);
            r.rows
        }
    };
    let secs = started.elapsed().as_secs_f64();
    println!("{rows} {secs} {} {base}", peak_kib());
    Ok(())
}

fn measure(mode: &str, path: &Path) -> (u64, f64, u64, u64) {
    let out = Command::new(std::env::current_exe().unwrap_or_default())
        .args(["--child", mode, &path.display().to_string()])
        .output()
        .unwrap_or_else(|e| panic!("child: {e}"));
    let text = String::from_utf8_lossy(&out.stdout);
    let f: Vec<&str> = text.split_whitespace().collect();
    assert!(
        out.status.success() && f.len() == 4,
        "child {mode}: {text} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    (
        f[0].parse().unwrap_or(0),
        f[1].parse().unwrap_or(0.0),
        f[2].parse().unwrap_or(0),
        f[3].parse().unwrap_or(0),
    )
}

fn generate(rows: u64, dir: &Path) -> PathBuf {
    let path = dir.join(format!("cdr-{rows}.csv"));
    let started = Instant::now();
    let file = File::create(&path).unwrap_or_else(|e| panic!("{e}"));
    let spec = Spec {
        rows,
        seed: 46,
        ..Spec::default()
    };
    let truth = sample::generate(
        BufWriter::with_capacity(1 << 20, file),
        &spec,
        &sample::hotlines_2020(),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let size = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
    println!(
        "generated {rows} rows ({:.0} MB, {} to hotlines, {} charged, {} broken) in {:.1} s",
        size as f64 / 1e6,
        truth.hotline_calls,
        truth.charged,
        truth.broken,
        started.elapsed().as_secs_f64()
    );
    path
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--child") {
        if let Err(e) = child(&args[i + 1], Path::new(&args[i + 2])) {
            eprintln!("{e}");
            std::process::exit(1);
        }
        return;
    }
    // `cargo bench` passes `--bench`; nothing else is taken.
    let rows: u64 = std::env::var("CDR_ROWS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000_000);
    let dir = std::env::temp_dir().join(format!("taskforce-cdr-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{e}"));
    let small = generate(rows / 10, &dir);
    let large = generate(rows, &dir);
    println!(
        "\n{:<28} {:>12} {:>9} {:>14} {:>10} {:>14}",
        "pass", "rows", "seconds", "rows/s", "peak MiB", "over start MiB"
    );
    let mut results = Vec::new();
    for (name, mode, path) in [
        ("csv crate, plain read", "csv", &large),
        ("verify", "verify", &large),
        ("verify, a tenth the file", "verify", &small),
    ] {
        let (n, secs, peak, base) = measure(mode, path);
        let per_sec = n as f64 / secs;
        println!(
            "{name:<28} {n:>12} {secs:>9.2} {per_sec:>14.0} {:>10.1} {:>14.1}",
            peak as f64 / 1024.0,
            peak.saturating_sub(base) as f64 / 1024.0
        );
        results.push((per_sec, peak));
    }
    println!(
        "\nverify: {:.2} M rows/s, {:.0} % of the plain csv read's rows per second; peak {:.1} MiB \
         for {rows} rows against {:.1} MiB for a tenth of them",
        results[1].0 / 1e6,
        100.0 * results[1].0 / results[0].0,
        results[1].1 as f64 / 1024.0,
        results[2].1 as f64 / 1024.0,
    );
    let _ = std::fs::remove_dir_all(&dir);
}
