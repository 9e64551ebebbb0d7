//! The command line: the server, the demo, operator commands (same `DATABASE_URL` as the
//! server; they may run while it runs) and the simulator. `--json` prints machine-readable
//! output for scripts.

use std::sync::Arc;

use clap::{Parser, Subcommand};
use serde_json::json;

use crate::config::{Config, ServeArgs, StoreArgs};
use crate::crypto::vault::Vault;
use crate::ids::{ChannelId, InstanceId, InvalidId};
use crate::instances;
use crate::store::{Store, StoreOptions};

/// An id given on the command line (`what` names the argument in the error).
fn parse_id<T: std::str::FromStr<Err = InvalidId>>(what: &str, value: &str) -> anyhow::Result<T> {
    value
        .parse()
        .map_err(|e: InvalidId| anyhow::anyhow!("{what} {value:?}: {e}"))
}

#[derive(Parser, Debug)]
#[command(
    name = "metabridge",
    version,
    about = "Bridge between Meta messaging channels and DSK platform instances"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run the service.
    Serve(Box<ServeArgs>),
    /// Run the service in dev mode with a fake DSK receiver and the Meta simulator sending
    /// signed webhooks, on the SQLite default: watch events flow.
    Demo {
        #[command(flatten)]
        serve: Box<ServeArgs>,
        /// Signed webhook requests the simulator sends, one customer message each (each is
        /// posted twice, as Meta retries; 0 = keep sending).
        #[arg(long, default_value_t = 50)]
        messages: u64,
        /// Requests per second.
        #[arg(long, default_value_t = 5.0)]
        rate: f64,
        /// Where the demo's Meta simulator (Graph API, OAuth dialogs, Embedded Signup) listens.
        #[arg(long, default_value = "127.0.0.1:0")]
        sim_listen: std::net::SocketAddr,
        /// The simulator's address as a browser reaches it, for the connect pages' dialogs
        /// (default: where it listens). In a container: the published port, e.g.
        /// `http://localhost:9000`.
        #[arg(long)]
        sim_public_url: Option<String>,
    },
    /// Manage instances (tenants).
    Instance {
        #[command(subcommand)]
        command: InstanceCommand,
        #[command(flatten)]
        store: StoreArgs,
        /// Print JSON.
        #[arg(long, global = true)]
        json: bool,
    },
    /// Manage channels.
    Channel {
        #[command(subcommand)]
        command: ChannelCommand,
        #[command(flatten)]
        store: StoreArgs,
        /// Print JSON.
        #[arg(long, global = true)]
        json: bool,
    },
    /// Fernet keys for METABRIDGE_FERNET_KEYS.
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
    /// Apply database migrations and exit.
    Migrate {
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Print the OpenAPI document (JSON).
    Openapi,
    /// Exit 0 when the service at `--url` answers 200 (container health checks).
    Healthcheck {
        /// The readiness URL to ask.
        #[arg(long, default_value = "http://127.0.0.1:8080/readyz")]
        url: String,
    },
    /// Check a channel against Meta and print what is wrong and how to fix it: token and
    /// permissions, the app's subscriptions, the webhook callback, the WhatsApp number's state,
    /// templates, Instagram linkage. Reads the server's configuration (same variables). Exit
    /// status 0 when every check passed, 1 when one failed, 3 when none failed but one warned,
    /// 2 when the doctor could not run.
    Doctor {
        /// The channel id (`ch_…`); or `--all` / `--instance`.
        #[arg(required_unless_present_any = ["all", "instance"], conflicts_with_all = ["all", "instance"])]
        channel: Option<String>,
        /// Every connected channel (disconnected ones have nothing to check at Meta).
        #[arg(long, conflicts_with = "instance")]
        all: bool,
        /// Every connected channel of this instance (`ins_…`).
        #[arg(long)]
        instance: Option<String>,
        /// Print JSON (an array with `--all` / `--instance`).
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        serve: Box<ServeArgs>,
    },
    /// The Meta simulator and the fake DSK receiver.
    Sim {
        #[command(subcommand)]
        command: SimCommand,
    },
}

