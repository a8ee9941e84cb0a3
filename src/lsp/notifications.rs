//! The client's notifications: documents opened, changed, saved and closed, workspace
//! folders and settings changed, requests cancelled.

use std::path::PathBuf;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::Instant;

use lsp_server::{Connection, ErrorCode, Notification, RequestId, Response};
use lsp_types::{
    DidChangeTextDocumentParams, DidChangeWatchedFilesParams, DidChangeWorkspaceFoldersParams,
    DidCloseTextDocumentParams, DidOpenTextDocumentParams, DidSaveTextDocumentParams,
    PublishDiagnosticsParams,
};

use super::analysis::Work;
use super::server::{Document, Server};
use super::settings::{
    is_configuration_file, nearest_configuration, ConfigurationProblem, Settings,
};
use super::text::{uri_to_path, LineIndex};
use super::transport::{notify, send, show_message};
use super::DEBOUNCE;

impl Server {
    pub(super) fn notification(&mut self, connection: &Connection, notification: Notification) {
        match notification.method.as_str() {
            "initialized" => self.watch_files(connection),
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
                    // The documents' texts are what is analysed, saved or not (each stands for
                    // its file): a save changes nothing unless it brings a text not seen yet.
                    // Nor is the workspace scanned again: the analysis thread refines the open
                    // documents whose findings went through this one when it changed.
                    let Some(document) = self.documents.get_mut(&key) else {
                        return;
                    };
                    match params.text {
                        Some(text) if text != document.text => document.text = text,
                        _ => return,
                    }
                    Self::bump_generation(document);
                    self.analyse(&key, false);
                }
            }
            "textDocument/didClose" => {
                if let Ok(params) =
                    notification.extract::<DidCloseTextDocumentParams>("textDocument/didClose")
                {
                    let key = params.text_document.uri.as_str().to_string();
                    let _ = self.analysis.send(Work::Close(key.clone()));
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
                // An open document stands for its file: a save of it changes nothing here.
                let open: std::collections::HashSet<PathBuf> = self
                    .documents
                    .keys()
                    .filter_map(|k| uri_to_path(k))
                    .collect();
                let outside: Vec<(PathBuf, lsp_types::FileChangeType)> = params
                    .changes
                    .iter()
                    .filter_map(|change| Some((uri_to_path(change.uri.as_str())?, change.typ)))
                    .filter(|(path, _)| {
                        crate::engine::walk::is_python(path) && !open.contains(path)
                    })
                    .collect();
                // A module added or removed changes the project's layout: scanned again.
                let layout_changed = outside
                    .iter()
                    .any(|(_, typ)| *typ != lsp_types::FileChangeType::CHANGED);
                if configuration_changed || layout_changed {
                    self.reload(connection);
                } else if !outside.is_empty() {
                    let paths = outside.into_iter().map(|(path, _)| path).collect();
                    let _ = self.analysis.send(Work::FilesChanged(paths));
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
}
