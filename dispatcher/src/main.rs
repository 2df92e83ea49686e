//! `signpost-dispatcher`: parses the command line and hands over to the lib.

use std::process::ExitCode;

use clap::Parser;
use signpost_dispatcher::cli::{Cli, Command, EX_USAGE, check_config, runtime, usage_error};
use signpost_dispatcher::config::{Config, LogFormat};

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
    // Until a config is loaded, errors follow --log-format or its env.
    let config = match Config::load(&args) {
        Ok(config) => config,
        Err(errors) => {
            return Ok(usage_error(
                args.log_format.unwrap_or(LogFormat::Text),
                errors,
            ));
        }
    };
    let log_format = config.log_format;
    let runtime = runtime(config.workers)?;
    let ran = if demo {
        runtime.block_on(signpost_dispatcher::demo(args))
    } else {
        runtime.block_on(signpost_dispatcher::run(config, args))
    };
    if let Err(err) = ran {
        signpost_dispatcher::startup_error(log_format, &format!("Error: {err:#}"));
        return Ok(ExitCode::FAILURE);
    }
    Ok(ExitCode::SUCCESS)
}
