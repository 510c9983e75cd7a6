//! One module per command group; each parses its arguments into service calls.

mod archives;
mod blobs;
mod catalog;
mod courses;
mod demo;
mod demo_mutual;
mod jobs;
mod mutual;
mod network;
mod people;
mod platform;
mod publishing;
mod sessions;

use crate::args::{Cli, Command};
use pf_server::error::AppError;
use pf_server::platform::Platform;
use pf_server::services::{Actor, Via};
use std::path::Path;

/// Runs one command.
pub async fn run(cli: Cli) -> Result<(), AppError> {
    match cli.command {
        Command::Init(args) => platform::init(&cli.data_dir, args, cli.json).await,
        Command::Serve(args) => platform::serve(&cli.data_dir, args).await,
        Command::Demo(args) => demo::demo(args).await,
        Command::User(cmd) => {
            let (p, actor) = open(&cli.data_dir, cli.as_user.as_deref()).await?;
            people::user(&p, &actor, cmd, cli.json).await
        }
        Command::Category(cmd) => {
            let (p, actor) = open(&cli.data_dir, cli.as_user.as_deref()).await?;
            people::category(&p, &actor, cmd, cli.json).await
        }
        Command::Course(cmd) => {
            let (p, actor) = open(&cli.data_dir, cli.as_user.as_deref()).await?;
            courses::course(&p, &actor, cmd, cli.json).await
        }
        Command::Jobs(cmd) => {
            let (p, actor) = open(&cli.data_dir, cli.as_user.as_deref()).await?;
            jobs::jobs(&p, &actor, cmd, cli.json).await
        }
        Command::Archive(cmd) => {
            let (p, actor) = open(&cli.data_dir, cli.as_user.as_deref()).await?;
            archives::archive(&p, &actor, cmd, cli.json).await
        }
        Command::Token(cmd) => {
            let (p, actor) = open(&cli.data_dir, cli.as_user.as_deref()).await?;
            people::token(&p, &actor, cmd, cli.json).await
        }
        Command::Session(cmd) => {
            let (p, actor) = open(&cli.data_dir, cli.as_user.as_deref()).await?;
            sessions::session(&p, &actor, cmd, cli.json).await
        }
        Command::Outbox(cmd) => {
            let (p, actor) = open(&cli.data_dir, cli.as_user.as_deref()).await?;
            sessions::outbox(&p, &actor, cmd, cli.json).await
        }
        Command::Peer(cmd) => {
            let (p, actor) = open(&cli.data_dir, cli.as_user.as_deref()).await?;
            network::peer(&p, &actor, cmd, cli.json).await
        }
        Command::Network(cmd) => {
            let (p, actor) = open(&cli.data_dir, cli.as_user.as_deref()).await?;
            network::network(&p, &actor, cmd, cli.json).await
        }
        Command::Publish(args) => {
            let (p, actor) = open_running(&cli.data_dir, cli.as_user.as_deref()).await?;
            publishing::publish(&p, &actor, args, cli.json).await
        }
        Command::Deploy(args) => {
            let (p, actor) = open_running(&cli.data_dir, cli.as_user.as_deref()).await?;
            publishing::deploy(&p, &actor, args, cli.json).await
        }
        Command::Retrofit(args) => {
            let (p, actor) = open_running(&cli.data_dir, cli.as_user.as_deref()).await?;
            publishing::retrofit(&p, &actor, args, cli.json).await
        }
        Command::Publication(cmd) => {
            let (p, actor) = open(&cli.data_dir, cli.as_user.as_deref()).await?;
            publishing::publication(&p, &actor, cmd, cli.json).await
        }
        Command::Rules(cmd) => {
            let (p, actor) = open(&cli.data_dir, cli.as_user.as_deref()).await?;
            mutual::rules_cmd(&p, &actor, cmd, cli.json).await
        }
        Command::Profile(cmd) => {
            let (p, actor) = open(&cli.data_dir, cli.as_user.as_deref()).await?;
            mutual::profile_cmd(&p, &actor, cmd, cli.json).await
        }
        Command::Mutual(cmd) => {
            let (p, actor) = open(&cli.data_dir, cli.as_user.as_deref()).await?;
            mutual::mutual_cmd(&p, &actor, cmd, cli.json).await
        }
        Command::Blobs(cmd) => {
            let (p, actor) = open(&cli.data_dir, cli.as_user.as_deref()).await?;
            blobs::blobs(&p, &actor, cmd, cli.json).await
        }
        Command::Keys(cmd) => {
            let (p, _) = open(&cli.data_dir, cli.as_user.as_deref()).await?;
            network::keys(&p, cmd, cli.json).await
        }
    }
}

/// Like [`open`], for operation commands: a job needs the server that runs it.
async fn open_running(dir: &Path, as_user: Option<&str>) -> Result<(Platform, Actor), AppError> {
    if pf_server::presence::running_server(dir).is_none() {
        return Err(AppError::new(
            pf_api::ErrorCode::Failed,
            "no server is running on this data dir",
        ));
    }
    open(dir, as_user).await
}

/// Opens the data dir and decides who acts: `--as USER`, else the platform admin.
async fn open(dir: &Path, as_user: Option<&str>) -> Result<(Platform, Actor), AppError> {
    let p = Platform::open(dir).await?;
    let name = pf_domain::user::Username::parse(as_user.unwrap_or("admin"))?;
    let user =
        p.store.local_user(&name).await.map_err(|_| {
            AppError::bad_request(format!("no local user '{name}' on this platform"))
        })?;
    if user.disabled {
        return Err(AppError::new(
            pf_api::ErrorCode::BadUser,
            format!("user '{name}' is disabled"),
        ));
    }
    Ok((p, Actor::user(user, Via::Cli)))
}

/// Reads a password file's first line, without its line ending.
pub fn read_password_file(path: &Path) -> Result<String, AppError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| AppError::bad_request(format!("cannot read {}: {e}", path.display())))?;
    Ok(text.lines().next().unwrap_or("").to_string())
}