#[derive(Subcommand, Debug)]
pub enum InstanceCommand {
    /// Create an instance; prints its signing secret once.
    Create {
        #[arg(long)]
        name: String,
        #[arg(long)]
        callback_url: String,
        /// Comma-separated event types (default: all).
        #[arg(long)]
        event_types: Option<String>,
        /// Allow a loopback/private or plain-HTTP callback URL.
        #[arg(long, env = "METABRIDGE_ALLOW_PRIVATE_CALLBACKS")]
        allow_private_callbacks: bool,
    },
    /// List instances.
    List,
    /// Delete an instance with its channels and events.
    Delete { id: String },
    /// Replace an instance's signing secret; prints the new one once.
    RotateSecret {
        id: String,
        /// Seconds the old secret keeps verifying the instance's tokens (0 = revoke at once).
        #[arg(long, default_value_t = instances::DEFAULT_SECRET_GRACE_SECS)]
        grace_seconds: u64,
    },
}

#[derive(Subcommand, Debug)]
pub enum ChannelCommand {
    /// Register a channel by hand.
    Add {
        #[arg(long)]
        instance: String,
        /// whatsapp | instagram | messenger
        #[arg(long)]
        kind: String,
        /// phone_number_id | Instagram account id | page id
        #[arg(long)]
        external_id: String,
        #[arg(long)]
        waba_id: Option<String>,
        #[arg(long)]
        name: Option<String>,
        /// The channel's access token (stored encrypted).
        #[arg(long, env = "METABRIDGE_CHANNEL_TOKEN", hide_env_values = true)]
        token: String,
        /// Instagram only: `instagram` (Instagram Login; sends go to graph.instagram.com) or
        /// `facebook` (through the linked Facebook Page; graph.facebook.com). Default: from the
        /// token (Instagram User tokens start with `IG`).
        #[arg(long)]
        login: Option<String>,
    },
    /// List channels.
    List {
        #[arg(long)]
        instance: Option<String>,
    },
    /// Remove a channel (its token is deleted).
    Remove { id: String },
}

#[derive(Subcommand, Debug)]
pub enum KeysCommand {
    /// Print a new Fernet key (or, with --jwt, a new Ed25519 key for callback signing).
    Generate {
        /// Print an Ed25519 private key (PKCS#8 PEM) for METABRIDGE_JWT_SIGNING_KEY_FILE.
        #[arg(long)]
        jwt: bool,
    },
    /// Re-encrypt every stored token and secret under the first key of
    /// METABRIDGE_FERNET_KEYS, in batches. Safe to interrupt and re-run, and to run while the
    /// service runs. Keep the old key in the list until this reports nothing undecryptable.
    Rotate {
        #[command(flatten)]
        store: StoreArgs,
        /// Rows per transaction.
        #[arg(long, default_value_t = 200)]
        batch: i64,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

/// `metabridge keys rotate`.
pub async fn keys_rotate(store_args: &StoreArgs, batch: i64, json_out: bool) -> anyhow::Result<()> {
    let (store, vault) = open(store_args).await?;
    let interrupted = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flag = std::sync::Arc::clone(&interrupted);
    tokio::spawn(async move {
        crate::app::shutdown_signal().await;
        flag.store(true, std::sync::atomic::Ordering::SeqCst);
    });
    let stop = || interrupted.load(std::sync::atomic::Ordering::SeqCst);
    let mut last_print = std::time::Instant::now();
    let mut progress = |c: &crate::store::RotationCounts| {
        if !json_out && last_print.elapsed() > std::time::Duration::from_secs(2) {
            eprintln!("… {} scanned, {} re-encrypted", c.scanned, c.rotated);
            last_print = std::time::Instant::now();
        }
    };
    let total = instances::rotate_keys(&store, &vault, batch, &stop, &mut progress).await?;
    let done = !stop();
    print(
        json_out,
        json!({"complete": done, "counts": total}),
        format!(
            "{}: {} scanned, {} re-encrypted, {} already under the first key, {} undecryptable, {} changed meanwhile{}",
            if done {
                "rotation complete"
            } else {
                "rotation interrupted (run it again to finish)"
            },
            total.scanned,
            total.rotated,
            total.current,
            total.undecryptable,
            total.raced,
            if total.raced > 0 {
                " (run it again)"
            } else {
                ""
            },
        ),
    );
    store.close().await;
    if total.undecryptable > 0 {
        anyhow::bail!(
            "{} stored values cannot be decrypted with any configured key",
            total.undecryptable
        );
    }
    Ok(())
}

#[derive(Subcommand, Debug)]
pub enum SimCommand {
    /// Send signed WhatsApp webhooks to a bridge.
    Emit {
        #[arg(long, default_value = "http://127.0.0.1:8080/webhooks/meta")]
        url: String,
        #[arg(long, env = "META_APP_SECRET", hide_env_values = true)]
        secret: String,
        #[arg(long, default_value_t = 100)]
        count: u64,
        /// Requests per second (0 = as fast as possible).
        #[arg(long, default_value_t = 10.0)]
        rate: f64,
        /// Messages per request.
        #[arg(long, default_value_t = 1)]
        batch: usize,
        /// Extra copies of each request.
        #[arg(long, default_value_t = 0)]
        duplicates: u32,
        /// Shuffle each batch's messages.
        #[arg(long)]
        reorder: bool,
        #[arg(long, default_value_t = 16)]
        concurrency: usize,
        #[arg(long, default_value = "106000000000001")]
        phone_number_id: String,
        #[arg(long, default_value = "102000000000001")]
        waba_id: String,
        #[arg(long, default_value_t = 0)]
        start_seq: u64,
    },
    /// Run the fake Graph API (sends, media, debug_token) with fault injection over
    /// `POST /_sim/faults`; status webhooks go to `--webhook-url`.
    Graph {
        #[arg(long, default_value = "127.0.0.1:9091")]
        listen: std::net::SocketAddr,
        /// The bridge's webhook URL (statuses are POSTed there, signed).
        #[arg(long)]
        webhook_url: Option<String>,
        #[arg(
            long,
            env = "META_APP_SECRET",
            hide_env_values = true,
            default_value = ""
        )]
        app_secret: String,
        /// `kind:external_id:token` (kind whatsapp|instagram|messenger), repeatable.
        #[arg(long = "channel")]
        channels: Vec<String>,
    },
    /// Run a fake DSK receiver that verifies the bridge's JWTs and prints each event.
    Receiver {
        #[arg(long, default_value = "127.0.0.1:9090")]
        listen: std::net::SocketAddr,
        /// `instance_id=secret`, repeatable.
        #[arg(long = "instance")]
        instances: Vec<String>,
    },
}

