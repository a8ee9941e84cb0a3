//! `unblock lsp`: a language server over stdio, a thin layer over the engine like `check` and
//! `apply`. Diagnostics for open documents (debounced while typing; pushed, or pulled with
//! `textDocument/diagnostic` by the clients that can), a quick fix and a suppression comment
//! per finding, `source.fixAll.unblock` (what `unblock apply` writes), and the recipe's page
//! (what `unblock explain` prints) on hover over a finding or a suppression comment.
//!
//! The configuration is the engine's: each file gets the nearest one above it, whichever
//! workspace folder it is in. It is read again, and every open file analysed again, when a
//! `pyproject.toml` or `unblock.toml` changes (watched through the client) or the client's
//! settings change; a configuration that cannot be read is a diagnostic on its file.
//!
//! One message loop over `lsp-server`'s channels answers requests and keeps the documents;
//! what may take long runs beside it, so that an edit is read while the last one is analysed:
//! the analysis thread (each document's newest version, direct findings published before the
//! call graph's refinement; an outdated version is dropped) and the workspace scan (a thread
//! of its own, merged when it ends). The stdio transport is our own: a malformed message is
//! logged and skipped instead of ending the session (lsp-server's stops reading at the first
//! one).

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use lsp_server::{Connection, ErrorCode, Message, Notification, Request, RequestId, Response};
use lsp_types::{
    CodeAction, CodeActionKind, CodeActionOptions, CodeActionOrCommand, CodeActionParams,
    CodeActionProviderCapability, Diagnostic, DiagnosticOptions, DiagnosticRelatedInformation,
    DiagnosticServerCapabilities, DiagnosticSeverity, DidChangeTextDocumentParams,
    DidChangeWatchedFilesParams, DidChangeWorkspaceFoldersParams, DidCloseTextDocumentParams,
    DidOpenTextDocumentParams, DidSaveTextDocumentParams, DocumentDiagnosticParams, Hover,
    HoverContents, HoverParams, HoverProviderCapability, InitializeParams, Location, MarkupContent,
    MarkupKind, NumberOrString, OneOf, Position, PositionEncodingKind, PublishDiagnosticsParams,
    Range, ServerCapabilities, ServerInfo, TextDocumentSyncCapability, TextDocumentSyncKind,
    TextDocumentSyncOptions, TextDocumentSyncSaveOptions, TextEdit, Uri, WorkspaceEdit,
    WorkspaceFoldersServerCapabilities, WorkspaceServerCapabilities,
};
use serde::Deserialize;

use crate::config::{Config, LoadedConfig};
use crate::engine::fix::{apply_fixes, FixOptions};
use crate::engine::index::ProjectIndex;
use crate::engine::source::SourceFile;
use crate::engine::walk::DEFAULT_EXCLUDES;
use crate::engine::{Engine, Selection};
use crate::finding::{Finding, Safety};
use crate::recipes;

/// Diagnostics are published once a document has had no change for this long.
const DEBOUNCE: Duration = Duration::from_millis(150);
/// Workspaces with more Python files than this are not scanned whole (the client may say
/// otherwise: `initializationOptions.maxWorkspaceFiles`): each open file is then settled
/// against its own project's modules, as `unblock check FILE` is.
const MAX_WORKSPACE_FILES: usize = 20_000;
/// The code action kind of the whole-file fix.
pub const FIX_ALL_KIND: &str = "source.fixAll.unblock";
/// The files a configuration is read from: a change to one reloads it.
const CONFIGURATION_FILES: &[&str] = &["unblock.toml", "pyproject.toml"];

/// What the client may set, in `initializationOptions` and in
/// `workspace/didChangeConfiguration` (there, the object itself or under an `unblock` key): the
/// command line's options, over every configuration file as they are.
#[derive(Debug, Default, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct Settings {
    /// `--select`
    select: Vec<String>,
    /// `--ignore`
    ignore: Vec<String>,
    /// `--config FILE`: this configuration for every file (relative to the first workspace
    /// folder).
    configuration: Option<PathBuf>,
    /// `--http-client EXPR`
    http_client: Option<String>,
    /// `--target-version`
    target_version: Option<String>,
    /// Workspaces with more Python files than this are not scanned.
    max_workspace_files: Option<usize>,
}

impl Settings {
    /// The settings in a client's object, `None` when it holds none of ours (a client that
    /// sends every server the settings of all of them).
    fn from_client(value: &serde_json::Value) -> Option<Result<Settings, String>> {
        let object = value.as_object()?;
        let ours = match object.get("unblock") {
            Some(nested) if nested.is_object() => nested,
            _ => {
                const KEYS: &[&str] = &[
                    "select",
                    "ignore",
                    "configuration",
                    "httpClient",
                    "targetVersion",
                    "maxWorkspaceFiles",
                ];
                if !object.keys().any(|k| KEYS.contains(&k.as_str())) {
                    return None;
                }
                value
            }
        };
        let settings = Settings::deserialize(ours).map_err(|e| e.to_string());
        Some(
            settings.and_then(|settings| match &settings.target_version {
                Some(v) if !crate::config::TARGET_VERSIONS.contains(&v.as_str()) => Err(format!(
                    "`targetVersion` {v:?} is not one of {}",
                    crate::config::TARGET_VERSIONS.join(", ")
                )),
                _ => Ok(settings),
            }),
        )
    }
}

/// What the client said it can do, as far as the server cares.
#[derive(Debug, Default)]
struct ClientSupport {
    /// `textDocument/diagnostic`: diagnostics are pulled, not pushed.
    pull_diagnostics: bool,
    /// `workspace/diagnostic/refresh`: the client may be asked to pull again.
    diagnostic_refresh: bool,
    /// `workspace/didChangeWatchedFiles` may be registered for the configuration files.
    watch_files: bool,
}

impl ClientSupport {
    /// Read from the JSON (lsp-types names `workspace.diagnostics` in the singular, so that
    /// the refresh support a client states would be lost).
    fn of(capabilities: &serde_json::Value) -> ClientSupport {
        let flag = |path: &[&str]| {
            path.iter()
                .try_fold(capabilities, |value, key| value.get(key))
                .and_then(serde_json::Value::as_bool)
                .unwrap_or(false)
        };
        ClientSupport {
            pull_diagnostics: capabilities
                .pointer("/textDocument/diagnostic")
                .is_some_and(serde_json::Value::is_object),
            diagnostic_refresh: flag(&["workspace", "diagnostics", "refreshSupport"]),
            watch_files: flag(&["workspace", "didChangeWatchedFiles", "dynamicRegistration"]),
        }
    }
}

/// Runs the server on stdin/stdout until `exit`. Exit code 0 after a clean shutdown, 1 when
/// the session ended without one (the LSP spec's codes).
pub fn run() -> std::process::ExitCode {
    let (connection, writer) = stdio_connection();
    let served = serve(&connection);
    // Everything the server sent (the shutdown reply last) must reach stdout before the process
    // ends: closing the connection ends the writer's queue, and the writer is waited for.
    drop(connection);
    let _ = writer.join();
    match served {
        Ending::Clean => std::process::ExitCode::SUCCESS,
        Ending::ExitBeforeShutdown => std::process::ExitCode::from(1),
    }
}

fn serve(connection: &Connection) -> Ending {
    let capabilities = ServerCapabilities {
        position_encoding: Some(PositionEncodingKind::UTF16),
        text_document_sync: Some(TextDocumentSyncCapability::Options(
            TextDocumentSyncOptions {
                open_close: Some(true),
                change: Some(TextDocumentSyncKind::INCREMENTAL),
                save: Some(TextDocumentSyncSaveOptions::Supported(true)),
                ..Default::default()
            },
        )),
        code_action_provider: Some(CodeActionProviderCapability::Options(CodeActionOptions {
            code_action_kinds: Some(vec![
                CodeActionKind::QUICKFIX,
                CodeActionKind::new(FIX_ALL_KIND),
            ]),
            ..Default::default()
        })),
        hover_provider: Some(HoverProviderCapability::Simple(true)),
        workspace: Some(WorkspaceServerCapabilities {
            workspace_folders: Some(WorkspaceFoldersServerCapabilities {
                supported: Some(true),
                change_notifications: Some(OneOf::Left(true)),
            }),
            file_operations: None,
        }),
        diagnostic_provider: Some(DiagnosticServerCapabilities::Options(DiagnosticOptions {
            identifier: Some("unblock".into()),
            // The call graph: a change to a helper in another file changes this one's.
            inter_file_dependencies: true,
            workspace_diagnostics: false,
            ..Default::default()
        })),
        ..Default::default()
    };
    let Some((id, params)) = await_initialize(connection) else {
        return Ending::ExitBeforeShutdown;
    };
    let client = ClientSupport::of(
        params
            .get("capabilities")
            .unwrap_or(&serde_json::Value::Null),
    );
    let params: InitializeParams = serde_json::from_value(params).unwrap_or_default();
    let result = serde_json::json!({
        "capabilities": capabilities,
        "serverInfo": ServerInfo {
            name: "unblock".into(),
            version: Some(env!("CARGO_PKG_VERSION").into()),
        },
    });
    // `initialized` is not waited for: what the client sends before it is served as usual.
    send(connection, Response::new_ok(id, result).into());
    let settings = match params
        .initialization_options
        .as_ref()
        .and_then(Settings::from_client)
    {
        Some(Ok(settings)) => settings,
        Some(Err(message)) => {
            show_message(
                connection,
                &format!("unblock: initializationOptions: {message} (not applied)"),
            );
            Settings::default()
        }
        None => Settings::default(),
    };
    let folders = workspace_folders(&params);
    let (engine, problems) = configure(&folders, &settings, &[]);
    let mut server = Server::new(engine, folders, settings, client);
    server.show_configuration_problems(connection, problems);
    server.main_loop(connection)
}

/// How the session ended: the LSP spec has the process exit with 0 after `shutdown` then
/// `exit`, and with 1 when `exit` (or the end of input) comes without `shutdown`.
#[derive(Debug, PartialEq, Eq)]
enum Ending {
    Clean,
    ExitBeforeShutdown,
}

/// Waits for `initialize`, as the spec asks of a server before it: requests get
/// ServerNotInitialized, notifications and responses are dropped, `exit` ends the session.
/// `None` when the session ends first.
fn await_initialize(connection: &Connection) -> Option<(lsp_server::RequestId, serde_json::Value)> {
    loop {
        match connection.receiver.recv().ok()? {
            Message::Request(request) if request.method == "initialize" => {
                return Some((request.id, request.params))
            }
            Message::Request(request) => send(
                connection,
                Response::new_err(
                    request.id,
                    ErrorCode::ServerNotInitialized as i32,
                    format!("`{}` before `initialize`", request.method),
                )
                .into(),
            ),
            Message::Notification(notification) if notification.method == "exit" => return None,
            Message::Notification(_) | Message::Response(_) => {}
        }
    }
}

