//! `nimbus users ...` and `nimbus keys ...`: manage an app's users and keys from the command
//! line, whether or not the app is being served. A running host owns the store, so these talk
//! to it over its socket; otherwise they open the store directly.

use std::path::Path;
use std::sync::Arc;

use anyhow::Context as _;
use clap::Subcommand;
use nimbus_auth::{AuthConfig, AuthService, DEFAULT_ROLE, User, rfc3339};
use nimbus_kv::{KvStore, RedbKvStore, RemoteKvStore};

use crate::manifest::Manifest;

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
    /// Print the app's publishable key (the `apikey` clients send).
    Show,
    /// Replace the publishable key (restart the host to apply it).
    Rotate,
    /// Make a new JWT signing key current; tokens signed by the old one stay valid until they
    /// expire.
    RotateSigningKey,
}

/// The app's key-value store: through the running host's socket, or opened directly.
pub fn open_store(data: &Path) -> anyhow::Result<Arc<dyn KvStore>> {
    let socket = data.join("kv.sock");
    if std::os::unix::net::UnixStream::connect(&socket).is_ok() {
        return Ok(Arc::new(RemoteKvStore::new(&socket)));
    }
    let path = data.join("kv.redb");
    let store = RedbKvStore::open(&path)
        .with_context(|| format!("cannot open the key-value store {}", path.display()))?;
    Ok(Arc::new(store))
}

fn open_auth(manifest: &Manifest, data: &Path) -> anyhow::Result<AuthService> {
    std::fs::create_dir_all(data)
        .with_context(|| format!("cannot create the data directory {}", data.display()))?;
    let mut config = AuthConfig::new(&manifest.app);
    config.access_token_ttl = manifest.access_token_ttl;
    AuthService::open(open_store(data)?, config).context("cannot open the auth service")
}

fn find(auth: &AuthService, user: &str) -> anyhow::Result<User> {
    let found = if user.contains('@') {
        auth.user_by_email(user)
    } else {
        auth.user(user)
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
pub fn users(manifest: &Manifest, data: &Path, command: UsersCommand) -> anyhow::Result<()> {
    let auth = open_auth(manifest, data)?;
    match command {
        UsersCommand::List => {
            let users = auth.list_users()?;
            for user in &users {
                print_user(user);
            }
            eprintln!("{} user(s)", users.len());
        }
        UsersCommand::Create { email, role } => {
            let password = std::env::var("NIMBUS_PASSWORD")
                .context("set NIMBUS_PASSWORD to the new user's password")?;
            let user = auth.create_user(&email, &password, &role, serde_json::json!({}))?;
            print_user(&user);
        }
        UsersCommand::Delete { user } => {
            let user = find(&auth, &user)?;
            auth.delete_user(&user.id)?;
            println!("deleted {} ({})", user.id, user.email);
        }
        UsersCommand::SetRole { user, role } => {
            let user = find(&auth, &user)?;
            print_user(&auth.set_role(&user.id, &role)?);
        }
    }
    Ok(())
}

/// Runs a `nimbus keys` subcommand.
pub fn keys(manifest: &Manifest, data: &Path, command: KeysCommand) -> anyhow::Result<()> {
    let auth = open_auth(manifest, data)?;
    match command {
        KeysCommand::Show => println!("{}", auth.publishable_key()?),
        KeysCommand::Rotate => println!("{}", auth.rotate_publishable_key()?),
        KeysCommand::RotateSigningKey => {
            println!("new signing key {}", auth.rotate_signing_key()?);
        }
    }
    Ok(())
}