async fn open(store: &StoreArgs) -> anyhow::Result<(Store, Vault)> {
    let (url, _backend, keys) = store.resolve()?;
    let vault = Vault::new(&keys).map_err(|p| anyhow::anyhow!("METABRIDGE_FERNET_KEYS: {p}"))?;
    let store = Store::open(
        &url,
        StoreOptions {
            max_connections: 2,
            ..Default::default()
        },
    )
    .await?;
    Ok((store, vault))
}

fn print(json_out: bool, value: serde_json::Value, text: String) {
    if json_out {
        println!(
            "{}",
            serde_json::to_string_pretty(&value).unwrap_or_default()
        );
    } else {
        println!("{text}");
    }
}

fn instance_json(r: &crate::store::InstanceRow) -> serde_json::Value {
    json!({
        "id": r.id, "name": r.name, "callback_url": r.callback_url,
        "event_types": r.event_type_list(), "delivery_paused_reason": r.delivery_paused_reason,
        "created_at": crate::ms_to_rfc3339(r.created_at),
    })
}

fn channel_json(r: &crate::store::ChannelRow) -> serde_json::Value {
    json!({
        "id": r.id, "instance_id": r.instance_id, "kind": r.kind, "external_id": r.external_id,
        "waba_id": r.waba_id, "name": r.name,
        "status": crate::channels::summary(r.status, r.send_state),
        "connection": r.status.api_name(), "send_state": r.send_state.as_str(),
        "send_reason": r.send_reason, "has_token": r.token_enc.is_some(), "login": r.login,
        "created_at": crate::ms_to_rfc3339(r.created_at),
    })
}

const ACTOR: &str = "cli";

