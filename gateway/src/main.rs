//! The `parley` binary: parse the command line, load and validate configuration once, set up
//! logging, then hand off to `serve` or `migrate`.

use std::io::Write;
use std::process::ExitCode;

use anyhow::Context;
use clap::Parser;
use parley_shared::Config;

mod cli;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    let config = match load_config(&cli) {
        Ok(config) => config,
        Err(error) => {
            let _ = writeln!(std::io::stderr(), "parley: configuration error: {error:#}");
            return ExitCode::from(2);
        }
    };
    if let Err(error) = parley_gateway::logging::init(&config.log) {
        let _ = writeln!(std::io::stderr(), "parley: configuration error: {error}");
        return ExitCode::from(2);
    }
    match run(&cli, &config) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!(error = format!("{error:#}"), "parley stopped with an error");
            let _ = writeln!(std::io::stderr(), "parley: {error:#}");
            if in_use(&error) {
                // Like a configuration error: the command line names something it cannot have.
                ExitCode::from(2)
            } else {
                ExitCode::FAILURE
            }
        }
    }
}

/// Whether `error` says the data dir or the port belongs to someone else.
fn in_use(error: &anyhow::Error) -> bool {
    use parley_gateway::StartError;
    use parley_gateway::ownership::OwnershipError;
    let taken = |e: &OwnershipError| {
        matches!(
            e,
            OwnershipError::DataDirInUse { .. } | OwnershipError::AddressInUse { .. }
        )
    };
    error.chain().any(|cause| {
        cause.downcast_ref::<OwnershipError>().is_some_and(taken)
            || matches!(cause.downcast_ref::<StartError>(), Some(StartError::Ownership(e)) if taken(e))
    })
}

fn load_config(cli: &cli::Cli) -> anyhow::Result<Config> {
    let file = match &cli.config {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("could not read {}", path.display()))?;
            Some((path.display().to_string(), text))
        }
        None => None,
    };
    let config = Config::load(
        file.as_ref()
            .map(|(name, text)| (name.as_str(), text.as_str())),
        std::env::vars(),
        cli.overrides()?,
    )?;
    Ok(config)
}

fn run(cli: &cli::Cli, config: &Config) -> anyhow::Result<()> {
    match &cli.command {
        cli::Command::Backup { to } => parley_gateway::backup::backup(config, to),
        cli::Command::Restore { from } => parley_gateway::backup::restore(config, from),
        cli::Command::Serve => parley_gateway::serve::serve(config),
        cli::Command::Admin { action } => {
            let said = parley_gateway::admin::run(config, &action.action(config.server.listen))?;
            writeln!(std::io::stdout().lock(), "{said}")?;
            Ok(())
        }
        cli::Command::Migrate => {
            let report = parley_gateway::serve::migrate(config)?;
            let mut stdout = std::io::stdout().lock();
            if report.applied.is_empty() {
                writeln!(stdout, "schema is up to date (version {})", report.version)?;
            } else {
                writeln!(
                    stdout,
                    "applied migrations {:?}; schema is at version {}",
                    report.applied, report.version
                )?;
            }
            Ok(())
        }
        cli::Command::Openapi => {
            writeln!(
                std::io::stdout().lock(),
                "{}",
                parley_gateway::openapi_json()
            )?;
            Ok(())
        }
        cli::Command::Config => {
            write!(std::io::stdout().lock(), "{}", config.to_redacted_toml())?;
            Ok(())
        }
    }
}