/// The workspace folders, else `rootUri`, else `rootPath`, else the current directory.
#[allow(deprecated)]
fn workspace_folders(params: &InitializeParams) -> Vec<PathBuf> {
    let folders: Vec<PathBuf> = params
        .workspace_folders
        .iter()
        .flatten()
        .filter_map(|folder| uri_to_path(folder.uri.as_str()))
        .collect();
    if !folders.is_empty() {
        return folders;
    }
    let root = params
        .root_uri
        .as_ref()
        .and_then(|u| uri_to_path(u.as_str()))
        .or_else(|| params.root_path.as_ref().map(PathBuf::from))
        .unwrap_or_else(|| PathBuf::from("."));
    vec![root]
}

/// A configuration file that cannot be read, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
struct ConfigurationProblem {
    file: PathBuf,
    message: String,
}

/// The engine for these workspace folders and settings, as `unblock check` builds it for the
/// first folder (`settings` as its command-line options), and what is wrong with the
/// configuration files that apply to the folders and to the open documents (`open`): each
/// file then gets the nearest configuration above it that can be read.
fn configure(
    folders: &[PathBuf],
    settings: &Settings,
    open: &[PathBuf],
) -> (Engine, Vec<ConfigurationProblem>) {
    let first = folders
        .first()
        .cloned()
        .unwrap_or_else(|| PathBuf::from("."));
    let first = std::fs::canonicalize(&first).unwrap_or(first);
    let mut problems = Vec::new();
    let mut problem = |file: PathBuf, message: String| {
        // The engine's messages start with the file (and `line:column:` when located), which
        // the diagnostic is on already, and end with the line underlined, which the editor
        // shows itself.
        let first_line = message.lines().next().unwrap_or("");
        let after_file = first_line
            .strip_prefix(&format!("{}:", file.display()))
            .unwrap_or(first_line);
        let mut parts = after_file.splitn(3, ':');
        let located = match (parts.next(), parts.next(), parts.next()) {
            (Some(line), Some(column), Some(rest))
                if !line.is_empty()
                    && line.chars().all(|c| c.is_ascii_digit())
                    && column.chars().all(|c| c.is_ascii_digit()) =>
            {
                Some(rest)
            }
            _ => None,
        };
        let message = located.unwrap_or(after_file).trim_start().to_string();
        let problem = ConfigurationProblem { file, message };
        if !problems.contains(&problem) {
            problems.push(problem);
        }
    };
    let config = match &settings.configuration {
        Some(path) => {
            let path = first.join(path);
            Config::load(&path).unwrap_or_else(|message| {
                problem(path, message);
                LoadedConfig::default()
            })
        }
        None => match nearest_configuration(&first) {
            Some((file, Ok(Some(config)))) => LoadedConfig {
                config,
                root: file.parent().map(Path::to_path_buf),
                source: Some(file),
                located: None,
            },
            Some((file, Err(message))) => {
                problem(file, message);
                LoadedConfig::default()
            }
            Some((_, Ok(None))) | None => LoadedConfig::default(),
        },
    };
    let config = match config.check_source_roots() {
        Ok(()) => config,
        Err(message) => {
            problem(config.source.clone().unwrap_or_default(), message);
            LoadedConfig::default()
        }
    };
    if settings.configuration.is_none() {
        // The other folders' and the open files' own configurations (the engine passes over
        // one it cannot read).
        for start in folders.iter().skip(1).chain(open) {
            if let Some((file, Err(message))) = nearest_configuration(start) {
                problem(file, message);
            }
        }
    }
    let mut engine = Engine::new(
        config,
        Selection {
            select: settings.select.clone(),
            ignore: settings.ignore.clone(),
        },
    );
    engine.explicit_config = settings.configuration.is_some();
    engine.target_version = settings.target_version.clone();
    if let Some(client) = &settings.http_client {
        engine.config.config.http_client = Some(client.clone());
        engine.cli_http_client = Some(client.clone());
    }
    (engine, problems)
}

/// The configuration file nearest above `start` (a file or folder), as the engine finds it,
/// and what reading it gave: `Ok(None)` is a `pyproject.toml` without `[tool.unblock]` with
/// none further up.
fn nearest_configuration(start: &Path) -> Option<(PathBuf, Result<Option<Config>, String>)> {
    let start = std::fs::canonicalize(start).unwrap_or_else(|_| start.to_path_buf());
    let first = if start.is_dir() {
        Some(start.as_path())
    } else {
        start.parent()
    };
    for dir in first.into_iter().flat_map(Path::ancestors) {
        for name in CONFIGURATION_FILES {
            let file = dir.join(name);
            if file.is_file() {
                match Config::from_file(&file) {
                    Ok(None) => {}
                    read => return Some((file, read)),
                }
            }
        }
    }
    None
}

/// Where in a configuration file a problem is: the span of the key or value the TOML reader
/// stopped at, else the line of the key the message names in backquotes, else the start.
fn problem_range(text: &str, message: &str) -> Range {
    // Read only for where reading them fails.
    #[derive(Deserialize)]
    #[allow(dead_code)]
    struct PyProject {
        tool: Option<Tools>,
    }
    #[derive(Deserialize)]
    #[allow(dead_code)]
    struct Tools {
        unblock: Option<Config>,
    }
    let lines = LineIndex::new(text);
    let nested = text
        .parse::<toml::Table>()
        .map(|t| t.get("tool").and_then(|t| t.get("unblock")).is_some());
    let span = match nested {
        Err(e) => e.span(),
        Ok(true) => toml::from_str::<PyProject>(text)
            .err()
            .and_then(|e| e.span()),
        Ok(false) => toml::from_str::<Config>(text).err().and_then(|e| e.span()),
    };
    if let Some(span) = span {
        return Range::new(
            lines.position(text, span.start),
            lines.position(text, span.end.max(span.start)),
        );
    }
    let named_key = message.split('`').nth(1).filter(|k| !k.is_empty());
    let line = named_key.and_then(|key| {
        text.lines().position(|line| {
            line.trim_start()
                .strip_prefix(key)
                .is_some_and(|rest| rest.trim_start().starts_with('='))
        })
    });
    match line {
        Some(line) => {
            let length = text.lines().nth(line).unwrap_or("").encode_utf16().count();
            Range::new(
                Position::new(line as u32, 0),
                Position::new(line as u32, length as u32),
            )
        }
        None => Range::default(),
    }
}

/// Whether a document is a configuration file (read by the engine, not analysed as Python).
fn is_configuration_file(path: &Path) -> bool {
    path.file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| CONFIGURATION_FILES.contains(&n))
}

struct Document {
    uri: Uri,
    text: String,
    version: Option<i32>,
    /// A `pyproject.toml` or `unblock.toml` open in the editor: its saves reload the
    /// configuration; it is not analysed.
    is_configuration: bool,
    /// Diagnostics are due at this instant (a change not yet checked).
    due: Option<Instant>,
    /// Bumped by every change: an analysis of an older generation is outdated.
    generation: u64,
    /// `generation` as the analysis thread sees it, to give up on outdated work early.
    latest: Arc<AtomicU64>,
    /// The generation and the diagnostics last published (a refinement that changes nothing
    /// is not sent again), and their result id for pull diagnostics.
    published: Option<(u64, Vec<Diagnostic>)>,
    result_id: u64,
    /// `textDocument/diagnostic` requests waiting for this generation's diagnostics, with the
    /// result id the client has.
    pulls: Vec<(RequestId, Option<String>)>,
    /// The result id the client last pulled (a newer one is worth a refresh).
    pulled: Option<u64>,
}

impl Document {
    /// The diagnostics of the current generation are out.
    fn is_analysed(&self) -> bool {
        self.is_configuration
            || self
                .published
                .as_ref()
                .is_some_and(|(g, _)| *g == self.generation)
    }

    /// A pull report of what was published last.
    fn report(&mut self, previous: Option<&str>) -> serde_json::Value {
        let result_id = self.result_id.to_string();
        self.pulled = Some(self.result_id);
        if previous == Some(result_id.as_str()) {
            return serde_json::json!({ "kind": "unchanged", "resultId": result_id });
        }
        let items = self
            .published
            .as_ref()
            .map(|(_, d)| d.clone())
            .unwrap_or_default();
        serde_json::json!({ "kind": "full", "resultId": result_id, "items": items })
    }
}

struct Server {
    engine: Arc<Engine>,
    /// The first workspace folder: where the paths of findings are relative to.
    root: PathBuf,
    /// Every workspace folder (the workspace scan reads each).
    folders: Vec<PathBuf>,
    /// The client's settings (`initializationOptions`, then `didChangeConfiguration`).
    settings: Settings,
    client: ClientSupport,
    /// The configuration files that could not be read, as last shown.
    problems: Vec<ConfigurationProblem>,
    /// Bumped by every reload of the configuration: a scan begun before it is outdated.
    epoch: u64,
    documents: HashMap<String, Document>,
    /// The workspace as on disk, from the last scan that finished: what code actions settle
    /// indirect findings against (the analysis thread has its own copy).
    workspace: Option<Arc<ProjectIndex>>,
    scan: Scan,
    analysis: crossbeam_channel::Sender<Work>,
    /// What the analysis thread and the workspace scan report back.
    events: crossbeam_channel::Receiver<Event>,
    events_sender: crossbeam_channel::Sender<Event>,
    /// The last result id given to a document's diagnostics (for pull diagnostics).
    results: u64,
    /// A `workspace/diagnostic/refresh` is unanswered (`Some`); `Some(true)`: diagnostics
    /// changed since it was sent, so another one is due when it is answered.
    refresh: Option<bool>,
    /// `shutdown` was answered: only `exit` is expected now.
    shut_down: bool,
}

/// The whole-workspace scan, run on its own thread so that no open file waits for it.
#[derive(Debug, PartialEq, Eq)]
enum Scan {
    /// Started once the first open file's direct findings are out.
    NotStarted,
    /// `again`: a file was saved while it ran, so what it read may be outdated.
    Running {
        again: bool,
    },
    Finished,
}

/// What the main loop hands the analysis thread.
enum Work {
    Analyse(Job),
    /// The workspace index to settle against from now on (`None`: not scanned, each file is
    /// settled against its own project's modules).
    Workspace(Option<Arc<ProjectIndex>>),
    /// The configuration was read again: the engine to analyse with from now on (the index
    /// built with the last one is dropped).
    Reconfigure(Arc<Engine>),
}

/// One version of one document to analyse.
struct Job {
    key: String,
    uri: Uri,
    text: Arc<str>,
    version: Option<i32>,
    generation: u64,
    latest: Arc<AtomicU64>,
    /// This generation's direct findings are out: only the refinement is due (after a scan).
    refine_only: bool,
}