pub async fn instance_cmd(
    cmd: InstanceCommand,
    store_args: &StoreArgs,
    json_out: bool,
) -> anyhow::Result<()> {
    let (store, vault) = open(store_args).await?;
    match cmd {
        InstanceCommand::Create {
            name,
            callback_url,
            event_types,
            allow_private_callbacks,
        } => {
            let types: Option<Vec<String>> =
                event_types.map(|t| t.split(',').map(|s| s.trim().to_string()).collect());
            let (row, secret) = instances::create_instance(
                &store,
                &vault,
                instances::NewInstance {
                    name: &name,
                    callback_url: &callback_url,
                    event_types: types.as_deref(),
                },
                allow_private_callbacks || store_args.dev,
                ACTOR,
            )
            .await?;
            let mut v = instance_json(&row);
            v["signing_secret"] = json!(secret);
            print(
                json_out,
                v,
                format!(
                    "created instance {}\nsigning secret (shown once): {secret}",
                    row.id
                ),
            );
        }
        InstanceCommand::List => {
            let rows = store.list_instances().await?;
            let text = rows
                .iter()
                .map(|r| format!("{}  {}  {}", r.id, r.name, r.callback_url))
                .collect::<Vec<_>>()
                .join("\n");
            print(
                json_out,
                json!(rows.iter().map(instance_json).collect::<Vec<_>>()),
                text,
            );
        }
        InstanceCommand::Delete { id } => {
            let id: InstanceId = parse_id("instance id", &id)?;
            instances::delete_instance(&store, &id, ACTOR).await?;
            print(
                json_out,
                json!({"deleted": id}),
                format!("deleted instance {id}"),
            );
        }
        InstanceCommand::RotateSecret { id, grace_seconds } => {
            let id: InstanceId = parse_id("instance id", &id)?;
            let secret =
                instances::rotate_instance_secret(&store, &vault, &id, grace_seconds, ACTOR)
                    .await?;
            print(
                json_out,
                json!({"id": id, "signing_secret": secret}),
                format!("new signing secret (shown once): {secret}"),
            );
        }
    }
    store.close().await;
    Ok(())
}

pub async fn channel_cmd(
    cmd: ChannelCommand,
    store_args: &StoreArgs,
    json_out: bool,
) -> anyhow::Result<()> {
    let (store, vault) = open(store_args).await?;
    match cmd {
        ChannelCommand::Add {
            instance,
            kind,
            external_id,
            waba_id,
            name,
            token,
            login,
        } => {
            let row = instances::add_channel(
                &store,
                &vault,
                instances::NewChannel {
                    instance_id: &instance,
                    kind: &kind,
                    external_id: &external_id,
                    waba_id: waba_id.as_deref(),
                    name: name.as_deref(),
                    access_token: &token,
                    login: login.as_deref(),
                },
                ACTOR,
            )
            .await?;
            print(
                json_out,
                channel_json(&row),
                format!(
                    "added channel {} ({} {})",
                    row.id, row.kind, row.external_id
                ),
            );
        }
        ChannelCommand::List { instance } => {
            let instance: Option<InstanceId> = instance
                .as_deref()
                .map(|i| parse_id("--instance", i))
                .transpose()?;
            let rows = store.list_channels(instance.as_ref()).await?;
            let text = rows
                .iter()
                .map(|r| format!("{}  {}  {}  {}", r.id, r.instance_id, r.kind, r.external_id))
                .collect::<Vec<_>>()
                .join("\n");
            print(
                json_out,
                json!(rows.iter().map(channel_json).collect::<Vec<_>>()),
                text,
            );
        }
        ChannelCommand::Remove { id } => {
            let id: ChannelId = parse_id("channel id", &id)?;
            instances::remove_channel(
                &store,
                &id,
                None,
                instances::DisconnectBy::Operator(ACTOR),
                96 * 3600 * 1000,
            )
            .await?;
            print(
                json_out,
                json!({"deleted": id}),
                format!("removed channel {id}"),
            );
        }
    }
    store.close().await;
    Ok(())
}

/// Which channels `metabridge doctor` checks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DoctorTarget {
    Channel(String),
    /// Every connected channel, of one instance or of all.
    Connected {
        instance: Option<String>,
    },
}

