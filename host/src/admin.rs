//! `nimbus users ...` and `nimbus keys ...`: manage an app's users and keys from the command
//! line, whether or not the app is being served. A running host owns the store, so these talk
//! to it over its socket; otherwise they open the store directly.

use std::path::Path;

use anyhow::Context as _;
use clap::Subcommand;
use nimbus_auth::{AuthService, DEFAULT_ROLE, User, rfc3339};

use crate::manifest::Manifest;
use crate::services::KvLocation;

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

/// The app's auth service, on its key-value store: through the running host's socket, or
/// opened directly.
async fn open_auth(manifest: &Manifest, data: &Path) -> anyhow::Result<AuthService> {
    crate::data_dir::prepare(data)?;
    let socket = data.join("kv.sock");
    let backend = if std::os::unix::net::UnixStream::connect(&socket).is_ok() {
        KvLocation::Remote(socket)
    } else {
        KvLocation::Owned
    };
    crate::services::open_auth(manifest, crate::services::open_kv(&backend, data)?).await
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
pub async fn users(manifest: &Manifest, data: &Path, command: UsersCommand) -> anyhow::Result<()> {
    let auth = open_auth(manifest, data).await?;
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
pub async fn keys(manifest: &Manifest, data: &Path, command: KeysCommand) -> anyhow::Result<()> {
    let auth = open_auth(manifest, data).await?;
    match command {
        KeysCommand::Show => println!("{}", auth.publishable_key().await?),
        KeysCommand::Rotate => println!("{}", auth.rotate_publishable_key().await?),
        KeysCommand::RotateSigningKey => {
            println!("new signing key {}", auth.rotate_signing_key().await?);
        }
    }
    Ok(())
}
