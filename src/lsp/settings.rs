//! What configures the server: the client's settings (the command line's options), what the
//! client can do, and the engine built from them and the configuration files (`configure`),
//! read again when one of those changes (`Server::reload`).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use lsp_server::{Connection, Request, RequestId};
use lsp_types::{Diagnostic, DiagnosticSeverity, Position, Range};
use serde::Deserialize;

use crate::config::{Config, LoadedConfig};
use crate::engine::{Engine, Selection};

use super::analysis::Work;
use super::server::{Scan, Server};
use super::text::{path_to_uri, uri_to_path, LineIndex};
use super::transport::{notify, send, show_message};

/// What the client may set, in `initializationOptions` and in
/// `workspace/didChangeConfiguration` (there, the object itself or under an `unblock` key): the
/// command line's options, over every configuration file as they are.
#[derive(Debug, Default, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub(super) struct Settings {
    /// `--select`
    pub(super) select: Vec<String>,
    /// `--ignore`
    pub(super) ignore: Vec<String>,
    /// `--config FILE`: this configuration for every file (relative to the first workspace
    /// folder).
    pub(super) configuration: Option<PathBuf>,
    /// `--http-client EXPR`
    pub(super) http_client: Option<String>,
    /// `--target-version`
    pub(super) target_version: Option<String>,
    /// Workspaces with more Python files than this are not scanned.
    pub(super) max_workspace_files: Option<usize>,
    /// `--no-cache`: the workspace scan neither reads nor writes the summary cache.
    pub(super) no_cache: bool,
}

impl Settings {
    /// The settings in a client's object, `None` when it holds none of ours (a client that
    /// sends every server the settings of all of them).
    pub(super) fn from_client(value: &serde_json::Value) -> Option<Result<Settings, String>> {
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
                    "noCache",
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
pub(super) struct ClientSupport {
    /// `textDocument/diagnostic`: diagnostics are pulled, not pushed.
    pub(super) pull_diagnostics: bool,
    /// `workspace/diagnostic/refresh`: the client may be asked to pull again.
    pub(super) diagnostic_refresh: bool,
    /// `workspace/didChangeWatchedFiles` may be registered for the configuration files.
    pub(super) watch_files: bool,
}

impl ClientSupport {
    /// Read from the JSON (lsp-types names `workspace.diagnostics` in the singular, so that
    /// the refresh support a client states would be lost).
    pub(super) fn of(capabilities: &serde_json::Value) -> ClientSupport {
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

/// The files a configuration is read from: a change to one reloads it.
pub(super) const CONFIGURATION_FILES: &[&str] = &["unblock.toml", "pyproject.toml"];

/// A configuration file that cannot be read, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct ConfigurationProblem {
    pub(super) file: PathBuf,
    pub(super) message: String,
}

/// The engine for these workspace folders and settings, as `unblock check` builds it for the
/// first folder (`settings` as its command-line options), and what is wrong with the
/// configuration files that apply to the folders and to the open documents (`open`): each
/// file then gets the nearest configuration above it that can be read.
pub(super) fn configure(
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
        crate::recipes::builtin(),
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
pub(super) fn nearest_configuration(
    start: &Path,
) -> Option<(PathBuf, Result<Option<Config>, String>)> {
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
pub(super) fn problem_range(text: &str, message: &str) -> Range {
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
pub(super) fn is_configuration_file(path: &Path) -> bool {
    path.file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| CONFIGURATION_FILES.contains(&n))
}

impl Server {
    /// Asks the client to tell of changes to the configuration files and the Python files,
    /// when it can (`client/registerCapability`): a branch checked out or a file written by
    /// another program changes what the open documents' chains go through. Without it, the
    /// configuration is read again when saved in the editor.
    pub(super) fn watch_files(&mut self, connection: &Connection) {
        if !self.client.watch_files {
            return;
        }
        let watchers: Vec<serde_json::Value> = CONFIGURATION_FILES
            .iter()
            .map(|name| format!("**/{name}"))
            .chain(["**/*.py".to_string(), "**/*.pyi".to_string()])
            .map(|glob| serde_json::json!({ "globPattern": glob }))
            .collect();
        let params = serde_json::json!({
            "registrations": [{
                "id": "unblock-watched-files",
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
    pub(super) fn reload(&mut self, connection: &Connection) {
        let open: Vec<PathBuf> = self
            .documents
            .keys()
            .filter_map(|key| uri_to_path(key))
            .collect();
        let (engine, problems) = configure(&self.folders, &self.settings, &open);
        self.show_configuration_problems(connection, problems);
        self.engine = Arc::new(engine);
        self.epoch += 1;
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
    pub(super) fn show_configuration_problems(
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
