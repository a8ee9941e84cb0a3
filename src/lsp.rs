//! `unblock lsp`: a language server over stdio, a thin layer over the engine like `check` and
//! `apply`. Diagnostics for open documents (debounced while typing), a quick fix and a
//! suppression comment per finding, and `source.fixAll.unblock` (what `unblock apply` writes).
//!
//! Synchronous, as rust-analyzer and ruff are: one loop over `lsp-server`'s channels. The stdio
//! transport is our own: a malformed message is logged and skipped instead of ending the
//! session (lsp-server's stops reading at the first one).

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use lsp_server::{Connection, ErrorCode, Message, Notification, Request, Response};
use lsp_types::{
    CodeAction, CodeActionKind, CodeActionOptions, CodeActionOrCommand, CodeActionParams,
    CodeActionProviderCapability, CodeDescription, Diagnostic, DiagnosticRelatedInformation,
    DiagnosticSeverity, DidChangeTextDocumentParams, DidCloseTextDocumentParams,
    DidOpenTextDocumentParams, DidSaveTextDocumentParams, InitializeParams, Location,
    NumberOrString, Position, PositionEncodingKind, PublishDiagnosticsParams, Range,
    ServerCapabilities, ServerInfo, TextDocumentSyncCapability, TextDocumentSyncKind,
    TextDocumentSyncOptions, TextDocumentSyncSaveOptions, TextEdit, Uri, WorkspaceEdit,
};

use crate::config::Config;
use crate::engine::fix::{apply_fixes, FixOptions};
use crate::engine::index::ProjectIndex;
use crate::engine::source::SourceFile;
use crate::engine::{Engine, Selection};
use crate::finding::{Finding, Safety};

/// Diagnostics are published once a document has had no change for this long.
const DEBOUNCE: Duration = Duration::from_millis(150);
/// The code action kind of the whole-file fix.
pub const FIX_ALL_KIND: &str = "source.fixAll.unblock";
/// Where a recipe's page is: `unblock explain <id>` prints the same text.
const DOCS_URL: &str = "https://pypi.org/project/unblock/#";

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
        ..Default::default()
    };
    let Some((id, params)) = await_initialize(connection) else {
        return Ending::ExitBeforeShutdown;
    };
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
    let root = workspace_root(&params);
    let config = match Config::discover(std::slice::from_ref(&root))
        .and_then(|c| c.check_source_roots().map(|()| c))
    {
        Ok(config) => config,
        Err(message) => {
            show_message(connection, &format!("unblock: configuration: {message}"));
            Default::default()
        }
    };
    let mut server = Server {
        engine: Engine::new(config, Selection::default()),
        root,
        documents: HashMap::new(),
        workspace: None,
        shut_down: false,
    };
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

/// The first workspace folder, else `rootUri`, else `rootPath`, else the current directory.
#[allow(deprecated)]
fn workspace_root(params: &InitializeParams) -> PathBuf {
    params
        .workspace_folders
        .as_ref()
        .and_then(|folders| folders.first())
        .and_then(|folder| uri_to_path(folder.uri.as_str()))
        .or_else(|| {
            params
                .root_uri
                .as_ref()
                .and_then(|u| uri_to_path(u.as_str()))
        })
        .or_else(|| params.root_path.as_ref().map(PathBuf::from))
        .unwrap_or_else(|| PathBuf::from("."))
}

struct Document {
    uri: Uri,
    text: String,
    version: Option<i32>,
    /// Diagnostics are due at this instant (a change not yet checked).
    due: Option<Instant>,
}

struct Server {
    engine: Engine,
    root: PathBuf,
    documents: HashMap<String, Document>,
    /// The workspace as on disk, checked once (and again after a save): what indirect
    /// findings in a buffer are settled against.
    workspace: Option<ProjectIndex>,
    /// `shutdown` was answered: only `exit` is expected now.
    shut_down: bool,
}

