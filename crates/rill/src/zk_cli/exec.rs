//! Running parsed commands against a ZooKeeper-compatible server.
//!
//! [`Session`] owns the client connection. Each command prints what zkCli
//! prints, to the same stream (zkCli writes `Created /x` to stderr, for
//! instance, and scripts that capture stdout rely on that). Watches set with
//! `-w` are handed to a [`Notifier`], which prints them as zkCli's default
//! watcher does when they fire.

use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use zookeeper_client::{
    Acls, AddWatchMode, Client, CreateMode, Error as ZkError, EventType, OneshotWatcher,
    SessionState,
};

use super::acl::format_acl;
use super::command::{Command, CreateKind};
use super::error::{keeper_code, keeper_exception_text, CliError};
use super::format::{format_stat, java_list, node_event_line, session_event_line, watcher_block};
use super::path::child_path;

/// Prints a line to stdout. Write errors (a closed pipe, as in
/// `rill zk ls -R / | head`) are ignored rather than panicking like `println!`.
pub fn out(text: &str) {
    let mut stdout = std::io::stdout().lock();
    let _ = writeln!(stdout, "{text}");
    let _ = stdout.flush();
}

/// Prints a line to stderr, ignoring write errors (see [`out`]).
pub fn err(text: &str) {
    let mut stderr = std::io::stderr().lock();
    let _ = writeln!(stderr, "{text}");
}

type Sink = Box<dyn FnMut(String) + Send>;

/// Where asynchronous watch and session events go. Events arrive on runtime
/// threads while the shell may be sitting in its line editor, so the shell
/// installs a sink that redraws the prompt around them; without a sink they go
/// straight to stdout. zkCli's `printwatches off` turns them off.
#[derive(Clone)]
pub struct Notifier {
    inner: Arc<NotifierInner>,
}

struct NotifierInner {
    enabled: AtomicBool,
    sink: Mutex<Option<Sink>>,
}

impl Notifier {
    pub fn new(enabled: bool) -> Self {
        Notifier {
            inner: Arc::new(NotifierInner {
                enabled: AtomicBool::new(enabled),
                sink: Mutex::new(None),
            }),
        }
    }

    pub fn set_sink(&self, sink: Sink) {
        if let Ok(mut slot) = self.inner.sink.lock() {
            *slot = Some(sink);
        }
    }

    pub fn set_enabled(&self, on: bool) {
        self.inner.enabled.store(on, Ordering::SeqCst);
    }

    pub fn is_enabled(&self) -> bool {
        self.inner.enabled.load(Ordering::SeqCst)
    }

    pub fn notify(&self, text: String) {
        if !self.is_enabled() {
            return;
        }
        match self.inner.sink.lock() {
            Ok(mut slot) => match slot.as_mut() {
                Some(sink) => sink(text),
                None => print_raw(&text),
            },
            Err(_) => print_raw(&text),
        }
    }
}

fn print_raw(text: &str) {
    let mut stdout = std::io::stdout().lock();
    let _ = stdout.write_all(text.as_bytes());
    let _ = stdout.flush();
}

/// One connection to the ensemble, replaceable with `connect` / `close`.
pub struct Session {
    host: String,
    timeout: Duration,
    readonly: bool,
    client: Option<Client>,
    notifier: Notifier,
}

impl Session {
    pub fn new(host: String, timeout_ms: u64, readonly: bool, notifier: Notifier) -> Self {
        Session {
            host,
            timeout: Duration::from_millis(timeout_ms),
            readonly,
            client: None,
            notifier,
        }
    }

    pub fn host(&self) -> &str {
        &self.host
    }

    /// The session state for the prompt; `None` when there is no session.
    pub fn state(&self) -> Option<SessionState> {
        self.client.as_ref().map(Client::state)
    }

    /// The live client, if any, e.g. for completing znode paths.
    pub fn client(&self) -> Option<&Client> {
        self.client.as_ref()
    }

    /// (Re)connects, to `host` if given, else to the current host. Fails fast
    /// when no server answers instead of retrying for the whole session timeout,
    /// so a typo in `-server` is reported at once.
    pub async fn connect(&mut self, host: Option<&str>) -> Result<(), ZkError> {
        self.close().await;
        if let Some(host) = host {
            self.host = host.to_owned();
        }
        let client = Client::connector()
            .with_session_timeout(self.timeout)
            .with_readonly(self.readonly)
            .with_fail_eagerly()
            .connect(&self.host)
            .await?;
        // zkCli's default watcher prints the connection event; later state
        // changes (disconnects, expiry, close) are printed as they happen.
        self.notifier
            .notify(watcher_block(&session_event_line(client.state())));
        let mut states = client.state_watcher();
        let notifier = self.notifier.clone();
        tokio::spawn(async move {
            loop {
                let state = states.changed().await;
                notifier.notify(watcher_block(&session_event_line(state)));
                if state.is_terminated() {
                    break;
                }
            }
        });
        self.client = Some(client);
        Ok(())
    }

