//! `taskforce-loadgen`: N phones — each a real mobile-core `Client` with its own store — spread
//! over K units make M offline edits each, then all come back and sync over HTTP at once
//! (at most C at a time), in rounds. By default against a server of its own (a child
//! `taskforce serve` on a temporary SQLite file, or on `--db`, run from the `taskforce`
//! binary: `--taskforce-bin`, else the one beside this program, else PATH), provisioned here:
//! an admin, one member per unit, one device per phone. At the end: figures, and a
//! convergence check (every phone of a unit, and a fresh phone that downloads the server's
//! copy, hold the same state; the server holds every operation made).
//!
//! It drives the server from outside — its command line (`user add`, `serve`) and its HTTP
//! API — and uses its library only for the database connection (the yardstick's, with the
//! server's own settings) and for hiding a database URL's password.

mod args;
mod history;
mod measure;
mod phones;
mod readers;
mod report;
mod run;
mod server;
mod units;
mod yardstick;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let args = args::LoadgenArgs::parse();
    match run::run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("taskforce-loadgen: {e:#}");
            ExitCode::FAILURE
        }
    }
}
