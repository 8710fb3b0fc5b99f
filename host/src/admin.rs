//! `nimbus users ...`, `nimbus keys ...` and `nimbus secrets ...`: manage an app's users, keys
//! and secrets from the command line, whether or not the app is being served. A running host owns the store, so these talk
//! to it over its socket; otherwise they open the store directly.

use std::path::Path;

use anyhow::Context as _;
use clap::Subcommand;
use nimbus_auth::{AuthService, DEFAULT_ROLE, User, rfc3339};

use crate::manifest::Manifest;
use crate::services::{KvLocation, StoreBackend};

/// `nimbus users` subcommands.
#[derive(Debug, Subcommand)]
pub enum UsersCommand {
    /// List every user.
    List,
    /// Create a user; the password is read from the NIMBUS_PASSWORD environment variable so
    /// that it never appears in shell history or the process list.
    Create {
        /// Email address.
        email: String,
        /// Role for their tokens.
        #[arg(long, default_value = DEFAULT_ROLE)]
        role: String,
    },
    /// Delete a user (by id or email) and end their sessions.
    Delete {
        /// User id or email.
        user: String,
    },
    /// Set a user's role (by id or email).
    SetRole {
        /// User id or email.
        user: String,
        /// The new role.
        role: String,
    },
}

/// `nimbus keys` subcommands.
#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Print the app's publishable key (the `apikey` clients send). With `--secret`, make the
    /// app's secret (service-role) key and print it: it is stored hashed, so it is shown only
    /// when made.
    Show {
        /// The secret key instead of the publishable one.
        #[arg(long)]
        secret: bool,
    },
    /// Replace the publishable key (restart the host to apply it), or with `--secret` the
    /// secret key (the old one stops working within a second) and print the new one.
    Rotate {
        /// The secret key instead of the publishable one.
        #[arg(long)]
        secret: bool,
    },
    /// Make a new JWT signing key current; tokens signed by the old one stay valid until they
    /// expire.
    RotateSigningKey,
}

/// `nimbus secrets` subcommands.
#[derive(Debug, Subcommand)]
pub enum SecretsCommand {
    /// Set a secret; its value is read from standard input (one trailing newline is dropped),
    /// so that it never appears in shell history or the process list.
    Set {
        /// The secret's name, as `secrets = ["NAME"]` grants it.
        name: String,
    },
    /// List the names of the secrets that are set (never their values).
    List,
    /// Delete a secret.
    Delete {
        /// The secret's name.
        name: String,
    },
}

/// `nimbus usage` options.
#[derive(Debug, Clone, clap::Args)]
pub struct UsageArgs {
    /// How far back to report, e.g. `1h`, `24h`, `30d` (whole hours: the hour this falls in
    /// is reported whole).
    #[arg(long, default_value = "24h", value_parser = crate::manifest::HumanDuration::parse)]
    since: std::time::Duration,
    /// One row per component or per hour.
    #[arg(long, value_enum, default_value = "component")]
    by: crate::usage::report::GroupBy,
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    prices: crate::usage::report::Prices,
}

/// Prints the app's metered usage (what the running host wrote; up to its last flush).
pub async fn usage(
    manifest: &Manifest,
    data: &Path,
    store: &StoreBackend,
    args: UsageArgs,
) -> anyhow::Result<()> {
    let kv = open_kv(data, store)?;
    let since = std::time::SystemTime::now()
        .checked_sub(args.since)
        .unwrap_or(std::time::UNIX_EPOCH);
    let entries = crate::usage::report::read(kv.as_ref(), &manifest.app, since).await?;
    let report = crate::usage::report::report(&entries, args.by, &args.prices);
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", report.to_table());
    }
    Ok(())
}

/// The app's key-value store: through the running host's socket, or opened directly.
pub(crate) fn open_kv(
    data: &Path,
    store: &StoreBackend,
) -> anyhow::Result<std::sync::Arc<dyn nimbus_kv::KvStore>> {
    crate::data_dir::prepare(data)?;
    let socket = data.join("kv.sock");
    let backend = if is_served(data) {
        KvLocation::Remote(socket)
    } else {
        KvLocation::Owned
    };
    crate::services::open_kv(&backend, store, data)
}

/// Whether a host serves the data in `data` now (its key-value socket answers).
pub(crate) fn is_served(data: &Path) -> bool {
    std::os::unix::net::UnixStream::connect(data.join("kv.sock")).is_ok()
}