    /// Closes the session and waits (briefly) for the server to confirm, so
    /// ephemeral nodes disappear now rather than at session expiry.
    pub async fn close(&mut self) {
        let Some(client) = self.client.take() else {
            return;
        };
        let mut states = client.state_watcher();
        drop(client);
        let closed = async {
            while !states.state().is_terminated() {
                states.changed().await;
            }
        };
        let _ = tokio::time::timeout(Duration::from_secs(3), closed).await;
    }

    /// Runs a command that talks to the server. Without a live session it
    /// prints `Not connected`, as zkCli does, and succeeds.
    pub async fn execute(&self, command: &Command) -> Result<(), CliError> {
        let client = match &self.client {
            Some(client) if !client.state().is_terminated() => client,
            _ => {
                out("Not connected");
                return Ok(());
            }
        };
        match command {
            Command::Ls {
                path,
                stat,
                watch,
                recursive,
            } => self.ls(client, path, *stat, *watch, *recursive).await,
            Command::Get { path, stat, watch } => self.get(client, path, *stat, *watch).await,
            Command::Stat { path, watch } => self.stat(client, path, *watch).await,
            Command::Create {
                path,
                kind,
                ttl,
                data,
                acl,
            } => create(client, path, *kind, *ttl, data, acl.as_deref()).await,
            Command::Set {
                path,
                data,
                version,
                stat,
            } => {
                let new_stat = client
                    .set_data(path, data, *version)
                    .await
                    .map_err(|e| CliError::keeper(e, path))?;
                if *stat {
                    out(&format_stat(&new_stat));
                }
                Ok(())
            }
            Command::Delete { path, version } => client
                .delete(path, *version)
                .await
                .map_err(|e| CliError::keeper(e, path)),
            Command::DeleteAll { path } => delete_all(client, path).await,
            Command::GetAcl { path, stat } => {
                let (acls, node_stat) = client
                    .get_acl(path)
                    .await
                    .map_err(|e| CliError::keeper(e, path))?;
                for acl in &acls {
                    out(&format_acl(acl));
                }
                if *stat {
                    out(&format_stat(&node_stat));
                }
                Ok(())
            }
            Command::SetAcl {
                path,
                acl,
                version,
                stat,
                recursive,
            } => set_acl(client, path, acl, *version, *stat, *recursive).await,
            Command::AddAuth { scheme, auth } => client
                .auth(scheme, auth)
                .await
                .map_err(|e| CliError::Failed(keeper_exception_text(&e))),
            Command::AddWatch { path, recursive } => self.add_watch(client, path, *recursive).await,
            Command::Sync { path } => match client.sync(path).await {
                Ok(()) => {
                    out("Sync is OK");
                    Ok(())
                }
                Err(e) => Err(CliError::Failed(format!(
                    "Sync has failed. rc={}",
                    keeper_code(&e)
                ))),
            },
            Command::WhoAmI => {
                let users = client
                    .list_auth_users()
                    .await
                    .map_err(|e| CliError::Failed(keeper_exception_text(&e)))?;
                out("Auth scheme: User");
                for user in users {
                    out(&format!("{}: {}", user.scheme(), user.user()));
                }
                Ok(())
            }
            Command::GetEphemerals { path } => {
                let paths = client
                    .list_ephemerals(path)
                    .await
                    .map_err(|e| CliError::keeper(e, path))?;
                out(&java_list(&paths));
                Ok(())
            }
            Command::GetAllChildrenNumber { path } => {
                let n = client
                    .count_descendants_number(path)
                    .await
                    .map_err(|e| CliError::keeper(e, path))?;
                out(&n.to_string());
                Ok(())
            }
            // Shell-only commands never get here; see `shell::run_local`.
            _ => Ok(()),
        }
    }

