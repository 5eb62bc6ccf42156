//! The `seam-bff` binary: reads the command line, loads settings, starts logging and serves.

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use seam_bff::config::{LogFormat, Settings, misspelt_variables};
use seam_bff::readyz_probe;
use seam_bff::startup::{Application, check_settings};
use seam_bff::telemetry;

#[derive(Parser)]
#[command(
    version,
    about = "Exchanges an app login for a Seam client session token",
    after_help = "Settings: built-in defaults (config/default.toml), then --config, then environment \
variables SEAM_BFF__SECTION__KEY (two underscores between the parts, e.g. \
SEAM_BFF__AUTH__ISSUER, SEAM_BFF__SERVER__BIND), then SEAM_API_KEY and SEAM_ENDPOINT as Seam's \
SDKs read them. RUST_LOG sets the log level (default info). See README.md."
)]
struct Cli {
    /// TOML file layered over the built-in defaults.
    #[arg(long, env = "SEAM_BFF_CONFIG", global = true)]
    config: Option<PathBuf>,
    /// Log format; overrides log.format.
    #[arg(long, value_enum, global = true)]
    log_format: Option<LogFormat>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Serve (the default).
    Run,
    /// Validate the configuration and exit: 0 when it is usable, 1 otherwise.
    CheckConfig,
    /// Ask the local service's /readyz and exit 0 when it is ready (for images without curl).
    Healthcheck {
        /// host:port of the public listener; default: server.bind, on loopback.
        #[arg(long)]
        address: Option<String>,
    },
}

#[actix_web::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let env: HashMap<String, String> = std::env::vars().collect();
    let settings = match Settings::load(cli.config.as_deref(), &env) {
        Ok(settings) => settings,
        Err(error) => return fail(&error),
    };
    let misspelt = misspelt_variables(&env);
    match cli.command {
        Some(Command::CheckConfig) => {
            for name in &misspelt {
                eprintln!("seam-bff: warning: {}", misspelt_warning(name));
            }
            return match check_settings(&settings) {
                Ok(warnings) => {
                    for warning in &warnings {
                        eprintln!("seam-bff: warning: {warning}");
                    }
                    println!("configuration is valid");
                    println!("issuers: {}", settings.issuers_summary());
                    ExitCode::SUCCESS
                }
                Err(error) => fail(&error),
            };
        }
        Some(Command::Healthcheck { address }) => {
            let address =
                address.unwrap_or_else(|| readyz_probe::local_address(&settings.server.bind));
            return match readyz_probe::probe(&address).await {
                Ok(()) => ExitCode::SUCCESS,
                Err(reason) => fail(&reason),
            };
        }
        Some(Command::Run) | None => {}
    }
    let _log = telemetry::init(cli.log_format.unwrap_or(settings.log.format));
    for name in &misspelt {
        tracing::warn!("{}", misspelt_warning(name));
    }
    let app = match Application::build(&settings) {
        Ok(app) => app,
        Err(error) => return fail(&error),
    };
    if let Err(error) = app.check_redis().await {
        return fail(&error);
    }
    app.check_seam();
    if let Err(error) = app.shutdown_on_signal() {
        return fail(&format!("cannot handle signals: {error}"));
    }
    tracing::info!(settings = settings.summary(), "configuration");
    tracing::info!(
        address = %app.address(),
        management_address = %app.management_address(),
        "listening"
    );
    match app.run_until_stopped().await {
        Ok(()) => {
            tracing::info!("stopped");
            ExitCode::SUCCESS
        }
        Err(error) => fail(&error),
    }
}

fn misspelt_warning(name: &str) -> String {
    format!(
        "{name} is ignored: setting variables are SEAM_BFF__SECTION__KEY, with two underscores \
         between the parts (e.g. SEAM_BFF__AUTH__ISSUER)"
    )
}

/// Start-up failures go to stderr as one plain line, before logging may exist.
fn fail(error: &dyn std::fmt::Display) -> ExitCode {
    eprintln!("seam-bff: {error}");
    ExitCode::FAILURE
}