impl Job {
    fn is_outdated(&self) -> bool {
        self.latest.load(Ordering::Acquire) != self.generation
    }
}

/// What the analysis thread and the workspace scan report to the main loop.
enum Event {
    Analysed {
        key: String,
        generation: u64,
        /// The first publication of this version: the file's own findings (the call graph's
        /// refinement may follow).
        direct: bool,
        params: PublishDiagnosticsParams,
    },
    Scanned {
        /// The configuration epoch the scan ran with.
        epoch: u64,
        index: Option<Box<ProjectIndex>>,
        summary: String,
    },
}

impl Server {
    fn new(
        engine: Engine,
        folders: Vec<PathBuf>,
        settings: Settings,
        client: ClientSupport,
    ) -> Server {
        let engine = Arc::new(engine);
        let root = folders
            .first()
            .cloned()
            .unwrap_or_else(|| PathBuf::from("."));
        let (analysis, jobs) = crossbeam_channel::unbounded();
        let (events_sender, events) = crossbeam_channel::unbounded();
        {
            let engine = engine.clone();
            let root = root.clone();
            let events = events_sender.clone();
            std::thread::Builder::new()
                .name("unblock-lsp-analysis".into())
                .spawn(move || analysis_thread(engine, &root, &jobs, &events))
                .expect("spawn the analysis thread");
        }
        Server {
            engine,
            root,
            folders,
            settings,
            client,
            problems: Vec::new(),
            epoch: 0,
            documents: HashMap::new(),
            workspace: None,
            scan: Scan::NotStarted,
            analysis,
            events,
            events_sender,
            results: 0,
            refresh: None,
            shut_down: false,
        }
    }

    fn main_loop(&mut self, connection: &Connection) -> Ending {
        let end_of_input = |shut_down: bool| {
            if shut_down {
                Ending::Clean
            } else {
                Ending::ExitBeforeShutdown
            }
        };
        let events = self.events.clone();
        loop {
            let next_due = self.documents.values().filter_map(|d| d.due).min();
            let timer = match next_due {
                Some(due) => crossbeam_channel::at(due),
                None => crossbeam_channel::never(),
            };
            let message = crossbeam_channel::select! {
                recv(connection.receiver) -> message => match message {
                    Ok(message) => message,
                    Err(_) => return end_of_input(self.shut_down),
                },
                recv(events) -> event => {
                    if let Ok(event) = event {
                        self.event(connection, event);
                    }
                    continue;
                }
                recv(timer) -> _ => {
                    self.analyse_due();
                    continue;
                }
            };
            match message {
                Message::Request(request) if self.shut_down || request.method == "initialize" => {
                    let when = if self.shut_down {
                        "after `shutdown`"
                    } else {
                        "a second time"
                    };
                    send(
                        connection,
                        Response::new_err(
                            request.id,
                            ErrorCode::InvalidRequest as i32,
                            format!("`{}` {when}", request.method),
                        )
                        .into(),
                    )
                }
                Message::Request(request) if request.method == "shutdown" => {
                    self.shut_down = true;
                    self.documents.clear();
                    send(connection, Response::new_ok(request.id, ()).into());
                }
                // Answered once the document's diagnostics are out, which may be later.
                Message::Request(request) if request.method == "textDocument/diagnostic" => {
                    self.pull_diagnostics(connection, request);
                }
                Message::Request(request) => {
                    let response = self.request(request);
                    send(connection, response.into());
                }
                Message::Notification(notification) => {
                    if notification.method == "exit" {
                        return end_of_input(self.shut_down);
                    }
                    if !self.shut_down {
                        self.notification(connection, notification);
                    }
                }
                // Only a refresh's answer matters (another may be due); a failed registration
                // leaves the configuration read at start and on saves in the editor.
                Message::Response(response) => {
                    if response.id == refresh_id() {
                        if self.refresh == Some(true) && !self.shut_down {
                            self.refresh = None;
                            self.ask_to_pull(connection);
                        } else {
                            self.refresh = None;
                        }
                    }
                }
            }
        }
    }

    fn analyse_due(&mut self) {
        let now = Instant::now();
        let due: Vec<String> = self
            .documents
            .iter()
            .filter(|(_, d)| d.due.is_some_and(|t| t <= now))
            .map(|(k, _)| k.clone())
            .collect();
        for key in due {
            self.analyse(&key, false);
        }
    }

    /// Hands the document's current version to the analysis thread.
    fn analyse(&mut self, key: &str, refine_only: bool) {
        let Some(document) = self.documents.get_mut(key) else {
            return;
        };
        document.due = None;
        if document.is_configuration {
            return;
        }
        let job = Job {
            key: key.to_string(),
            uri: document.uri.clone(),
            text: Arc::from(document.text.as_str()),
            version: document.version,
            generation: document.generation,
            latest: document.latest.clone(),
            refine_only,
        };
        let _ = self.analysis.send(Work::Analyse(job));
    }

    /// A change: what is being analysed for the document is outdated from now on.
    fn bump_generation(document: &mut Document) {
        document.generation += 1;
        document
            .latest
            .store(document.generation, Ordering::Release);
    }

    fn event(&mut self, connection: &Connection, event: Event) {
        // After `shutdown` the client expects nothing more but the end.
        if self.shut_down {
            return;
        }
        match event {
            Event::Analysed {
                key,
                generation,
                direct,
                params,
            } => {
                // Closed, or changed since: a newer analysis is on its way.
                let Some(document) = self.documents.get_mut(&key) else {
                    return;
                };
                if document.generation != generation {
                    return;
                }
                let unchanged = document
                    .published
                    .as_ref()
                    .is_some_and(|(g, d)| *g == generation && *d == params.diagnostics);
                let mut ask_to_pull = false;
                if !unchanged {
                    self.results += 1;
                    document.result_id = self.results;
                    document.published = Some((generation, params.diagnostics.clone()));
                    if self.client.pull_diagnostics {
                        // Pulled already: the client is told to pull again.
                        ask_to_pull = document.pulls.is_empty() && document.pulled.is_some();
                    } else {
                        notify(connection, "textDocument/publishDiagnostics", params);
                    }
                }
                for (id, previous) in std::mem::take(&mut document.pulls) {
                    let report = document.report(previous.as_deref());
                    send(connection, Response::new_ok(id, report).into());
                }
                if ask_to_pull {
                    self.ask_to_pull(connection);
                }
                if direct && self.scan == Scan::NotStarted {
                    self.start_scan();
                }
            }
            Event::Scanned {
                epoch,
                index,
                summary,
            } => {
                if epoch != self.epoch {
                    // Read with a configuration since replaced: read again.
                    self.scan = Scan::Finished;
                    self.start_scan();
                    return;
                }
                log_message(connection, &summary);
                self.workspace = index.map(|index| Arc::new(*index));
                let _ = self.analysis.send(Work::Workspace(self.workspace.clone()));
                let again = self.scan == Scan::Running { again: true };
                self.scan = Scan::Finished;
                let open: Vec<String> = self.documents.keys().cloned().collect();
                for key in open {
                    self.analyse(&key, true);
                }
                if again {
                    self.start_scan();
                }
            }
        }
    }

    /// Asks a client that pulls diagnostics to pull them again (they changed without an edit:
    /// the call graph's refinement, a new configuration). One request at a time.
    fn ask_to_pull(&mut self, connection: &Connection) {
        if !self.client.diagnostic_refresh {
            return;
        }
        if self.refresh.is_some() {
            self.refresh = Some(true);
            return;
        }
        self.refresh = Some(false);
        let request = Request::new(refresh_id(), "workspace/diagnostic/refresh".into(), ());
        send(connection, request.into());
    }

    /// `textDocument/diagnostic`: the document's diagnostics, once its current version's are
    /// out (the direct findings; the refinement is asked to be pulled when it changes them).
    fn pull_diagnostics(&mut self, connection: &Connection, request: Request) {
        let params = match serde_json::from_value::<DocumentDiagnosticParams>(request.params) {
            Ok(params) => params,
            Err(e) => {
                let error = ErrorCode::InvalidParams as i32;
                send(
                    connection,
                    Response::new_err(request.id, error, e.to_string()).into(),
                );
                return;
            }
        };
        let Some(document) = self.documents.get_mut(params.text_document.uri.as_str()) else {
            // Not open: nothing is analysed for it.
            let report = serde_json::json!({ "kind": "full", "items": [] });
            send(connection, Response::new_ok(request.id, report).into());
            return;
        };
        if document.is_analysed() {
            let report = document.report(params.previous_result_id.as_deref());
            send(connection, Response::new_ok(request.id, report).into());
        } else {
            document.pulls.push((request.id, params.previous_result_id));
        }
    }

    /// Scans the workspace on disk on a thread of its own (a whole-tree check: seconds on a
    /// million lines); its index is merged when it is ready.
    fn start_scan(&mut self) {
        if let Scan::Running { again } = &mut self.scan {
            *again = true;
            return;
        }
        self.scan = Scan::Running { again: false };
        let engine = self.engine.clone();
        let folders = self.folders.clone();
        let limit = self
            .settings
            .max_workspace_files
            .unwrap_or(MAX_WORKSPACE_FILES);
        let events = self.events_sender.clone();
        let epoch = self.epoch;
        std::thread::Builder::new()
            .name("unblock-lsp-workspace".into())
            .spawn(move || {
                lower_this_threads_priority();
                let (index, summary) = scan_workspace(&engine, &folders, limit);
                let index = index.map(Box::new);
                let _ = events.send(Event::Scanned {
                    epoch,
                    index,
                    summary,
                });
            })
            .expect("spawn the workspace scan");
    }