    async fn ls(
        &self,
        client: &Client,
        path: &str,
        stat: bool,
        watch: bool,
        recursive: bool,
    ) -> Result<(), CliError> {
        if recursive {
            // zkCli ignores -s with -R and prints one path per line.
            let watches = watch.then_some(&self.notifier);
            return walk_subtree(client, path, watches, &mut |node| out(node)).await;
        }
        let (mut children, node_stat) = match (stat, watch) {
            (true, true) => {
                let (children, stat, watcher) = client
                    .get_and_watch_children(path)
                    .await
                    .map_err(|e| CliError::keeper(e, path))?;
                self.on_fire(watcher);
                (children, Some(stat))
            }
            (true, false) => {
                let (children, stat) = client
                    .get_children(path)
                    .await
                    .map_err(|e| CliError::keeper(e, path))?;
                (children, Some(stat))
            }
            (false, true) => {
                let (children, watcher) = client
                    .list_and_watch_children(path)
                    .await
                    .map_err(|e| CliError::keeper(e, path))?;
                self.on_fire(watcher);
                (children, None)
            }
            (false, false) => (
                client
                    .list_children(path)
                    .await
                    .map_err(|e| CliError::keeper(e, path))?,
                None,
            ),
        };
        children.sort();
        out(&java_list(&children));
        if let Some(node_stat) = node_stat {
            out(&format_stat(&node_stat));
        }
        Ok(())
    }

    async fn get(
        &self,
        client: &Client,
        path: &str,
        stat: bool,
        watch: bool,
    ) -> Result<(), CliError> {
        let (data, node_stat) = if watch {
            let (data, stat, watcher) = client
                .get_and_watch_data(path)
                .await
                .map_err(|e| CliError::keeper(e, path))?;
            self.on_fire(watcher);
            (data, stat)
        } else {
            client
                .get_data(path)
                .await
                .map_err(|e| CliError::keeper(e, path))?
        };
        out(&String::from_utf8_lossy(&data));
        if stat {
            out(&format_stat(&node_stat));
        }
        Ok(())
    }

    async fn stat(&self, client: &Client, path: &str, watch: bool) -> Result<(), CliError> {
        let node_stat = if watch {
            // An exists-watch on a missing node still fires when it is created.
            let (stat, watcher) = client
                .check_and_watch_stat(path)
                .await
                .map_err(|e| CliError::keeper(e, path))?;
            self.on_fire(watcher);
            stat
        } else {
            client
                .check_stat(path)
                .await
                .map_err(|e| CliError::keeper(e, path))?
        };
        let node_stat = node_stat.ok_or_else(|| CliError::keeper(ZkError::NoNode, path))?;
        out(&format_stat(&node_stat));
        Ok(())
    }

    async fn add_watch(
        &self,
        client: &Client,
        path: &str,
        recursive: bool,
    ) -> Result<(), CliError> {
        let mode = if recursive {
            AddWatchMode::PersistentRecursive
        } else {
            AddWatchMode::Persistent
        };
        let mut watcher = client
            .watch(path, mode)
            .await
            .map_err(|e| CliError::keeper(e, path))?;
        let notifier = self.notifier.clone();
        tokio::spawn(async move {
            loop {
                let event = watcher.changed().await;
                if event.event_type == EventType::Session {
                    // Session changes are reported once, by the state watcher;
                    // and a persistent watcher must not be polled after the end.
                    if event.session_state.is_terminated() {
                        break;
                    }
                    continue;
                }
                notifier.notify(watcher_block(&node_event_line(&event)));
            }
        });
        Ok(())
    }

    fn on_fire(&self, watcher: OneshotWatcher) {
        on_fire(&self.notifier, watcher);
    }
}

/// Prints the watch's event when it fires. Session-only wake-ups (the session
/// closing) are not node events; the state watcher reports those.
fn on_fire(notifier: &Notifier, watcher: OneshotWatcher) {
    let notifier = notifier.clone();
    tokio::spawn(async move {
        let event = watcher.changed().await;
        if event.event_type != EventType::Session {
            notifier.notify(watcher_block(&node_event_line(&event)));
        }
    });
}

/// Visits `root` and its descendants in zkCli's `ZKUtil.visitSubTreeDFS`
/// order: a node's children (sorted) are all visited before descending into
/// the first of them. Visiting as we go means `ls -R` output streams, and
/// shows the part it got before an error, just like zkCli's.
///
/// With `watches`, a data watch is left on `root` and a child watch on every
/// node, as `ls -w -R` does.
async fn walk_subtree(
    client: &Client,
    root: &str,
    watches: Option<&Notifier>,
    visit: &mut dyn FnMut(&str),
) -> Result<(), CliError> {
    // zkCli reads the root first, so a missing root is an error while
    // descendants that vanish during the walk are not.
    match watches {
        Some(notifier) => {
            let (_, _, watcher) = client
                .get_and_watch_data(root)
                .await
                .map_err(|e| CliError::keeper(e, root))?;
            on_fire(notifier, watcher);
        }
        None => {
            client
                .get_data(root)
                .await
                .map_err(|e| CliError::keeper(e, root))?;
        }
    }
    visit(root);
    let mut stack = vec![root.to_owned()];
    while let Some(parent) = stack.pop() {
        let listed = match watches {
            Some(notifier) => {
                client
                    .list_and_watch_children(&parent)
                    .await
                    .map(|(children, watcher)| {
                        on_fire(notifier, watcher);
                        children
                    })
            }
            None => client.list_children(&parent).await,
        };
        let mut children = match listed {
            Ok(children) => children,
            Err(ZkError::NoNode) => continue,
            Err(e) => return Err(CliError::keeper(e, &parent)),
        };
        children.sort();
        let paths: Vec<String> = children
            .iter()
            .map(|child| child_path(&parent, child))
            .collect();
        for path in &paths {
            visit(path);
        }
        stack.extend(paths.into_iter().rev());
    }
    Ok(())
}