impl Server {
    fn main_loop(&mut self, connection: &Connection) -> Ending {
        let end_of_input = |shut_down: bool| {
            if shut_down {
                Ending::Clean
            } else {
                Ending::ExitBeforeShutdown
            }
        };
        loop {
            let next_due = self.documents.values().filter_map(|d| d.due).min();
            let message = match next_due {
                Some(due) => {
                    let wait = due.saturating_duration_since(Instant::now());
                    match connection.receiver.recv_timeout(wait) {
                        Ok(message) => Some(message),
                        Err(e) if e.is_timeout() => None,
                        Err(_) => return end_of_input(self.shut_down),
                    }
                }
                None => match connection.receiver.recv() {
                    Ok(message) => Some(message),
                    Err(_) => return end_of_input(self.shut_down),
                },
            };
            match message {
                None => self.publish_due(connection),
                Some(Message::Request(request))
                    if self.shut_down || request.method == "initialize" =>
                {
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
                Some(Message::Request(request)) if request.method == "shutdown" => {
                    self.shut_down = true;
                    self.documents.clear();
                    send(connection, Response::new_ok(request.id, ()).into());
                }
                Some(Message::Request(request)) => {
                    let response = self.request(request);
                    send(connection, response.into());
                }
                Some(Message::Notification(notification)) => {
                    if notification.method == "exit" {
                        return end_of_input(self.shut_down);
                    }
                    if !self.shut_down {
                        self.notification(connection, notification);
                    }
                }
                Some(Message::Response(_)) => {}
            }
        }
    }

    /// Checks the workspace on disk if it has not been (a whole-tree check: seconds on a
    /// million lines, once per save).
    fn ensure_workspace(&mut self) {
        if self.workspace.is_none() {
            let report = self.engine.check(std::slice::from_ref(&self.root));
            self.workspace = Some(report.project);
        }
    }

    fn publish_due(&mut self, connection: &Connection) {
        let now = Instant::now();
        let due: Vec<String> = self
            .documents
            .iter()
            .filter(|(_, d)| d.due.is_some_and(|t| t <= now))
            .map(|(k, _)| k.clone())
            .collect();
        for key in due {
            self.publish(connection, &key);
        }
    }

    fn publish(&mut self, connection: &Connection, key: &str) {
        let Some(document) = self.documents.get_mut(key) else {
            return;
        };
        document.due = None;
        self.ensure_workspace();
        let document = &self.documents[key];
        let (path, module) = self.path_and_module(&document.uri);
        let (findings, _) =
            self.engine
                .check_text_in(&path, &module, &document.text, self.workspace.as_mut());
        let lines = LineIndex::new(&document.text);
        let diagnostics = findings
            .iter()
            .map(|f| self.diagnostic(f, &document.text, &lines))
            .collect();
        let params = PublishDiagnosticsParams {
            uri: document.uri.clone(),
            diagnostics,
            version: document.version,
        };
        send(
            connection,
            Notification::new("textDocument/publishDiagnostics".into(), params).into(),
        );
    }

    fn diagnostic(&self, finding: &Finding, text: &str, lines: &LineIndex) -> Diagnostic {
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
                    self.root.join(path)
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
            code_description: format!("{DOCS_URL}{}", finding.recipe)
                .parse()
                .ok()
                .map(|href| CodeDescription { href }),
            source: Some("unblock".into()),
            message,
            related_information: (!related.is_empty()).then_some(related),
            tags: None,
            data: None,
        }
    }

    /// The path findings are reported under, and the module name, for a document.
    fn path_and_module(&self, uri: &Uri) -> (String, String) {
        match uri_to_path(uri.as_str()) {
            Some(path) => {
                let module = if path.is_file() {
                    self.engine.project.module_name(&path)
                } else {
                    stem(&path)
                };
                (path.to_string_lossy().into_owned(), module)
            }
            None => {
                let path = PathBuf::from(uri.path().as_str());
                (uri.as_str().to_string(), stem(&path))
            }
        }
    }