    fn notification(&mut self, connection: &Connection, notification: Notification) {
        match notification.method.as_str() {
            "initialized" => self.watch_configuration_files(connection),
            "textDocument/didOpen" => {
                let Ok(params) =
                    notification.extract::<DidOpenTextDocumentParams>("textDocument/didOpen")
                else {
                    return;
                };
                let key = params.text_document.uri.as_str().to_string();
                let path = uri_to_path(&key);
                let is_configuration = path.as_deref().is_some_and(is_configuration_file);
                self.documents.insert(
                    key.clone(),
                    Document {
                        uri: params.text_document.uri,
                        text: params.text_document.text,
                        version: Some(params.text_document.version),
                        is_configuration,
                        due: None,
                        generation: 0,
                        latest: Arc::new(AtomicU64::new(0)),
                        published: None,
                        result_id: 0,
                        pulls: Vec::new(),
                        pulled: None,
                    },
                );
                // A file under a configuration not read yet (another project): shown if broken.
                if let Some(path) = path.filter(|_| self.settings.configuration.is_none()) {
                    if let Some((file, Err(message))) = nearest_configuration(&path) {
                        let mut problems = self.problems.clone();
                        let problem = ConfigurationProblem { file, message };
                        if !problems.contains(&problem) {
                            problems.push(problem);
                            self.show_configuration_problems(connection, problems);
                        }
                    }
                }
                self.analyse(&key, false);
            }
            "textDocument/didChange" => {
                let Ok(params) =
                    notification.extract::<DidChangeTextDocumentParams>("textDocument/didChange")
                else {
                    return;
                };
                let key = params.text_document.uri.as_str().to_string();
                let Some(document) = self.documents.get_mut(&key) else {
                    return;
                };
                for change in params.content_changes {
                    match change.range {
                        None => document.text = change.text,
                        Some(range) => {
                            let lines = LineIndex::new(&document.text);
                            let start = lines.offset(&document.text, range.start);
                            let end = lines.offset(&document.text, range.end).max(start);
                            document.text.replace_range(start..end, &change.text);
                        }
                    }
                }
                document.version = Some(params.text_document.version);
                Self::bump_generation(document);
                if !document.is_configuration {
                    document.due = Some(Instant::now() + DEBOUNCE);
                }
            }
            "textDocument/didSave" => {
                if let Ok(params) =
                    notification.extract::<DidSaveTextDocumentParams>("textDocument/didSave")
                {
                    let key = params.text_document.uri.as_str().to_string();
                    if uri_to_path(&key).is_some_and(|path| is_configuration_file(&path)) {
                        // Clients that cannot watch files still tell of saves in the editor.
                        self.reload(connection);
                        return;
                    }
                    if let Some(document) = self.documents.get_mut(&key) {
                        if let Some(text) = params.text {
                            document.text = text;
                        }
                        Self::bump_generation(document);
                    }
                    self.analyse(&key, false);
                    // What the saved file defines and calls changes the call graph.
                    if self.scan != Scan::NotStarted {
                        self.start_scan();
                    }
                }
            }
            "textDocument/didClose" => {
                if let Ok(params) =
                    notification.extract::<DidCloseTextDocumentParams>("textDocument/didClose")
                {
                    let key = params.text_document.uri.as_str().to_string();
                    if let Some(document) = self.documents.remove(&key) {
                        for (id, _) in document.pulls {
                            let report = serde_json::json!({ "kind": "full", "items": [] });
                            send(connection, Response::new_ok(id, report).into());
                        }
                    }
                    // A client that pulls drops a closed document's diagnostics itself.
                    if !self.client.pull_diagnostics {
                        let params = PublishDiagnosticsParams {
                            uri: params.text_document.uri,
                            diagnostics: Vec::new(),
                            version: None,
                        };
                        notify(connection, "textDocument/publishDiagnostics", params);
                    }
                }
            }
            "workspace/didChangeWatchedFiles" => {
                let Ok(params) = notification
                    .extract::<DidChangeWatchedFilesParams>("workspace/didChangeWatchedFiles")
                else {
                    return;
                };
                let configuration_changed = params.changes.iter().any(|change| {
                    uri_to_path(change.uri.as_str())
                        .is_some_and(|path| is_configuration_file(&path))
                });
                if configuration_changed {
                    self.reload(connection);
                }
            }
            "workspace/didChangeWorkspaceFolders" => {
                let Ok(params) = notification.extract::<DidChangeWorkspaceFoldersParams>(
                    "workspace/didChangeWorkspaceFolders",
                ) else {
                    return;
                };
                let paths = |folders: &[lsp_types::WorkspaceFolder]| -> Vec<PathBuf> {
                    folders
                        .iter()
                        .filter_map(|f| uri_to_path(f.uri.as_str()))
                        .collect()
                };
                let removed = paths(&params.event.removed);
                self.folders.retain(|folder| !removed.contains(folder));
                for added in paths(&params.event.added) {
                    if !self.folders.contains(&added) {
                        self.folders.push(added);
                    }
                }
                self.reload(connection);
            }
            "workspace/didChangeConfiguration" => {
                let settings = notification.params.get("settings");
                match settings.and_then(Settings::from_client) {
                    Some(Ok(settings)) => self.settings = settings,
                    Some(Err(message)) => show_message(
                        connection,
                        &format!("unblock: settings: {message} (the previous ones are kept)"),
                    ),
                    // None of ours: the files may have changed all the same.
                    None => {}
                }
                self.reload(connection);
            }
            "$/cancelRequest" => {
                let Some(id) = notification
                    .params
                    .get("id")
                    .and_then(|id| serde_json::from_value::<RequestId>(id.clone()).ok())
                else {
                    return;
                };
                // Only a pull waits for anything; every other request is answered at once.
                for document in self.documents.values_mut() {
                    if let Some(at) = document.pulls.iter().position(|(p, _)| *p == id) {
                        document.pulls.remove(at);
                        let error = Response::new_err(
                            id,
                            ErrorCode::RequestCanceled as i32,
                            "cancelled".into(),
                        );
                        send(connection, error.into());
                        return;
                    }
                }
            }
            // Everything else is not needed: ignored.
            _ => {}
        }
    }

    /// Asks the client to tell of changes to the configuration files, when it can
    /// (`client/registerCapability`); else they are read again when saved in the editor.
    fn watch_configuration_files(&mut self, connection: &Connection) {
        if !self.client.watch_files {
            return;
        }
        let watchers: Vec<serde_json::Value> = CONFIGURATION_FILES
            .iter()
            .map(|name| serde_json::json!({ "globPattern": format!("**/{name}") }))
            .collect();
        let params = serde_json::json!({
            "registrations": [{
                "id": "unblock-configuration-files",
                "method": "workspace/didChangeWatchedFiles",
                "registerOptions": { "watchers": watchers },
            }],
        });
        let id = RequestId::from("unblock/watch".to_string());
        send(
            connection,
            Request::new(id, "client/registerCapability".into(), params).into(),
        );
    }

    /// Reads the configuration again (the files, with the client's settings), and analyses
    /// every open document again with it: the workspace index built with the last one is
    /// dropped and the workspace scanned again.
    fn reload(&mut self, connection: &Connection) {
        let open: Vec<PathBuf> = self
            .documents
            .keys()
            .filter_map(|key| uri_to_path(key))
            .collect();
        let (engine, problems) = configure(&self.folders, &self.settings, &open);
        self.show_configuration_problems(connection, problems);
        self.engine = Arc::new(engine);
        self.epoch += 1;
        self.workspace = None;
        let _ = self.analysis.send(Work::Reconfigure(self.engine.clone()));
        let open: Vec<String> = self.documents.keys().cloned().collect();
        for key in open {
            if let Some(document) = self.documents.get_mut(&key) {
                Self::bump_generation(document);
            }
            self.analyse(&key, false);
        }
        if self.scan != Scan::NotStarted {
            self.start_scan();
        }
    }

    /// Publishes a diagnostic on each configuration file that cannot be read (an error where
    /// the reader stopped), clears those fixed since, and says so once in a message: the
    /// findings are those of the settings around it until it is fixed.
    fn show_configuration_problems(
        &mut self,
        connection: &Connection,
        problems: Vec<ConfigurationProblem>,
    ) {
        for fixed in self
            .problems
            .iter()
            .filter(|p| problems.iter().all(|q| q.file != p.file))
        {
            notify(
                connection,
                "textDocument/publishDiagnostics",
                serde_json::json!({ "uri": path_to_uri(&fixed.file), "diagnostics": [] }),
            );
        }
        for problem in &problems {
            if self.problems.contains(problem) {
                continue;
            }
            let text = std::fs::read_to_string(&problem.file).unwrap_or_default();
            let diagnostic = Diagnostic {
                range: problem_range(&text, &problem.message),
                severity: Some(DiagnosticSeverity::ERROR),
                source: Some("unblock".into()),
                message: format!(
                    "{}\nunblock does not apply this configuration until it is fixed",
                    problem.message
                ),
                ..Default::default()
            };
            notify(
                connection,
                "textDocument/publishDiagnostics",
                serde_json::json!({ "uri": path_to_uri(&problem.file), "diagnostics": [diagnostic] }),
            );
            show_message(
                connection,
                &format!(
                    "unblock: {}: {} (not applied until it is fixed)",
                    problem.file.display(),
                    problem.message
                ),
            );
        }
        self.problems = problems;
    }
}

/// The id of the server's `workspace/diagnostic/refresh` requests (one at a time).
fn refresh_id() -> RequestId {
    RequestId::from("unblock/refresh".to_string())
}

/// The analysis thread: each document's newest version, direct findings first, then the
/// call graph's refinement. One at a time: two cores are shared with the workspace scan.
fn analysis_thread(
    mut engine: Arc<Engine>,
    root: &Path,
    jobs: &crossbeam_channel::Receiver<Work>,
    events: &crossbeam_channel::Sender<Event>,
) {
    // Built on first use, and again when a scan finishes: without a scan, the index of the
    // open file's own project (what `unblock check FILE` uses), extended as calls are asked.
    let mut workspace: Option<ProjectIndex> = None;
    while let Ok(first) = jobs.recv() {
        // Of what queued up while the last job ran, only each document's newest version is
        // worth analysing.
        let mut queued: Vec<Job> = Vec::new();
        for work in std::iter::once(first).chain(jobs.try_iter()) {
            match work {
                Work::Workspace(index) => workspace = index.map(|i| (*i).clone()),
                Work::Reconfigure(new) => {
                    engine = new;
                    workspace = None;
                }
                Work::Analyse(job) => {
                    if let Some(at) = queued.iter().position(|q| q.key == job.key) {
                        let older = queued.remove(at);
                        // The version whose direct findings are not out yet still gets them
                        // first, even when a refinement of it was asked for since.
                        let refine_only = job.refine_only
                            && (older.generation != job.generation || older.refine_only);
                        queued.push(Job { refine_only, ..job });
                    } else {
                        queued.push(job);
                    }
                }
            }
        }
        for job in queued {
            if !job.is_outdated() {
                analyse_job(&engine, root, &mut workspace, &job, events);
            }
        }
    }
}