/// `metabridge doctor`: prints the diagnoses; the exit status is the worst of them
/// ([`crate::doctor::Diagnosis::exit_code`]: 1 a check failed, 3 warnings only, 0 none).
pub async fn doctor(args: &ServeArgs, target: DoctorTarget, json_out: bool) -> anyhow::Result<i32> {
    crate::crypto::install_tls_provider();
    let config = Config::from_args(args)?;
    let vault = Vault::new(&config.fernet_keys)
        .map_err(|p| anyhow::anyhow!("METABRIDGE_FERNET_KEYS: {p}"))?;
    let store = Store::open(
        &config.database_url,
        StoreOptions {
            max_connections: 2,
            ..Default::default()
        },
    )
    .await
    .map_err(|e| anyhow::anyhow!("DATABASE_URL: cannot open the database: {e}"))?;
    let doctor = crate::doctor::Doctor::new(
        store.clone(),
        Arc::new(vault),
        crate::app::oauth_client(&config)?,
        config.connect.app_id.is_some() && !config.app_secrets.is_empty(),
        Some(config.public_url.clone()).filter(|u| !u.is_empty()),
    );
    let result = diagnose_target(&store, &doctor, target).await;
    store.close().await;
    let (single, diagnoses) = result?;
    if json_out {
        let out = if single {
            serde_json::to_string_pretty(&diagnoses[0])?
        } else {
            serde_json::to_string_pretty(&diagnoses)?
        };
        println!("{out}");
    } else if diagnoses.is_empty() {
        println!("no connected channel to check");
    } else {
        let tables: Vec<String> = diagnoses.iter().map(|d| d.to_table()).collect();
        print!("{}", tables.join("\n"));
    }
    // The worst first: a failure (1) over warnings (3) over nothing (0).
    let codes: Vec<i32> = diagnoses.iter().map(|d| d.exit_code()).collect();
    Ok(if codes.contains(&1) {
        1
    } else if codes.contains(&3) {
        3
    } else {
        0
    })
}

/// The diagnoses of `target`, and whether it named one channel.
async fn diagnose_target(
    store: &Store,
    doctor: &crate::doctor::Doctor,
    target: DoctorTarget,
) -> anyhow::Result<(bool, Vec<crate::doctor::Diagnosis>)> {
    match target {
        DoctorTarget::Channel(channel) => {
            let id: ChannelId = parse_id("channel id", &channel)?;
            let d = doctor
                .diagnose(&id)
                .await?
                .ok_or_else(|| anyhow::anyhow!("no channel {id}"))?;
            Ok((true, vec![d]))
        }
        DoctorTarget::Connected { instance } => {
            let instance: Option<InstanceId> = instance
                .as_deref()
                .map(|i| parse_id("--instance", i))
                .transpose()?;
            if let Some(i) = &instance
                && store.get_instance(i).await?.is_none()
            {
                anyhow::bail!("no instance {i}");
            }
            let mut out = Vec::new();
            for row in store.list_channels(instance.as_ref()).await? {
                if row.status == crate::channels::Connection::Disconnected {
                    continue;
                }
                if let Some(d) = doctor.diagnose(&row.id).await? {
                    out.push(d);
                }
            }
            Ok((false, out))
        }
    }
}

pub async fn migrate(store_args: &StoreArgs) -> anyhow::Result<()> {
    let (store, _) = open(store_args).await?;
    println!("migrations applied ({:?})", store.backend);
    store.close().await;
    Ok(())
}

/// The demo: bridge + fake receiver + simulator, on the SQLite default, in dev mode.
/// `metabridge sim graph`.
pub async fn sim_graph(
    listen: std::net::SocketAddr,
    webhook_url: Option<String>,
    app_secret: String,
    channels: &[String],
) -> anyhow::Result<()> {
    let sim = crate::sim::graph::start(
        listen,
        crate::sim::graph::GraphSimOptions {
            webhook_url,
            app_secret,
            print: true,
            ..Default::default()
        },
    )
    .await?;
    for c in channels {
        let mut parts = c.splitn(3, ':');
        match (parts.next(), parts.next(), parts.next()) {
            // A WhatsApp number belongs to the simulator's default WhatsApp Business Account
            // (the one its status webhooks name), whose templates are listed, empty at start.
            (Some(kind), Some(id), Some(token)) => {
                let waba = kind
                    .eq_ignore_ascii_case("whatsapp")
                    .then_some(crate::sim::graph::DEFAULT_WABA_ID);
                sim.add_channel(kind, id, waba, token)
            }
            _ => anyhow::bail!("--channel must be kind:external_id:token"),
        }
    }
    println!(
        "fake Graph API on {url} (point META_GRAPH_URL at it); connect flows: META_APP_ID={} \
         META_EMBEDDED_SIGNUP_CONFIG_ID=990000000000777 META_DIALOG_URL={url}/dialog-fb \
         META_SDK_URL={url}/sdk.js INSTAGRAM_DIALOG_URL={url}/dialog-ig INSTAGRAM_API_URL={url}/ig-api \
         INSTAGRAM_GRAPH_URL={url}/ig-graph (META_APP_SECRET must match --app-secret)",
        crate::sim::graph::APP_ID,
        url = sim.url()
    );
    crate::app::shutdown_signal().await;
    Ok(())
}

