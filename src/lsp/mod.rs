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

mod actions;
mod analysis;
mod diagnostics;
mod hover;
mod notifications;
mod server;
mod settings;
mod text;
mod transport;
mod workspace;

use std::path::PathBuf;
use std::time::Duration;

use lsp_server::{Connection, ErrorCode, Message, Response};
use lsp_types::{
    CodeActionKind, CodeActionOptions, CodeActionProviderCapability, DiagnosticOptions,
    DiagnosticServerCapabilities, HoverProviderCapability, InitializeParams, OneOf,
    PositionEncodingKind, ServerCapabilities, ServerInfo, TextDocumentSyncCapability,
    TextDocumentSyncKind, TextDocumentSyncOptions, TextDocumentSyncSaveOptions,
    WorkspaceFoldersServerCapabilities, WorkspaceServerCapabilities,
};

use self::server::Server;
use self::settings::{configure, ClientSupport, Settings};
use self::text::uri_to_path;
use self::transport::{send, show_message, stdio_connection};

/// Diagnostics are published once a document has had no change for this long.
const DEBOUNCE: Duration = Duration::from_millis(150);
/// Workspaces with more Python files than this are not scanned whole (the client may say
/// otherwise: `initializationOptions.maxWorkspaceFiles`): each open file is then settled
/// against its own project's modules, as `unblock check FILE` is.
const MAX_WORKSPACE_FILES: usize = 20_000;
/// The code action kind of the whole-file fix.
pub const FIX_ALL_KIND: &str = "source.fixAll.unblock";

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