fn analyse_job(
    engine: &Engine,
    root: &Path,
    workspace: &mut Option<ProjectIndex>,
    job: &Job,
    events: &crossbeam_channel::Sender<Event>,
) {
    let publish = |findings: &[Finding], direct: bool| {
        let lines = LineIndex::new(&job.text);
        let params = PublishDiagnosticsParams {
            uri: job.uri.clone(),
            diagnostics: findings
                .iter()
                .map(|f| diagnostic(root, f, &job.text, &lines))
                .collect(),
            version: job.version,
        };
        let _ = events.send(Event::Analysed {
            key: job.key.clone(),
            generation: job.generation,
            direct,
            params,
        });
    };
    let (path, module, project_followed) = path_and_module(engine, &job.uri);
    let Ok(file) = SourceFile::parse(path, job.text.as_bytes().to_vec(), module) else {
        publish(&[], true);
        return;
    };
    let checked = engine.check_file(&file);
    let mut own = ProjectIndex::default();
    own.add(checked.definitions);
    let by_position = |findings: &mut Vec<Finding>| {
        findings.sort_by(|a, b| a.sort_key().cmp(&b.sort_key()));
    };
    if !job.refine_only || !project_followed {
        // Settled against the file alone: what needs another file waits for the call graph,
        // which has nothing to follow when the file is in no project.
        let mut direct = checked.findings.clone();
        own.settle(&mut direct);
        by_position(&mut direct);
        publish(&direct, true);
        if job.is_outdated() || !project_followed {
            return;
        }
    }
    let workspace = workspace.get_or_insert_with(|| ProjectIndex {
        model: engine.project.clone(),
        ..Default::default()
    });
    let mut findings = checked.findings;
    engine.extend_call_graph(workspace, &findings);
    own.settle_within(Some(workspace), &mut findings);
    by_position(&mut findings);
    publish(&findings, false);
}

/// The workspace scan is background work: on a machine with few cores, the open file's
/// analysis (what the user waits for) goes first. Linux keeps the nice value per thread, and
/// the threads the scan's walk starts inherit it.
fn lower_this_threads_priority() {
    #[cfg(target_os = "linux")]
    // SAFETY: setpriority only reads its arguments; `0` is the calling thread.
    unsafe {
        libc::setpriority(libc::PRIO_PROCESS, 0, 10);
    }
}

/// Checks the workspace folders on disk, but those too large to: the index, and a line for
/// the client's log saying what was done.
fn scan_workspace(
    engine: &Engine,
    folders: &[PathBuf],
    limit: usize,
) -> (Option<ProjectIndex>, String) {
    let mut skipped = Vec::new();
    let scanned: Vec<PathBuf> = folders
        .iter()
        .filter(|folder| {
            match no_project(folder).or_else(|| too_many_python_files(folder, limit)) {
                Some(why) => {
                    skipped.push(format!("{} not scanned ({why})", folder.display()));
                    false
                }
                None => true,
            }
        })
        .cloned()
        .collect();
    let skipped = skipped.join(", ");
    if scanned.is_empty() {
        let summary = format!(
            "unblock: workspace {skipped}: each open file is checked against its own project"
        );
        return (None, summary);
    }
    let started = Instant::now();
    let report = engine.check(&scanned);
    let mut summary = format!(
        "unblock: workspace scanned: {} Python files, {} with coroutines, in {:.1} s",
        report.files_scanned,
        report.files_parsed,
        started.elapsed().as_secs_f64()
    );
    if !skipped.is_empty() {
        summary.push_str(&format!(" ({skipped})"));
    }
    (Some(report.project), summary)
}

/// Why a folder is not walked whole although it may hold a project: it is the file-system
/// root or the home folder (an editor started outside any project), where a walk would go
/// through every disk or every project of the user.
fn no_project(folder: &Path) -> Option<String> {
    let folder = std::fs::canonicalize(folder).unwrap_or_else(|_| folder.to_path_buf());
    if folder.parent().is_none() {
        return Some("it is the file-system root".into());
    }
    if std::env::var_os("HOME").is_some_and(|home| Path::new(&home) == folder) {
        return Some("it is the home folder".into());
    }
    None
}

/// More than `limit` Python files where the workspace scan walks: too many to parse in the
/// background of an editing session.
fn too_many_python_files(folder: &Path, limit: usize) -> Option<String> {
    let mut walk = ignore::WalkBuilder::new(folder);
    walk.require_git(false).filter_entry(|entry| {
        !(entry.depth() > 0
            && entry.file_type().is_some_and(|t| t.is_dir())
            && entry
                .file_name()
                .to_str()
                .is_some_and(|name| DEFAULT_EXCLUDES.contains(&name)))
    });
    let python_files = walk
        .build()
        .filter_map(Result::ok)
        .filter(|entry| entry.path().extension().is_some_and(|e| e == "py"))
        .take(limit + 1)
        .count();
    (python_files > limit).then(|| format!("more than {limit} Python files"))
}

/// A warning per finding: code = recipe id, message with the fix note or why there is none,
/// the chain and the other blocking calls as related information.
fn diagnostic(root: &Path, finding: &Finding, text: &str, lines: &LineIndex) -> Diagnostic {
    let mut message = finding.message.clone();
    match (&finding.fix, &finding.not_fixable) {
        (Some(fix), _) => {
            let unsafe_ = if fix.safety == Safety::Unsafe {
                " (unsafe)"
            } else {
                ""
            };
            message.push_str(&format!("\nfix{unsafe_}: {}", fix.note));
        }
        (None, Some(reason)) => message.push_str(&format!("\nnot fixable: {reason}")),
        (None, None) => {}
    }
    // The chain, then the other blocking calls behind it (the first sink ends the chain).
    let related: Vec<DiagnosticRelatedInformation> = finding
        .chain
        .iter()
        .chain(finding.sinks.iter().skip(1))
        .filter_map(|link| {
            let path = Path::new(&link.path);
            let path = if path.is_absolute() {
                path.to_path_buf()
            } else {
                root.join(path)
            };
            let uri: Uri = path_to_uri(&path).parse().ok()?;
            let line = link.line.saturating_sub(1) as u32;
            Some(DiagnosticRelatedInformation {
                location: Location::new(
                    uri,
                    Range::new(Position::new(line, 0), Position::new(line, 0)),
                ),
                message: link.name.clone(),
            })
        })
        .collect();
    Diagnostic {
        range: finding_range(finding, text, lines),
        severity: Some(DiagnosticSeverity::WARNING),
        code: Some(NumberOrString::String(finding.recipe.to_string())),
        // No link: the project has no public page yet (hover shows the recipe's page).
        code_description: None,
        source: Some("unblock".into()),
        message,
        related_information: (!related.is_empty()).then_some(related),
        tags: None,
        data: None,
    }
}

/// The path findings are reported under, the module name, and whether the call graph may
/// follow the document's project (not when the file is in none, and its project would be the
/// file-system root or the home folder: the module is then named after the file alone).
fn path_and_module(engine: &Engine, uri: &Uri) -> (String, String, bool) {
    match uri_to_path(uri.as_str()) {
        Some(path) => {
            let followed = no_project(&engine.project.root_of(&path)).is_none();
            let module = if followed && path.is_file() {
                engine.project.module_name(&path)
            } else {
                stem(&path)
            };
            (path.to_string_lossy().into_owned(), module, followed)
        }
        // Not a file (an untitled buffer): only what the workspace scan read is followed.
        None => {
            let path = PathBuf::from(uri.path().as_str());
            (uri.as_str().to_string(), stem(&path), true)
        }
    }
}

impl Server {
    fn request(&self, request: Request) -> Response {
        match request.method.as_str() {
            "textDocument/codeAction" => {
                match serde_json::from_value::<CodeActionParams>(request.params) {
                    Ok(params) => Response::new_ok(request.id, self.code_actions(&params)),
                    Err(e) => Response::new_err(
                        request.id,
                        ErrorCode::InvalidParams as i32,
                        e.to_string(),
                    ),
                }
            }
            "textDocument/hover" => match serde_json::from_value::<HoverParams>(request.params) {
                Ok(params) => Response::new_ok(request.id, self.hover(&params)),
                Err(e) => {
                    Response::new_err(request.id, ErrorCode::InvalidParams as i32, e.to_string())
                }
            },
            method => Response::new_err(
                request.id,
                ErrorCode::MethodNotFound as i32,
                format!("unblock lsp does not handle {method}"),
            ),
        }
    }

    /// The page of the recipe under the cursor (what `unblock explain` prints): of the
    /// suppression comment's id or code under it (of every one in the comment when it is
    /// elsewhere in it), else of the findings published at it.
    fn hover(&self, params: &HoverParams) -> Option<Hover> {
        let position = params.text_document_position_params.position;
        let uri = &params.text_document_position_params.text_document.uri;
        let document = self.documents.get(uri.as_str())?;
        if document.is_configuration {
            return None;
        }
        let text = &document.text;
        let lines = LineIndex::new(text);
        let line = position.line as usize;
        let start = *lines.starts.get(line)?;
        let end = lines.starts.get(line + 1).copied().unwrap_or(text.len());
        let at = lines.offset(text, position) - start;
        let (ids, span) = match suppression_under(&text[start..end], at) {
            Some((ids, span)) => {
                let range = Range::new(
                    lines.position(text, start + span.start),
                    lines.position(text, start + span.end),
                );
                (ids, Some(range))
            }
            None => {
                let published = document.published.as_ref().map(|(_, d)| d.as_slice());
                let at_cursor: Vec<&Diagnostic> = published
                    .unwrap_or_default()
                    .iter()
                    .filter(|d| d.range.start <= position && position <= d.range.end)
                    .collect();
                let mut ids: Vec<&'static str> = Vec::new();
                for diagnostic in &at_cursor {
                    if let Some(NumberOrString::String(code)) = &diagnostic.code {
                        if let Some(recipe) = recipes::by_id(code) {
                            if !ids.contains(&recipe.id()) {
                                ids.push(recipe.id());
                            }
                        }
                    }
                }
                (ids, at_cursor.first().map(|d| d.range))
            }
        };
        if ids.is_empty() {
            return None;
        }
        let pages: Vec<&str> = ids
            .iter()
            .filter_map(|id| recipes::by_id(id))
            .map(|recipe| recipe.page().trim_end())
            .collect();
        Some(Hover {
            contents: HoverContents::Markup(MarkupContent {
                kind: MarkupKind::Markdown,
                value: pages.join("\n\n---\n\n"),
            }),
            range: span,
        })
    }

