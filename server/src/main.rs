//! The `taskforce` command: the server and the Ministry Office's tools.

mod cli;
mod directive_cmd;
mod loadgen;
mod serve_cmd;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    match cli::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("taskforce: {e:#}");
            ExitCode::FAILURE
        }
    }
}
