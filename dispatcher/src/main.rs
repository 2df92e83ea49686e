//! `signpost-dispatcher`: parses the command line and hands over to the lib.

use std::process::ExitCode;

use clap::Parser;
use signpost_dispatcher::cli::{Cli, Command, EX_USAGE, check_config, runtime, usage_error};
use signpost_dispatcher::config::Config;

fn main() -> anyhow::Result<ExitCode> {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            e.print()?;
            return Ok(ExitCode::from(if e.use_stderr() { EX_USAGE } else { 0 }));
        }
    };
    let (args, demo) = match cli.command {
        Some(Command::CheckConfig { file }) => return Ok(check_config(&file, &cli.args)),
        Some(Command::Demo { args }) => (*args, true),
        None => (cli.args, false),
    };
    let config = match Config::load(&args) {
        Ok(config) => config,
        Err(errors) => return Ok(usage_error(errors)),
    };
    let runtime = runtime(config.workers)?;
    if demo {
        runtime.block_on(signpost_dispatcher::demo(args))?;
    } else {
        runtime.block_on(signpost_dispatcher::run(config, args))?;
    }
    Ok(ExitCode::SUCCESS)
}