    fn code_actions(&self, params: &CodeActionParams) -> Vec<CodeActionOrCommand> {
        let uri = &params.text_document.uri;
        let Some(document) = self.documents.get(uri.as_str()) else {
            return Vec::new();
        };
        let wants = |kind: &str| {
            params.context.only.as_ref().is_none_or(|only| {
                only.iter()
                    .any(|k| kind == k.as_str() || kind.starts_with(&format!("{}.", k.as_str())))
            })
        };
        let (path, module, _) = path_and_module(&self.engine, uri);
        let text = &document.text;
        let Ok(file) = SourceFile::parse(path.clone(), text.as_bytes().to_vec(), module.clone())
        else {
            return Vec::new();
        };
        let checked = self.engine.check_file(&file);
        // The workspace's index (call graph included) with this buffer's definitions: the
        // fix-all below re-checks the buffer with it, indirect findings included.
        let mut project = self
            .workspace
            .as_deref()
            .cloned()
            .unwrap_or_else(|| ProjectIndex {
                model: self.engine.project.clone(),
                ..Default::default()
            });
        project.add(checked.definitions);
        let mut findings = checked.findings;
        self.engine.extend_call_graph(&mut project, &findings);
        project.settle(&mut findings);
        findings.sort_by(|a, b| a.sort_key().cmp(&b.sort_key()));
        let lines = LineIndex::new(text);
        let edit_to = |fixed: &[u8]| WorkspaceEdit {
            changes: Some(HashMap::from([(
                uri.clone(),
                minimal_edits(text, &lines, &String::from_utf8_lossy(fixed)),
            )])),
            ..Default::default()
        };
        let mut fixes = Vec::new();
        let mut suppressions = Vec::new();
        for finding in &findings {
            let range = finding_range(finding, text, &lines);
            if range.end < params.range.start || range.start > params.range.end {
                continue;
            }
            let diagnostic = diagnostic(&self.root, finding, text, &lines);
            if let Some(fix) = finding.fix.as_ref().filter(|_| wants("quickfix")) {
                if let Some(fixed) = apply_fixes(&file, &[finding]) {
                    let is_safe = fix.safety == Safety::Safe;
                    // The whole note is in the diagnostic's message: a title is one short line.
                    let title = if is_safe {
                        format!("Fix: {}", short_title(&fix.note))
                    } else {
                        format!("Fix (unsafe): {}", short_title(&fix.note))
                    };
                    fixes.push((
                        !is_safe,
                        CodeAction {
                            title,
                            kind: Some(CodeActionKind::QUICKFIX),
                            diagnostics: Some(vec![diagnostic.clone()]),
                            edit: Some(edit_to(&fixed)),
                            is_preferred: Some(is_safe),
                            ..Default::default()
                        },
                    ));
                }
            }
            if wants("quickfix") {
                if let Some(edit) = suppression_edit(text, &lines, finding) {
                    suppressions.push(CodeAction {
                        title: format!("Suppress with `# unblock: ignore[{}]`", finding.recipe),
                        kind: Some(CodeActionKind::QUICKFIX),
                        diagnostics: Some(vec![diagnostic]),
                        edit: Some(WorkspaceEdit {
                            changes: Some(HashMap::from([(uri.clone(), vec![edit])])),
                            ..Default::default()
                        }),
                        ..Default::default()
                    });
                }
            }
        }
        // Safe fixes first (a stable sort keeps file order within each group).
        fixes.sort_by_key(|(is_unsafe, _)| *is_unsafe);
        let mut actions: Vec<CodeActionOrCommand> = fixes
            .into_iter()
            .map(|(_, action)| CodeActionOrCommand::CodeAction(action))
            .chain(
                suppressions
                    .into_iter()
                    .map(CodeActionOrCommand::CodeAction),
            )
            .collect();
        if wants(FIX_ALL_KIND) && findings.iter().any(|f| f.fix.is_some()) {
            // No CPython judge (`FixOptions::default()`): code actions are asked for on every
            // cursor move and an interpreter's round trips would delay them; the tree-sitter
            // checks still hold every rewrite, and `unblock apply` judges with CPython.
            let fixed = self.engine.fix_file(
                &path,
                &module,
                text.as_bytes().to_vec(),
                &project,
                FixOptions::default(),
            );
            if fixed.changed() {
                actions.push(CodeActionOrCommand::CodeAction(CodeAction {
                    title: "Fix all safe unblock findings".into(),
                    kind: Some(CodeActionKind::new(FIX_ALL_KIND)),
                    edit: Some(edit_to(&fixed.fixed)),
                    ..Default::default()
                }));
            }
        }
        actions
    }
}

/// The longest code action title, in characters: one short line in an editor's menu.
const MAX_TITLE: usize = 60;

/// A fix note's first clause (up to `: `, `; ` or ` (` outside backquotes), cut at a word
/// before [`MAX_TITLE`] characters when longer.
fn short_title(note: &str) -> String {
    let mut in_code = false;
    let mut end = note.len();
    for (i, c) in note.char_indices() {
        if c == '`' {
            in_code = !in_code;
        } else if !in_code && [": ", "; ", " ("].iter().any(|s| note[i..].starts_with(s)) {
            end = i;
            break;
        }
    }
    let clause = note[..end].trim();
    if clause.chars().count() <= MAX_TITLE {
        return clause.to_string();
    }
    // Room for a closing backquote and the ellipsis.
    let limit = clause
        .char_indices()
        .nth(MAX_TITLE - 2)
        .map_or(clause.len(), |(i, _)| i);
    let cut = clause[..limit].rfind(' ').unwrap_or(limit);
    let mut title = clause[..cut].trim_end().to_string();
    // A code span cut in two is closed, so that the title renders as it reads.
    if title.matches('`').count() % 2 == 1 {
        title.push('`');
    }
    title.push('…');
    title
}

/// The edits that turn `old` into `new`, one per run of changed lines (the fixed call, the
/// import a fix adds, the one it removes), instead of a replace of the whole document: an
/// editor then keeps the cursor and the folds, and undoes the fix as one small change.
fn minimal_edits(old: &str, lines: &LineIndex, new: &str) -> Vec<TextEdit> {
    let diff = similar::TextDiff::from_lines(old, new);
    // Byte offsets of the diff's lines (it splits at `\r` too, so its line numbers are not
    // `LineIndex`'s): offset of line i is starts[i], the end of the text is the last entry.
    let starts = |slices: &[&str]| -> Vec<usize> {
        std::iter::once(0)
            .chain(slices.iter().scan(0, |at, line| {
                *at += line.len();
                Some(*at)
            }))
            .collect()
    };
    let old_starts = starts(diff.old_slices());
    let new_starts = starts(diff.new_slices());
    let mut changed: Vec<(std::ops::Range<usize>, std::ops::Range<usize>)> = Vec::new();
    for op in diff.ops() {
        if op.tag() == similar::DiffTag::Equal {
            continue;
        }
        let (old_lines, new_lines) = (op.old_range(), op.new_range());
        // A deletion next to an insertion is one replacement.
        match changed.last_mut() {
            Some((old_run, new_run)) if old_run.end == old_lines.start => {
                old_run.end = old_lines.end;
                new_run.end = new_lines.end;
            }
            _ => changed.push((old_lines, new_lines)),
        }
    }
    changed
        .into_iter()
        .map(|(old_lines, new_lines)| {
            let start = lines.position(old, old_starts[old_lines.start]);
            let end = lines.position(old, old_starts[old_lines.end]);
            let text = &new[new_starts[new_lines.start]..new_starts[new_lines.end]];
            TextEdit::new(Range::new(start, end), text.to_string())
        })
        .collect()
}

/// Appends `# unblock: ignore[<id>]` to the finding's first line, or adds the id to an
/// `# unblock: ignore[...]` already there.
fn suppression_edit(text: &str, lines: &LineIndex, finding: &Finding) -> Option<TextEdit> {
    let line = finding.start.line.checked_sub(1)?;
    let start = *lines.starts.get(line)?;
    let end = lines.starts.get(line + 1).copied().unwrap_or(text.len());
    let content = text[start..end].trim_end_matches(['\n', '\r']);
    let line_end = start + content.len();
    let (at, insert) = match content.find("# unblock: ignore[") {
        Some(found) => {
            let close = content[found..].find(']')? + found;
            let before = content[found + "# unblock: ignore[".len()..close].trim();
            let separator = if before.is_empty() { "" } else { ", " };
            (start + close, format!("{separator}{}", finding.recipe))
        }
        None => (line_end, format!("  # unblock: ignore[{}]", finding.recipe)),
    };
    let position = lines.position(text, at);
    Some(TextEdit::new(Range::new(position, position), insert))
}

/// The recipes a suppression comment on `line` names at byte `at`, and the span of what
/// names them: the id or code under the cursor, else the whole directive the cursor is in
/// (`# unblock: ignore[...]`, `# noqa: ASYNC...`). `None` outside such a comment.
fn suppression_under(line: &str, at: usize) -> Option<(Vec<&'static str>, std::ops::Range<usize>)> {
    let comment = comment_start(line)?;
    if at < comment {
        return None;
    }
    // The directives of the comment, each from its `#` (`# noqa: E501  # unblock: ignore[x]`).
    let hashes: Vec<usize> = line[comment..]
        .match_indices('#')
        .map(|(i, _)| comment + i)
        .collect();
    let line_end = line.trim_end_matches(['\n', '\r']).len();
    for (n, &hash) in hashes.iter().enumerate() {
        let directive_end = hashes.get(n + 1).copied().unwrap_or(line_end);
        if !(hash..=directive_end).contains(&at) {
            continue;
        }
        let directive = &line[hash..directive_end];
        // Each named id or code, with its byte span in the line.
        let mut names: Vec<(Vec<&'static str>, std::ops::Range<usize>)> = Vec::new();
        let lower = directive.to_ascii_lowercase();
        let listed = |open: usize, close: usize| {
            let inner = &directive[open..close];
            inner
                .split(|c: char| c == ',' || c.is_whitespace())
                .filter(|word| !word.is_empty())
                .map(move |word| {
                    let offset = word.as_ptr() as usize - inner.as_ptr() as usize;
                    (
                        word,
                        hash + open + offset..hash + open + offset + word.len(),
                    )
                })
                .collect::<Vec<_>>()
        };
        if let Some(key) = lower.find("unblock:").filter(|_| lower.contains("ignore[")) {
            let open = lower[key..].find('[').map_or(0, |i| key + i + 1);
            let close = directive[open..]
                .find(']')
                .map_or(directive.len(), |i| open + i);
            for (word, span) in listed(open, close) {
                if let Some(recipe) = recipes::by_id(word) {
                    names.push((vec![recipe.id()], span));
                }
            }
        } else if let Some(key) = lower.find("noqa:") {
            let open = key + "noqa:".len();
            for (word, span) in listed(open, directive.len()) {
                if !word.chars().all(|c| c.is_ascii_alphanumeric()) {
                    break;
                }
                let found = recipes_for_code(word);
                if !found.is_empty() {
                    names.push((found, span));
                }
            }
        }
        if let Some((ids, span)) = names.iter().find(|(_, span)| span.contains(&at)) {
            return Some((ids.clone(), span.clone()));
        }
        let mut all: Vec<&'static str> = Vec::new();
        for id in names.into_iter().flat_map(|(ids, _)| ids) {
            if !all.contains(&id) {
                all.push(id);
            }
        }
        return (!all.is_empty()).then_some((all, hash..directive_end));
    }
    None
}

/// The recipes whose findings a ruff / flake8-async code (`ASYNC251`) covers, read from the
/// catalogue's `noqa` lists and the recipes' own codes (for structural findings).
fn recipes_for_code(code: &str) -> Vec<&'static str> {
    // The one mapping `check --select`, `explain` and the suppressions use (the catalogue's
    // noqa lists and the recipes' own); a configured call carries no code.
    recipes::for_code(code)
        .iter()
        .map(|recipe| recipe.id())
        .collect()
}