/// All of `root`'s subtree, parents before children.
async fn subtree(client: &Client, root: &str) -> Result<Vec<String>, CliError> {
    let mut nodes = Vec::new();
    walk_subtree(client, root, None, &mut |path| nodes.push(path.to_owned())).await?;
    Ok(nodes)
}

async fn create(
    client: &Client,
    path: &str,
    kind: CreateKind,
    ttl: Option<i64>,
    data: &[u8],
    acl: Option<&[zookeeper_client::Acl]>,
) -> Result<(), CliError> {
    let acls = match acl {
        None => Acls::anyone_all(),
        // The Java client rejects an empty list before sending it.
        Some([]) => {
            err(&keeper_exception_text(&ZkError::InvalidAcl));
            return Err(CliError::Keeper {
                error: ZkError::InvalidAcl,
                path: None,
            });
        }
        Some(list) => Acls::new(list),
    };
    // The library refuses to send a create for "/", the server would say it exists.
    if path == "/" {
        return Err(CliError::keeper(ZkError::NodeExists, path));
    }
    let mode = match kind {
        CreateKind::Persistent => CreateMode::Persistent,
        CreateKind::PersistentSequential => CreateMode::PersistentSequential,
        CreateKind::Ephemeral => CreateMode::Ephemeral,
        CreateKind::EphemeralSequential => CreateMode::EphemeralSequential,
        CreateKind::Container => CreateMode::Container,
    };
    let mut options = mode.with_acls(acls);
    if let Some(ttl) = ttl {
        options = options.with_ttl(Duration::from_millis(ttl.unsigned_abs()));
    }
    match client.create(path, data, &options).await {
        Ok((_, sequence)) => {
            let created = if kind.is_sequential() {
                format!("{path}{sequence}")
            } else {
                path.to_owned()
            };
            err(&format!("Created {created}"));
            Ok(())
        }
        Err(ZkError::InvalidAcl) => {
            err(&format!(
                "{} for {path}",
                keeper_exception_text(&ZkError::InvalidAcl)
            ));
            Err(CliError::keeper(ZkError::InvalidAcl, path))
        }
        Err(e) => Err(CliError::keeper(e, path)),
    }
}

/// Deletes `path` and everything under it, children before parents. Nodes that vanish
/// meanwhile are fine; anything else that fails is reported once at the end,
/// as zkCli does.
async fn delete_all(client: &Client, path: &str) -> Result<(), CliError> {
    let nodes = subtree(client, path).await?;
    let mut failed = false;
    for node in nodes.iter().rev().filter(|node| node.as_str() != "/") {
        match client.delete(node, None).await {
            Ok(()) | Err(ZkError::NoNode) => {}
            Err(_) => failed = true,
        }
    }
    if failed {
        return Err(CliError::Failed(
            "Failed to delete some node(s) in the subtree!".into(),
        ));
    }
    Ok(())
}

async fn set_acl(
    client: &Client,
    path: &str,
    acl: &[zookeeper_client::Acl],
    version: Option<i32>,
    stat: bool,
    recursive: bool,
) -> Result<(), CliError> {
    // The Java client rejects an empty list (all entries malformed) itself.
    if acl.is_empty() {
        return Err(CliError::Keeper {
            error: ZkError::InvalidAcl,
            path: None,
        });
    }
    if recursive {
        for node in subtree(client, path).await? {
            client
                .set_acl(&node, acl, version)
                .await
                .map_err(|e| CliError::keeper(e, &node))?;
        }
        return Ok(());
    }
    let new_stat = client
        .set_acl(path, acl, version)
        .await
        .map_err(|e| CliError::keeper(e, path))?;
    if stat {
        out(&format_stat(&new_stat));
    }
    Ok(())
}