/// The app's auth service, on its key-value store.
async fn open_auth(
    manifest: &Manifest,
    data: &Path,
    store: &StoreBackend,
) -> anyhow::Result<AuthService> {
    crate::services::open_auth(manifest, open_kv(data, store)?).await
}

async fn find(auth: &AuthService, user: &str) -> anyhow::Result<User> {
    let found = if user.contains('@') {
        auth.user_by_email(user).await
    } else {
        auth.user(user).await
    };
    found.with_context(|| format!("no user `{user}`"))
}

fn print_user(user: &User) {
    println!(
        "{}  {}  {}  created {}",
        user.id,
        user.email,
        user.role,
        rfc3339(user.created_at_ms)
    );
}

/// Runs a `nimbus users` subcommand.
pub async fn users(
    manifest: &Manifest,
    data: &Path,
    store: &StoreBackend,
    command: UsersCommand,
) -> anyhow::Result<()> {
    let auth = open_auth(manifest, data, store).await?;
    match command {
        UsersCommand::List => {
            let users = auth.list_users().await?;
            for user in &users {
                print_user(user);
            }
            eprintln!("{} user(s)", users.len());
        }
        UsersCommand::Create { email, role } => {
            let password = std::env::var("NIMBUS_PASSWORD")
                .context("set NIMBUS_PASSWORD to the new user's password")?;
            let user = auth
                .create_user(&email, &password, &role, serde_json::json!({}))
                .await?;
            print_user(&user);
        }
        UsersCommand::Delete { user } => {
            let user = find(&auth, &user).await?;
            auth.delete_user(&user.id).await?;
            println!("deleted {} ({})", user.id, user.email);
        }
        UsersCommand::SetRole { user, role } => {
            let user = find(&auth, &user).await?;
            print_user(&auth.set_role(&user.id, &role).await?);
        }
    }
    Ok(())
}

/// Runs a `nimbus keys` subcommand.
pub async fn keys(
    manifest: &Manifest,
    data: &Path,
    store: &StoreBackend,
    command: KeysCommand,
) -> anyhow::Result<()> {
    let auth = open_auth(manifest, data, store).await?;
    match command {
        KeysCommand::Show { secret: false } => println!("{}", auth.publishable_key().await?),
        KeysCommand::Show { secret: true } => match auth.create_secret_key().await? {
            Some(key) => {
                println!("{key}");
                eprintln!(
                    "this is the app's secret key; it is stored hashed and will not be shown again"
                );
            }
            None => anyhow::bail!(
                "the app already has a secret key, stored hashed so that it cannot be shown again; `nimbus keys rotate --secret` makes a new one (the old one stops working)"
            ),
        },
        KeysCommand::Rotate { secret: false } => {
            println!("{}", auth.rotate_publishable_key().await?);
        }
        KeysCommand::Rotate { secret: true } => {
            println!("{}", auth.rotate_secret_key().await?);
            eprintln!("the old secret key stops working within a second");
        }
        KeysCommand::RotateSigningKey => {
            println!("new signing key {}", auth.rotate_signing_key().await?);
        }
    }
    Ok(())
}

/// Runs a `nimbus secrets` subcommand.
pub async fn secrets(
    manifest: &Manifest,
    data: &Path,
    store: &StoreBackend,
    command: SecretsCommand,
) -> anyhow::Result<()> {
    let secrets = crate::secrets::Secrets::new(open_kv(data, store)?, &manifest.app);
    match command {
        SecretsCommand::Set { name } => {
            let mut value = String::new();
            std::io::Read::read_to_string(&mut std::io::stdin(), &mut value)
                .context("cannot read the secret's value from standard input")?;
            let value = value
                .strip_suffix('\n')
                .map(|v| v.strip_suffix('\r').unwrap_or(v))
                .unwrap_or(&value);
            secrets.set(&name, value).await?;
            eprintln!("secret {name} set");
        }
        SecretsCommand::List => {
            let names = secrets.names().await?;
            for name in &names {
                println!("{name}");
            }
            eprintln!("{} secret(s)", names.len());
        }
        SecretsCommand::Delete { name } => {
            if !secrets.delete(&name).await? {
                anyhow::bail!("no secret {name}");
            }
            eprintln!("secret {name} deleted");
        }
    }
    Ok(())
}