/// Where the comment of a line of Python starts (a `#` outside string literals on the line).
fn comment_start(line: &str) -> Option<usize> {
    let mut quote: Option<char> = None;
    let mut escaped = false;
    for (i, c) in line.char_indices() {
        match quote {
            Some(_) if escaped => escaped = false,
            Some(_) if c == '\\' => escaped = true,
            Some(q) if c == q => quote = None,
            Some(_) => {}
            None if c == '#' => return Some(i),
            None if c == '"' || c == '\'' => quote = Some(c),
            None => {}
        }
    }
    None
}

fn finding_range(finding: &Finding, text: &str, lines: &LineIndex) -> Range {
    Range::new(
        lines.position(text, finding.start_byte.min(text.len())),
        lines.position(text, finding.end_byte.min(text.len())),
    )
}

/// Byte offsets of line starts, for converting between bytes and UTF-16 positions.
struct LineIndex {
    starts: Vec<usize>,
}

impl LineIndex {
    fn new(text: &str) -> LineIndex {
        let mut starts = vec![0];
        starts.extend(memchr::memchr_iter(b'\n', text.as_bytes()).map(|i| i + 1));
        LineIndex { starts }
    }

    /// The UTF-16 position of a byte offset (rounded down to a character boundary).
    fn position(&self, text: &str, offset: usize) -> Position {
        let mut offset = offset.min(text.len());
        while !text.is_char_boundary(offset) {
            offset -= 1;
        }
        let line = self.starts.partition_point(|&s| s <= offset) - 1;
        let character: usize = text[self.starts[line]..offset]
            .chars()
            .map(char::len_utf16)
            .sum();
        Position::new(line as u32, character as u32)
    }

    /// The byte offset of a UTF-16 position, clamped to its line and to the text.
    fn offset(&self, text: &str, position: Position) -> usize {
        let Some(&start) = self.starts.get(position.line as usize) else {
            return text.len();
        };
        let end = self
            .starts
            .get(position.line as usize + 1)
            .copied()
            .unwrap_or(text.len());
        let line = &text[start..end];
        let mut units = 0usize;
        for (i, c) in line.char_indices() {
            if units >= position.character as usize || c == '\n' || c == '\r' {
                return start + i;
            }
            units += c.len_utf16();
        }
        end
    }
}

fn stem(path: &Path) -> String {
    path.file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or("")
        .to_string()
}

/// `file:///a%20b/c.py` → `/a b/c.py`; other schemes → `None`. The bytes a URI escapes
/// are the file name's: a name that is not UTF-8 is still a file name.
fn uri_to_path(uri: &str) -> Option<PathBuf> {
    let url = url::Url::parse(uri).ok()?;
    if url.scheme() != "file" {
        return None;
    }
    url.to_file_path().ok()
}

/// The `file:` URI of a path (made absolute first), each byte of a name that is not UTF-8
/// escaped as it is.
fn path_to_uri(path: &Path) -> String {
    let absolute = std::path::absolute(path).unwrap_or_else(|_| Path::new("/").join(path));
    url::Url::from_file_path(&absolute)
        .map(String::from)
        .unwrap_or_else(|()| format!("file://{}", absolute.display()))
}

fn send(connection: &Connection, message: Message) {
    // The writer is gone only when the client went away: the reader then ends the loop.
    let _ = connection.sender.send(message);
}

fn notify(connection: &Connection, method: &str, params: impl serde::Serialize) {
    send(connection, Notification::new(method.into(), params).into());
}

/// A line for the client's log (the scan's outcome): kept, not shown.
fn log_message(connection: &Connection, message: &str) {
    let params = lsp_types::LogMessageParams {
        typ: lsp_types::MessageType::INFO,
        message: message.to_string(),
    };
    notify(connection, "window/logMessage", params);
}

fn show_message(connection: &Connection, message: &str) {
    let params = lsp_types::ShowMessageParams {
        typ: lsp_types::MessageType::WARNING,
        message: message.to_string(),
    };
    notify(connection, "window/showMessage", params);
}

/// lsp-server's `Connection::stdio`, except that anything malformed (a bad header, a length
/// no message has, a body that is not a JSON-RPC message) is logged to stderr and skipped, and
/// reading goes on at the next message (lsp-server's stops reading at the first one).
fn stdio_connection() -> (Connection, std::thread::JoinHandle<()>) {
    // The in-memory pair's client end is driven by two threads: one writes what the server
    // sends to stdout, one reads stdin and sends it to the server.
    let (server, client) = Connection::memory();
    let Connection {
        sender: reader_sender,
        receiver: writer_receiver,
    } = client;
    let writer = std::thread::Builder::new()
        .name("unblock-lsp-writer".into())
        .spawn(move || {
            let stdout = std::io::stdout();
            let mut stdout = stdout.lock();
            for message in writer_receiver {
                if message.write(&mut stdout).is_err() {
                    break;
                }
                let _ = stdout.flush();
            }
        })
        .expect("spawn the writer thread");
    std::thread::Builder::new()
        .name("unblock-lsp-reader".into())
        .spawn(move || {
            let mut frames = Frames::new(std::io::stdin().lock());
            while let Some(frame) = frames.next_frame() {
                match frame {
                    Frame::Message(message) => {
                        let is_exit =
                            matches!(&message, Message::Notification(n) if n.method == "exit");
                        if reader_sender.send(message).is_err() || is_exit {
                            break;
                        }
                    }
                    Frame::Skipped(why) => eprintln!("unblock lsp: malformed input skipped: {why}"),
                }
            }
            // Dropping the sender ends the main loop when stdin closes.
        })
        .expect("spawn the reader thread");
    (server, writer)
}

/// The largest message read. A larger `Content-Length` is taken for garbage: no editor sends
/// one, and allocating what a header claims would abort the process.
const MAX_MESSAGE: u64 = 64 << 20;
/// A header block is a few dozen bytes; this many without the blank line ending it is garbage.
const MAX_HEADER: usize = 8 << 10;
const LENGTH_HEADER: &[u8] = b"content-length";

/// What the reader found next on its input.
enum Frame {
    Message(Message),
    /// Input that was not a well-formed message, and why.
    Skipped(String),
}

/// LSP's base protocol over a byte stream. After anything malformed it resynchronises on the
/// next `Content-Length` header, wherever it starts.
struct Frames<R> {
    input: R,
    buffer: Vec<u8>,
    at_end: bool,
    /// Garbage outside any message is being skipped (reported once per stretch).
    in_garbage: bool,
}

enum Header {
    Incomplete,
    Bad(String),
    Complete { body_start: usize, length: u64 },
}

impl<R: std::io::Read> Frames<R> {
    fn new(input: R) -> Self {
        Frames {
            input,
            buffer: Vec::new(),
            at_end: false,
            in_garbage: false,
        }
    }

    /// The next message or skipped stretch; `None` at the end of the input.
    fn next_frame(&mut self) -> Option<Frame> {
        loop {
            let Some(start) = find_ignore_ascii_case(&self.buffer, LENGTH_HEADER) else {
                // Keep a tail that may be the start of a header split across reads.
                let garbage = self.buffer.len().saturating_sub(LENGTH_HEADER.len() - 1);
                if let Some(frame) = self.drop_garbage(garbage) {
                    return Some(frame);
                }
                if !self.fill() {
                    return None;
                }
                continue;
            };
            if let Some(frame) = self.drop_garbage(start) {
                return Some(frame);
            }
            match parse_header(&self.buffer) {
                Header::Incomplete if self.buffer.len() <= MAX_HEADER => {
                    if !self.fill() {
                        return None;
                    }
                }
                Header::Incomplete => {
                    return Some(self.resynchronise("a header block without its end".into()))
                }
                Header::Bad(why) => return Some(self.resynchronise(why)),
                Header::Complete { length, .. } if length > MAX_MESSAGE => {
                    let why = format!(
                        "Content-Length {length} is over the limit of {} MB",
                        MAX_MESSAGE >> 20
                    );
                    return Some(self.resynchronise(why));
                }
                Header::Complete { body_start, length } => {
                    let end = body_start + length as usize;
                    while self.buffer.len() < end {
                        if !self.fill() {
                            return None;
                        }
                    }
                    match serde_json::from_slice::<Message>(&self.buffer[body_start..end]) {
                        Ok(message) => {
                            self.buffer.drain(..end);
                            self.in_garbage = false;
                            return Some(Frame::Message(message));
                        }
                        // The length may be wrong: the next message can start inside what it
                        // claimed, so only the header is dropped.
                        Err(e) => {
                            return Some(self.resynchronise(format!("not a JSON-RPC message: {e}")))
                        }
                    }
                }
            }
        }
    }

    /// Drops the first `count` bytes: whitespace between messages, or garbage (reported once
    /// per stretch).
    fn drop_garbage(&mut self, count: usize) -> Option<Frame> {
        let garbage = self.buffer[..count]
            .iter()
            .any(|b| !b.is_ascii_whitespace());
        self.buffer.drain(..count);
        if garbage && !self.in_garbage {
            self.in_garbage = true;
            return Some(Frame::Skipped("bytes outside any message".into()));
        }
        None
    }

    /// Skips the header at the start of the buffer: reading goes on at the next one.
    fn resynchronise(&mut self, why: String) -> Frame {
        self.buffer.drain(..LENGTH_HEADER.len());
        self.in_garbage = true;
        Frame::Skipped(why)
    }

