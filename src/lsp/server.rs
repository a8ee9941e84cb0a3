//! The server's state and its message loop: the open documents, what is due for analysis,
//! and the publication (pushed or pulled) of what the analysis thread and the workspace scan
//! report back.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use lsp_server::{Connection, ErrorCode, Message, Request, RequestId, Response};
use lsp_types::{Diagnostic, DocumentDiagnosticParams, PublishDiagnosticsParams, Uri};

use crate::engine::index::ProjectIndex;
use crate::engine::Engine;

use super::analysis::{analysis_thread, Job, SharedIndex, Work};
use super::settings::{ClientSupport, ConfigurationProblem, Settings};
use super::transport::{log_message, notify, send};
use super::Ending;

pub(super) struct Document {
    pub(super) uri: Uri,
    pub(super) text: String,
    pub(super) version: Option<i32>,
    /// A `pyproject.toml` or `unblock.toml` open in the editor: its saves reload the
    /// configuration; it is not analysed.
    pub(super) is_configuration: bool,
    /// Diagnostics are due at this instant (a change not yet checked).
    pub(super) due: Option<Instant>,
    /// Bumped by every change: an analysis of an older generation is outdated.
    pub(super) generation: u64,
    /// `generation` as the analysis thread sees it, to give up on outdated work early.
    pub(super) latest: Arc<AtomicU64>,
    /// The generation and the diagnostics last published (a refinement that changes nothing
    /// is not sent again), and their result id for pull diagnostics.
    pub(super) published: Option<(u64, Vec<Diagnostic>)>,
    pub(super) result_id: u64,
    /// `textDocument/diagnostic` requests waiting for this generation's diagnostics, with the
    /// result id the client has.
    pub(super) pulls: Vec<(RequestId, Option<String>)>,
    /// The result id the client last pulled (a newer one is worth a refresh).
    pub(super) pulled: Option<u64>,
}

impl Document {
    /// The diagnostics of the current generation are out.
    pub(super) fn is_analysed(&self) -> bool {
        self.is_configuration
            || self
                .published
                .as_ref()
                .is_some_and(|(g, _)| *g == self.generation)
    }

    /// A pull report of what was published last.
    pub(super) fn report(&mut self, previous: Option<&str>) -> serde_json::Value {
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

pub(super) struct Server {
    pub(super) engine: Arc<Engine>,
    /// The first workspace folder: where the paths of findings are relative to.
    pub(super) root: PathBuf,
    /// Every workspace folder (the workspace scan reads each).
    pub(super) folders: Vec<PathBuf>,
    /// The client's settings (`initializationOptions`, then `didChangeConfiguration`).
    pub(super) settings: Settings,
    pub(super) client: ClientSupport,
    /// The configuration files that could not be read, as last shown.
    pub(super) problems: Vec<ConfigurationProblem>,
    /// Bumped by every reload of the configuration: a scan begun before it is outdated.
    pub(super) epoch: u64,
    pub(super) documents: HashMap<String, Document>,
    /// What the analysis thread settles against (the scan's definitions, the open documents'
    /// own, the call graph's answers so far): what code actions settle against too.
    /// indirect findings against (the analysis thread has its own copy).
    pub(super) index: SharedIndex,
    pub(super) scan: Scan,
    pub(super) analysis: crossbeam_channel::Sender<Work>,
    /// What the analysis thread and the workspace scan report back.
    pub(super) events: crossbeam_channel::Receiver<Event>,
    pub(super) events_sender: crossbeam_channel::Sender<Event>,
    /// The last result id given to a document's diagnostics (for pull diagnostics).
    pub(super) results: u64,
    /// A `workspace/diagnostic/refresh` is unanswered (`Some`); `Some(true)`: diagnostics
    /// changed since it was sent, so another one is due when it is answered.
    pub(super) refresh: Option<bool>,
    /// `shutdown` was answered: only `exit` is expected now.
    pub(super) shut_down: bool,
}

/// The whole-workspace scan, run on its own thread so that no open file waits for it.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Scan {
    /// Started once the first open file's direct findings are out.
    NotStarted,
    /// `again`: a file was saved while it ran, so what it read may be outdated.
    Running {
        again: bool,
    },
    Finished,
}

/// What the analysis thread and the workspace scan report to the main loop.
pub(super) enum Event {
    Analysed {
        key: String,
        generation: u64,
        /// The first publication of this version: the file's own findings (the call graph's
        /// refinement may follow).
        direct: bool,
        params: PublishDiagnosticsParams,
    },
    /// A line for the client's log.
    Log(String),
    Scanned {
        /// The configuration epoch the scan ran with.
        epoch: u64,
        index: Option<Box<ProjectIndex>>,
        summary: String,
    },
}

impl Server {
    pub(super) fn new(
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
        let index: SharedIndex = Default::default();
        {
            let engine = engine.clone();
            let root = root.clone();
            let shared = index.clone();
            let events = events_sender.clone();
            std::thread::Builder::new()
                .name("unblock-lsp-analysis".into())
                .spawn(move || analysis_thread(engine, &root, &jobs, &events, shared))
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
            index,
            scan: Scan::NotStarted,
            analysis,
            events,
            events_sender,
            results: 0,
            refresh: None,
            shut_down: false,
        }
    }

    pub(super) fn main_loop(&mut self, connection: &Connection) -> Ending {
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

    pub(super) fn analyse_due(&mut self) {
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
    pub(super) fn analyse(&mut self, key: &str, refine_only: bool) {
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
    pub(super) fn bump_generation(document: &mut Document) {
        document.generation += 1;
        document
            .latest
            .store(document.generation, Ordering::Release);
    }

    pub(super) fn event(&mut self, connection: &Connection, event: Event) {
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
            Event::Log(line) => log_message(connection, &line),
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
                let index = index.map(|index| Arc::new(*index));
                let _ = self.analysis.send(Work::Workspace(index));
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
    pub(super) fn ask_to_pull(&mut self, connection: &Connection) {
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
    pub(super) fn pull_diagnostics(&mut self, connection: &Connection, request: Request) {
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
}

/// The id of the server's `workspace/diagnostic/refresh` requests (one at a time).
pub(super) fn refresh_id() -> RequestId {
    RequestId::from("unblock/refresh".to_string())
}