/// Where the demo's simulator listens and how a browser reaches it.
pub struct DemoSim {
    pub listen: std::net::SocketAddr,
    pub public_url: Option<String>,
}

pub async fn demo(
    mut serve: ServeArgs,
    messages: u64,
    rate: f64,
    sim: DemoSim,
) -> anyhow::Result<()> {
    serve.store.dev = true;
    // Meta's Graph side, local: the demo's replies are sent to it and it answers with
    // sent/delivered/read status webhooks.
    let graph =
        crate::sim::graph::start(sim.listen, crate::sim::graph::GraphSimOptions::default()).await?;
    serve.meta_graph_url = graph.url();
    let mut config = Config::from_args(&serve)?;
    config.graph.base_url = graph.url();
    // The dialogs open in the person's browser: the public address. The server-side calls of
    // the connect flows go to the same address, which inside one container is the simulator.
    let public = sim.public_url.unwrap_or_else(|| graph.url());
    crate::sim::graph::point_connect_at(&mut config.connect, &public);
    let app = crate::app::Application::build(config).await?;
    let state = Arc::clone(&app.state);
    let receiver = crate::sim::receiver::start("127.0.0.1:0".parse()?, true).await?;
    // One demo instance and channel; the receiver learns the instance's (rotated) secret.
    let (store, vault) = (&state.store, &state.vault);
    let existing = store
        .list_instances()
        .await?
        .into_iter()
        .find(|i| i.name == "demo");
    let instance_id = match existing {
        Some(i) => {
            instances::update_instance(
                store,
                &i.id,
                instances::InstanceUpdate {
                    name: None,
                    callback_url: Some(&receiver.url()),
                    event_types: Some(None),
                    resume_delivery: true,
                },
                true,
                "demo",
            )
            .await?;
            i.id
        }
        None => {
            let (row, _) = instances::create_instance(
                store,
                vault,
                instances::NewInstance {
                    name: "demo",
                    callback_url: &receiver.url(),
                    event_types: None,
                },
                true,
                "demo",
            )
            .await?;
            row.id
        }
    };
    let secret = instances::rotate_instance_secret(store, vault, &instance_id, 0, "demo").await?;
    receiver.state.add_instance(instance_id.as_str(), &secret);
    if store
        .list_channels(Some(&instance_id))
        .await?
        .iter()
        .all(|c| c.external_id != "106000000000001")
    {
        let _ = instances::add_channel(
            store,
            vault,
            instances::NewChannel {
                instance_id: instance_id.as_str(),
                kind: "whatsapp",
                external_id: "106000000000001",
                waba_id: Some("102000000000001"),
                name: Some("Demo number"),
                access_token: "demo-token-not-a-real-meta-token",
                login: None,
            },
            "demo",
        )
        .await?;
    }
    let url = format!("http://{}/webhooks/meta", app.addr);
    let app_secret = state.config.app_secrets[0].expose().to_string();
    graph.set_app_secret(&app_secret);
    graph.set_webhook_url(&url);
    graph.add_channel(
        "whatsapp",
        "106000000000001",
        Some("102000000000001"),
        "demo-token-not-a-real-meta-token",
    );
    println!(
        "metabridge demo: bridge on http://{} (docs at /docs, metrics at /metrics)",
        app.addr
    );
    println!(
        "fake DSK receiver on {} for instance {instance_id}",
        receiver.url()
    );
    let shutdown = app.shutdown_handle();
    let api = format!("http://{}", app.addr);
    let server = tokio::spawn(app.run_until_stopped());
    // A connect link: the simulator plays Meta's Embedded Signup in the browser.
    match demo_connect_link(&api, instance_id.as_str(), &secret, &receiver.url()).await {
        Ok(link) => {
            println!("connect a WhatsApp number through the simulated Embedded Signup: open {link}")
        }
        Err(e) => println!("could not create a demo connect link: {e}"),
    }
    // The instance answers the first contact every few seconds through the API.
    let replier = tokio::spawn(demo_replies(api, instance_id.to_string(), secret.clone()));
    let emitter = tokio::spawn(async move {
        let start_seq = u64::try_from(crate::now_ms()).unwrap_or(0) * 10;
        let report = crate::sim::emitter::emit(crate::sim::emitter::EmitOptions {
            url,
            secret: app_secret,
            count: if messages == 0 { u64::MAX } else { messages },
            rate,
            batch: 1,
            duplicates: 1,
            contacts: 3,
            concurrency: 4,
            start_seq,
            ..Default::default()
        })
        .await;
        if let Ok(r) = report {
            println!(
                "simulator: sent {} signed webhook requests ({} messages, every request twice: Meta retries), {} acknowledged",
                r.requests, r.messages, r.acknowledged
            );
        }
    });
    tokio::select! {
        _ = crate::app::shutdown_signal() => {}
        _ = async {
            let _ = emitter.await;
            tokio::time::sleep(std::time::Duration::from_secs(2)).await;
            println!(
                "receiver: {} distinct events delivered (duplicates dropped by the bridge); Ctrl-C to stop",
                receiver.state.unique_accepted()
            );
            crate::app::shutdown_signal().await;
        } => {}
    }
    replier.abort();
    shutdown.cancel();
    let _ = server.await;
    drop(graph);
    Ok(())
}