    /// Reads more input; false at its end.
    fn fill(&mut self) -> bool {
        let mut chunk = [0u8; 64 * 1024];
        while !self.at_end {
            match self.input.read(&mut chunk) {
                Ok(0) => self.at_end = true,
                Ok(n) => {
                    self.buffer.extend_from_slice(&chunk[..n]);
                    return true;
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(_) => self.at_end = true,
            }
        }
        false
    }
}

/// The header block at the start of `bytes` (which starts with `Content-Length`): lines up to
/// an empty one.
fn parse_header(bytes: &[u8]) -> Header {
    let mut length = None;
    let mut at = 0;
    while let Some(newline) = memchr::memchr(b'\n', &bytes[at..]) {
        let line = &bytes[at..at + newline];
        at += newline + 1;
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.is_empty() {
            return match length {
                Some(length) => Header::Complete {
                    body_start: at,
                    length,
                },
                None => Header::Bad("no Content-Length header".into()),
            };
        }
        let text = String::from_utf8_lossy(line);
        match text.split_once(':') {
            Some((name, value)) if name.trim().eq_ignore_ascii_case("content-length") => {
                match value.trim().parse::<u64>() {
                    Ok(n) => length = Some(n),
                    Err(_) => return Header::Bad(format!("bad Content-Length: {text:?}")),
                }
            }
            Some(_) => {}
            None => return Header::Bad(format!("bad header line: {text:?}")),
        }
    }
    Header::Incomplete
}

fn find_ignore_ascii_case(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack
        .windows(needle.len())
        .position(|window| window.eq_ignore_ascii_case(needle))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utf16_positions_round_trip() {
        let text = "a = '€𝄞'\nb\r\nc";
        let lines = LineIndex::new(text);
        let after = text.find('\'').unwrap() + 1 + '€'.len_utf8() + '𝄞'.len_utf8();
        assert_eq!(lines.position(text, after), Position::new(0, 8));
        assert_eq!(lines.offset(text, Position::new(0, 8)), after);
        assert_eq!(
            lines.offset(text, Position::new(1, 99)),
            text.find('\r').unwrap()
        );
        assert_eq!(lines.offset(text, Position::new(9, 0)), text.len());
        assert_eq!(lines.position(text, text.len()), Position::new(2, 1));
    }

    /// Applies LSP edits to a text as an editor does (the last first: they do not overlap).
    fn apply(text: &str, edits: &[TextEdit]) -> String {
        let lines = LineIndex::new(text);
        let mut out = text.to_string();
        let mut spans: Vec<(usize, usize, &str)> = edits
            .iter()
            .map(|e| {
                let start = lines.offset(text, e.range.start);
                (start, lines.offset(text, e.range.end), e.new_text.as_str())
            })
            .collect();
        spans.sort_by_key(|&(start, ..)| std::cmp::Reverse(start));
        for (start, end, new_text) in spans {
            out.replace_range(start..end, new_text);
        }
        out
    }

    #[test]
    fn minimal_edits_touch_only_changed_lines() {
        let old = "import os\nimport time\n\n\nasync def f():\n    time.sleep(1)\n    x = '€'\n";
        let new = "import asyncio\nimport os\nimport time\n\n\nasync def f():\n    await asyncio.sleep(1)\n    x = '€'\n";
        let edits = minimal_edits(old, &LineIndex::new(old), new);
        assert_eq!(
            edits,
            [
                TextEdit::new(
                    Range::new(Position::new(0, 0), Position::new(0, 0)),
                    "import asyncio\n".into()
                ),
                TextEdit::new(
                    Range::new(Position::new(5, 0), Position::new(6, 0)),
                    "    await asyncio.sleep(1)\n".into()
                ),
            ]
        );
        assert_eq!(apply(old, &edits), new);
        // No newline at the end, CRLF, a line removed: still exactly the new text.
        for (old, new) in [
            ("a\nb", "a\nc"),
            ("a\r\nb\r\nc\r\n", "a\r\nc\r\n"),
            ("", "x\n"),
            ("x\n", ""),
        ] {
            assert_eq!(
                apply(old, &minimal_edits(old, &LineIndex::new(old), new)),
                new
            );
        }
        assert!(minimal_edits(old, &LineIndex::new(old), old).is_empty());
    }

    #[test]
    fn titles_are_one_short_line() {
        assert_eq!(
            short_title("`await asyncio.sleep(...)`: same delay, the loop keeps running"),
            "`await asyncio.sleep(...)`"
        );
        let long = "`async with httpx.AsyncClient(verify=_HTTPX_TLS_CONTEXT) as client:` around \
                    the statement and `await client.get(...)`; the original has no timeout";
        let title = short_title(long);
        assert!(title.chars().count() <= MAX_TITLE, "{title}");
        assert!(title.ends_with("`…"), "{title}");
        assert!(!title.contains('\n'));
        let unbroken = format!("`{}`: the note", "x".repeat(90));
        let title = short_title(&unbroken);
        assert!(title.chars().count() <= MAX_TITLE, "{title}");
    }

    #[test]
    fn file_uris() {
        assert_eq!(
            uri_to_path("file:///tmp/a%20b/c.py"),
            Some(PathBuf::from("/tmp/a b/c.py"))
        );
        assert_eq!(
            path_to_uri(Path::new("/tmp/a b/c.py")),
            "file:///tmp/a%20b/c.py"
        );
        assert_eq!(uri_to_path("untitled:Untitled-1"), None);
        use std::os::unix::ffi::OsStrExt;
        let latin1 = Path::new(std::ffi::OsStr::from_bytes(b"/tmp/caf\xe9.py"));
        assert_eq!(path_to_uri(latin1), "file:///tmp/caf%E9.py");
        assert_eq!(
            uri_to_path("file:///tmp/caf%E9.py").as_deref(),
            Some(latin1)
        );
    }

    #[test]
    fn file_uris_as_editors_send_them() {
        // A host of `localhost`, a query and a fragment, escaped characters that need none.
        assert_eq!(
            uri_to_path("file://localhost/tmp/a.py?x=1#L2"),
            Some(PathBuf::from("/tmp/a.py"))
        );
        assert_eq!(
            uri_to_path("file:///tmp/%7Eme/%C3%A9t%C3%A9.py"),
            Some(PathBuf::from("/tmp/~me/été.py"))
        );
        assert_eq!(uri_to_path("not a uri"), None);
        let uri = path_to_uri(Path::new("/tmp/x #1/y?.py"));
        assert_eq!(
            uri_to_path(&uri),
            Some(PathBuf::from("/tmp/x #1/y?.py")),
            "{uri}"
        );
    }

    #[test]
    fn hover_names_the_recipes_of_suppression_comments() {
        let line = "    time.sleep(1)  # noqa: E501, ASYNC251  # unblock: ignore[sleep, file-io]\n";
        let at = |needle: &str| line.find(needle).unwrap();
        let under = |offset| suppression_under(line, offset);
        // On an id or a code: its recipe, the span of the word.
        let (ids, span) = under(at("file-io") + 2).unwrap();
        assert_eq!(ids, ["file-io"]);
        assert_eq!(&line[span], "file-io");
        let (ids, span) = under(at("ASYNC251")).unwrap();
        assert_eq!(ids, ["sleep"]);
        assert_eq!(&line[span], "ASYNC251");
        // Elsewhere in a directive: every recipe it names, the directive's span.
        let (ids, span) = under(at("unblock")).unwrap();
        assert_eq!(ids, ["sleep", "file-io"]);
        assert!(line[span].starts_with("# unblock: ignore["));
        // E501 is no recipe's; the code before the comment is not a comment.
        assert_eq!(under(at("noqa")).unwrap().0, ["sleep"]);
        assert_eq!(under(at("sleep(")), None);
        // A `#` inside a string starts no comment.
        let quoted = "x = '# noqa: ASYNC251'\n";
        assert_eq!(suppression_under(quoted, 8), None);
    }

    #[test]
    fn codes_map_to_the_recipes_of_their_catalogue_entries() {
        assert_eq!(recipes_for_code("ASYNC251"), ["sleep"]);
        assert_eq!(recipes_for_code("async110"), ["polling"]);
        assert!(recipes_for_code("ASYNC210").contains(&"http-requests"));
        assert!(recipes_for_code("E501").is_empty());
    }

    #[test]
    fn configuration_problems_point_at_the_key() {
        let text =
            "[project]\nname = \"x\"\n\n[tool.unblock]\nselect = [\"sleep\"]\nignore = \"sleep\"\n";
        let range = problem_range(text, "invalid type");
        assert_eq!(range.start.line, 5, "{range:?}");
        let text = "select = [\"sleep\"]\nselekt = 1\n";
        assert_eq!(problem_range(text, "unknown field").start.line, 1);
        let text = "[tool.unblock]\nselect = [\"sleep\" \"file-io\"]\n";
        assert_eq!(problem_range(text, "syntax").start.line, 1);
        // Checked after reading: the line of the key the message names.
        let text = "[tool.unblock]\ntarget-version = \"3.8\"\n";
        let message = "`target-version` = \"3.8\" is not one of py37, py38";
        let range = problem_range(text, message);
        assert_eq!((range.start.line, range.end.character), (1, 22));
    }

    fn frames(input: &[u8]) -> Vec<Result<String, String>> {
        let mut frames = Frames::new(input);
        std::iter::from_fn(|| frames.next_frame())
            .map(|frame| match frame {
                Frame::Message(Message::Notification(n)) => Ok(n.method),
                Frame::Message(other) => Ok(format!("{other:?}")),
                Frame::Skipped(why) => Err(why),
            })
            .collect()
    }

    fn notification(method: &str) -> Vec<u8> {
        let body = format!(r#"{{"jsonrpc":"2.0","method":"{method}","params":{{}}}}"#);
        format!("Content-Length: {}\r\n\r\n{body}", body.len()).into_bytes()
    }

    #[test]
    fn reads_past_garbage() {
        let mut input = b"Content-Length: 3\r\n\r\n{{{garbage\r\n\r\n".to_vec();
        input.extend(notification("a"));
        input.extend(b"\r\n\r\nContent-Length: x\r\n\r\n");
        input.extend(notification("b"));
        let read = frames(&input);
        assert_eq!(read.iter().filter(|f| f.is_err()).count(), 2, "{read:?}");
        let messages: Vec<_> = read.into_iter().filter_map(Result::ok).collect();
        assert_eq!(messages, ["a", "b"]);
    }

    #[test]
    fn a_length_over_the_limit_is_skipped_without_allocating_it() {
        for length in [
            "18446744073709551615",
            "100000000000000",
            "99999999999999999999999",
        ] {
            let mut input = format!("Content-Length: {length}\r\n\r\n{{}}").into_bytes();
            input.extend(notification("after"));
            let read = frames(&input);
            assert!(read[0].is_err(), "{length}: {read:?}");
            assert_eq!(read.last(), Some(&Ok("after".to_string())), "{length}");
        }
    }

    #[test]
    fn a_length_shorter_than_its_body_loses_only_that_message() {
        let mut input = b"Content-Length: 2\r\n\r\nabc".to_vec();
        input.extend(notification("first"));
        input.extend(notification("second"));
        let messages: Vec<_> = frames(&input).into_iter().filter_map(Result::ok).collect();
        assert_eq!(messages, ["first", "second"]);
    }

    #[test]
    fn a_header_split_across_reads_is_put_together() {
        // One byte per read, as a slow pipe may deliver.
        struct Trickle<'a>(&'a [u8]);
        impl std::io::Read for Trickle<'_> {
            fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
                let Some((&first, rest)) = self.0.split_first() else {
                    return Ok(0);
                };
                out[0] = first;
                self.0 = rest;
                Ok(1)
            }
        }
        let mut input = notification("a");
        input.extend(notification("b"));
        let mut frames = Frames::new(Trickle(&input));
        let mut methods = Vec::new();
        while let Some(frame) = frames.next_frame() {
            match frame {
                Frame::Message(Message::Notification(n)) => methods.push(n.method),
                _ => panic!("only messages"),
            }
        }
        assert_eq!(methods, ["a", "b"]);
    }
}
