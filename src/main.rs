//! `metabridge`: parse the command line, set up logging, run the chosen command.

use clap::Parser;
use metabridge::cli::{Cli, Command, KeysCommand, SimCommand};
use metabridge::config::{Config, ServeArgs};
use tracing_subscriber::EnvFilter;

/// mimalloc: the hot path allocates many small JSON values; glibc malloc was ~15 % of the
/// service's CPU under load. Built with `no_thp`: its requests for transparent huge pages made
/// each first touch of its arena resident 2 MiB at a time (idle RSS 70 → 41 MB without them;
/// docs/benchmark.md, "Memory, apportioned").
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn init_tracing(json: bool) {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false);
    if json {
        builder.json().init();
    } else {
        builder.init();
    }
}

async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let config = Config::from_args(&args)?;
    init_tracing(config.json_logs);
    let app = metabridge::app::Application::build(config).await?;
    let stop = app.shutdown_handle();
    tokio::spawn(async move {
        metabridge::app::shutdown_signal().await;
        stop.cancel();
    });
    app.run_until_stopped().await
}

/// The environment variable behind the option an error names (`--dev <DEV>` → METABRIDGE_DEV),
/// searched through every subcommand.
fn env_of(cmd: &clap::Command, invalid_arg: &str) -> Option<String> {
    let long = invalid_arg
        .trim_start_matches('-')
        .split([' ', '='])
        .next()
        .unwrap_or("");
    cmd.get_arguments()
        .find(|a| a.get_long() == Some(long))
        .and_then(|a| a.get_env())
        .map(|e| e.to_string_lossy().into_owned())
        .or_else(|| {
            cmd.get_subcommands()
                .find_map(|sub| env_of(sub, invalid_arg))
        })
}

/// Whether the option an error names (`--dev <DEV>`) was typed on the command line (else its
/// value came from the environment).
fn given_on_command_line(invalid_arg: &str) -> bool {
    let flag = invalid_arg.split([' ', '=']).next().unwrap_or(invalid_arg);
    std::env::args().any(|a| a == flag || a.starts_with(&format!("{flag}=")))
}

/// Parses the command line; a bad value that came from an environment variable is reported
/// with that variable's name (issue 15: `METABRIDGE_DEV=yes` used to say only "--dev").
fn parse_cli() -> Cli {
    use clap::CommandFactory;
    use clap::error::{ContextKind, ContextValue, ErrorKind};
    let e = match Cli::try_parse() {
        Ok(cli) => return cli,
        Err(e) => e,
    };
    if matches!(
        e.kind(),
        ErrorKind::InvalidValue | ErrorKind::ValueValidation
    ) && let Some(ContextValue::String(arg)) = e.get(ContextKind::InvalidArg)
        && let Some(var) = env_of(&Cli::command(), arg)
        && std::env::var_os(&var).is_some()
        && !given_on_command_line(arg)
    {
        let value = match e.get(ContextKind::InvalidValue) {
            Some(ContextValue::String(v)) => format!("'{v}'"),
            _ => "its value".to_string(),
        };
        let rendered = e.render().to_string();
        let detail = rendered
            .lines()
            .skip(1)
            .filter(|l| !l.trim().is_empty() && !l.starts_with("For more information"))
            .collect::<Vec<_>>()
            .join("\n");
        eprintln!(
            "error: the environment variable {var} has an invalid value {value} (option {arg})"
        );
        if !detail.is_empty() {
            eprintln!("{detail}");
        }
        std::process::exit(2);
    }
    e.exit()
}

/// The process exit of `metabridge doctor`: its status, or 2 when it could not run.
fn doctor_exit(result: anyhow::Result<i32>) -> anyhow::Result<()> {
    match result {
        Ok(0) => Ok(()),
        Ok(code) => std::process::exit(code),
        Err(e) => {
            eprintln!("metabridge doctor: {e:#}");
            std::process::exit(2);
        }
    }
}

#[tokio::main]
async fn main() {
    let cli = parse_cli();
    let result = match cli.command {
        None => match Cli::try_parse_from(["metabridge", "serve"]) {
            Ok(Cli {
                command: Some(Command::Serve(args)),
            }) => serve(*args).await,
            _ => Err(anyhow::anyhow!("cannot read the configuration")),
        },
        Some(Command::Serve(args)) => serve(*args).await,
        Some(Command::Demo {
            serve,
            messages,
            rate,
            sim_listen,
            sim_public_url,
        }) => {
            init_tracing(false);
            let sim = metabridge::cli::DemoSim {
                listen: sim_listen,
                public_url: sim_public_url,
            };
            metabridge::cli::demo(*serve, messages, rate, sim).await
        }
        Some(Command::Instance {
            command,
            store,
            json,
        }) => metabridge::cli::instance_cmd(command, &store, json).await,
        Some(Command::Channel {
            command,
            store,
            json,
        }) => metabridge::cli::channel_cmd(command, &store, json).await,
        Some(Command::Keys {
            command: KeysCommand::Generate { jwt: false },
        }) => {
            println!("{}", metabridge::crypto::vault::generate_key());
            Ok(())
        }
        Some(Command::Keys {
            command: KeysCommand::Generate { jwt: true },
        }) => {
            let (_, pem) = metabridge::crypto::jwt::BridgeKey::generate();
            print!("{pem}");
            Ok(())
        }
        Some(Command::Keys {
            command: KeysCommand::Rotate { store, batch, json },
        }) => metabridge::cli::keys_rotate(&store, batch, json).await,
        Some(Command::Doctor {
            channel,
            all: _,
            instance,
            json,
            serve,
        }) => {
            let target = match channel {
                Some(c) => metabridge::cli::DoctorTarget::Channel(c),
                None => metabridge::cli::DoctorTarget::Connected { instance },
            };
            doctor_exit(metabridge::cli::doctor(&serve, target, json).await)
        }
        Some(Command::Migrate { store }) => metabridge::cli::migrate(&store).await,
        Some(Command::Healthcheck { url }) => metabridge::cli::healthcheck(&url).await,
        Some(Command::Openapi) => {
            println!("{}", metabridge::http::openapi::openapi_json());
            Ok(())
        }
        Some(Command::Sim { command }) => match command {
            SimCommand::Emit {
                url,
                secret,
                count,
                rate,
                batch,
                duplicates,
                reorder,
                concurrency,
                phone_number_id,
                waba_id,
                start_seq,
            } => metabridge::sim::emitter::emit(metabridge::sim::emitter::EmitOptions {
                url,
                secret,
                waba_id,
                phone_number_id,
                count,
                rate,
                batch,
                contacts: 50,
                duplicates,
                reorder,
                concurrency,
                start_seq,
            })
            .await
            .map(|r| println!("{}", serde_json::to_string(&r).unwrap_or_default())),
            SimCommand::Graph {
                listen,
                webhook_url,
                app_secret,
                channels,
            } => {
                init_tracing(false);
                metabridge::cli::sim_graph(listen, webhook_url, app_secret, &channels).await
            }
            SimCommand::Receiver { listen, instances } => {
                init_tracing(false);
                match metabridge::sim::receiver::start(listen, true).await {
                    Ok(r) => {
                        for pair in &instances {
                            if let Some((id, secret)) = pair.split_once('=') {
                                r.state.add_instance(id, secret);
                            }
                        }
                        println!("fake DSK receiver on {}", r.url());
                        metabridge::app::shutdown_signal().await;
                        Ok(())
                    }
                    Err(e) => Err(e),
                }
            }
        },
    };
    if let Err(e) = result {
        eprintln!("metabridge: {e:#}");
        std::process::exit(1);
    }
}