/// A connect session of the demo instance (`POST /v1/connect-sessions`): its one-time link.
async fn demo_connect_link(
    api: &str,
    instance_id: &str,
    secret: &str,
    receiver: &str,
) -> anyhow::Result<String> {
    let now = chrono::Utc::now().timestamp();
    let jwt = jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &serde_json::json!({"iss": instance_id, "aud": "metabridge", "iat": now, "exp": now + 60}),
        &jsonwebtoken::EncodingKey::from_secret(secret.as_bytes()),
    )?;
    let resp = reqwest::Client::new()
        .post(format!("{api}/v1/connect-sessions"))
        .bearer_auth(jwt)
        .json(&serde_json::json!({
            "kind": "whatsapp",
            "return_url": format!("{}/connected", receiver.trim_end_matches('/')),
        }))
        .send()
        .await?;
    let status = resp.status();
    let body: serde_json::Value = resp.json().await?;
    body["url"]
        .as_str()
        .map(str::to_string)
        .ok_or_else(|| anyhow::anyhow!("the bridge answered {status}: {body}"))
}

/// The demo instance's side: a reply to a customer through `POST /v1/messages` every few
/// seconds, with its outcome.
async fn demo_replies(api: String, instance_id: String, secret: String) {
    let client = reqwest::Client::new();
    // Idempotency keys unique to this run: a demo started again on the same data/ sends new
    // replies instead of getting the first run's answers back (issue 15).
    let run = uuid::Uuid::now_v7().simple().to_string();
    let mut n = 0u64;
    loop {
        tokio::time::sleep(std::time::Duration::from_secs(3)).await;
        n += 1;
        let now = chrono::Utc::now().timestamp();
        let Ok(token) = jsonwebtoken::encode(
            &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
            &json!({"iss": instance_id, "aud": "metabridge", "iat": now, "exp": now + 60}),
            &jsonwebtoken::EncodingKey::from_secret(secret.as_bytes()),
        ) else {
            return;
        };
        let channels: serde_json::Value = match client
            .get(format!("{api}/v1/channels"))
            .bearer_auth(&token)
            .send()
            .await
        {
            Ok(r) => r.json().await.unwrap_or_default(),
            Err(_) => continue,
        };
        let Some(channel) = channels[0]["id"].as_str() else {
            continue;
        };
        let resp = client
            .post(format!("{api}/v1/messages?wait=5"))
            .bearer_auth(&token)
            .header("Idempotency-Key", format!("demo-reply-{run}-{n}"))
            .json(&json!({"channel_id": channel, "to": "15550000000",
                "message": {"type": "text", "body": format!("Reply #{n} from the demo instance")}}))
            .send()
            .await;
        if let Ok(r) = resp {
            let code = r.status().as_u16();
            let v: serde_json::Value = r.json().await.unwrap_or_default();
            println!(
                "instance: POST /v1/messages → {code} {} status={} meta_id={}",
                v["id"].as_str().unwrap_or(v["code"].as_str().unwrap_or("")),
                v["status"].as_str().unwrap_or("-"),
                v["meta_message_id"].as_str().unwrap_or("-")
            );
        }
    }
}

/// `metabridge healthcheck`: asks the readiness endpoint once (3 s timeout).
pub async fn healthcheck(url: &str) -> anyhow::Result<()> {
    crate::crypto::install_tls_provider();
    let resp = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(3))
        .build()?
        .get(url)
        .send()
        .await?;
    if resp.status().is_success() {
        Ok(())
    } else {
        anyhow::bail!("{url} answered {}", resp.status())
    }
}
