//! `rill zk`: the zkCli.sh equivalent.
//!
//! `rill zk -server host:port[,host:port...] [-timeout ms] [-r] [cmd args...]`
//! runs one command and exits (non-zero on failure), or without a command opens
//! an interactive shell. Output, error messages and exit codes follow Apache
//! ZooKeeper 3.8's zkCli.sh so scripts and habits carry over.
//!
//! Layout: pure parsing and formatting (`args`, `command`, `acl`, `path`,
//! `format`, `error`) is kept apart from the code that talks to the server
//! (`exec`) and the line-reading shell (`shell`), so the former can be unit
//! tested without a server.

mod acl;
mod args;
mod command;
mod error;
mod exec;
mod format;
mod path;
mod shell;

use std::process::ExitCode;

use clap::Args;

use self::args::GlobalOptions;
use self::command::{parse_command, usage_text};
use self::error::CliError;
use self::exec::{err, out, Notifier};
use self::shell::{report, Shell};

#[derive(Args)]
pub struct ZkArgs {
    /// Arguments as zkCli.sh takes them: `-server host:port [cmd args...]`.
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub args: Vec<String>,
}

pub fn run(args: ZkArgs) -> anyhow::Result<ExitCode> {
    let options = match GlobalOptions::parse(&args.args) {
        Ok(options) => options,
        Err(message) => {
            err(&message);
            err(usage_text().trim_end());
            return Ok(ExitCode::from(1));
        }
    };
    if options.help {
        out(usage_text().trim_end());
        return Ok(ExitCode::SUCCESS);
    }
    // Two workers: one for the client's connection task, one for watch
    // notifications, while the shell blocks the main thread reading lines.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let code = if options.command.is_empty() {
        shell::run(&runtime, &options)
    } else {
        one_shot(&runtime, &options)
    };
    // Don't wait for watch tasks that will never fire.
    runtime.shutdown_background();
    Ok(ExitCode::from(code))
}

/// Runs the command from the command line once. Usage errors are reported
/// before connecting; a server that cannot be reached is reported as zkCli
/// does (`KeeperErrorCode = ConnectionLoss for /path`).
fn one_shot(runtime: &tokio::runtime::Runtime, options: &GlobalOptions) -> u8 {
    let parsed = match parse_command(&options.command) {
        Ok(parsed) => parsed,
        Err(e) => {
            report(&e);
            return e.exit_code();
        }
    };
    // Watches cannot fire before we exit, so there is nothing to print.
    let mut shell = Shell::new(options, Notifier::new(false));
    if !parsed.command.is_local() {
        if let Err(e) = runtime.block_on(shell.session.connect(None)) {
            let failure = match parsed.command.path() {
                Some(path) => CliError::keeper(e, path),
                None => CliError::Failed(error::keeper_exception_text(&e)),
            };
            report(&failure);
            return failure.exit_code();
        }
    }
    shell.dispatch(runtime, &options.command);
    runtime.block_on(shell.session.close());
    shell.exit_code
}