    fn notification(&mut self, connection: &Connection, notification: Notification) {
        match notification.method.as_str() {
            "textDocument/didOpen" => {
                let Ok(params) =
                    notification.extract::<DidOpenTextDocumentParams>("textDocument/didOpen")
                else {
                    return;
                };
                let key = params.text_document.uri.as_str().to_string();
                self.documents.insert(
                    key.clone(),
                    Document {
                        uri: params.text_document.uri,
                        text: params.text_document.text,
                        version: Some(params.text_document.version),
                        due: None,
                    },
                );
                self.publish(connection, &key);
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
                document.due = Some(Instant::now() + DEBOUNCE);
            }
            "textDocument/didSave" => {
                if let Ok(params) =
                    notification.extract::<DidSaveTextDocumentParams>("textDocument/didSave")
                {
                    let key = params.text_document.uri.as_str().to_string();
                    if let (Some(text), Some(document)) =
                        (params.text, self.documents.get_mut(&key))
                    {
                        document.text = text;
                    }
                    // What the saved file defines and calls changes the call graph.
                    self.workspace = None;
                    self.publish(connection, &key);
                }
            }
            "textDocument/didClose" => {
                if let Ok(params) =
                    notification.extract::<DidCloseTextDocumentParams>("textDocument/didClose")
                {
                    let key = params.text_document.uri.as_str().to_string();
                    self.documents.remove(&key);
                    let params = PublishDiagnosticsParams {
                        uri: params.text_document.uri,
                        diagnostics: Vec::new(),
                        version: None,
                    };
                    send(
                        connection,
                        Notification::new("textDocument/publishDiagnostics".into(), params).into(),
                    );
                }
            }
            // Everything else (`initialized`, `$/cancelRequest`, configuration changes) is
            // not needed: ignored.
            _ => {}
        }
    }

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
            method => Response::new_err(
                request.id,
                ErrorCode::MethodNotFound as i32,
                format!("unblock lsp does not handle {method}"),
            ),
        }
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
        let (path, module) = self.path_and_module(uri);
        let text = &document.text;
        let Ok(file) = SourceFile::parse(path.clone(), text.as_bytes().to_vec(), module.clone())
        else {
            return Vec::new();
        };
        let checked = self.engine.check_file(&file);
        // The workspace's index (call graph included) with this buffer's definitions: the
        // fix-all below re-checks the buffer with it, indirect findings included.
        let mut project = self.workspace.clone().unwrap_or_default();
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
            let diagnostic = self.diagnostic(finding, text, &lines);
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
    let limit = clause
        .char_indices()
        .nth(MAX_TITLE - 1)
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

/// `file:///a%20b/c.py` → `/a b/c.py`; other schemes → `None`.
fn uri_to_path(uri: &str) -> Option<PathBuf> {
    let rest = uri.strip_prefix("file://")?;
    let rest = rest.split(['?', '#']).next().unwrap_or("");
    let bytes = rest.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let Ok(b) = u8::from_str_radix(&rest[i + 1..i + 3], 16) {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    let path = match String::from_utf8(out) {
        Ok(path) => path,
        // A name that is not UTF-8 is still a file name.
        Err(e) => {
            use std::os::unix::ffi::OsStringExt;
            return Some(PathBuf::from(std::ffi::OsString::from_vec(e.into_bytes())));
        }
    };
    // `file:///C:/x` on Windows: drop the slash before the drive letter.
    let path = match path.as_bytes() {
        [b'/', drive, b':', ..] if drive.is_ascii_alphabetic() && cfg!(windows) => {
            path[1..].to_string()
        }
        _ => path,
    };
    Some(PathBuf::from(path))
}

fn path_to_uri(path: &Path) -> String {
    use std::os::unix::ffi::OsStrExt;
    let mut out = String::from("file://");
    let bytes = path.as_os_str().as_bytes();
    if bytes.first() != Some(&b'/') {
        out.push('/');
    }
    // Bytes, not characters: a name that is not UTF-8 is percent-encoded as it is.
    for &b in bytes {
        if b.is_ascii_alphanumeric() || b"/-._~:".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn send(connection: &Connection, message: Message) {
    // The writer is gone only when the client went away: the reader then ends the loop.
    let _ = connection.sender.send(message);
}

fn show_message(connection: &Connection, message: &str) {
    let params = lsp_types::ShowMessageParams {
        typ: lsp_types::MessageType::WARNING,
        message: message.to_string(),
    };
    send(
        connection,
        Notification::new("window/showMessage".into(), params).into(),
    );
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
