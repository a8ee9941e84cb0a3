//! The analysis thread: each document's newest version, its direct findings first, then the
//! call graph's refinement.

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use lsp_types::{PublishDiagnosticsParams, Uri};

use crate::engine::index::ProjectIndex;
use crate::engine::source::SourceFile;
use crate::engine::Engine;
use crate::finding::Finding;

use super::diagnostics::{diagnostic, path_and_module};
use super::server::Event;
use super::text::LineIndex;

/// What the main loop hands the analysis thread.
pub(super) enum Work {
    Analyse(Job),
    /// The workspace index to settle against from now on (`None`: not scanned, each file is
    /// settled against its own project's modules).
    Workspace(Option<Arc<ProjectIndex>>),
    /// The configuration was read again: the engine to analyse with from now on (the index
    /// built with the last one is dropped).
    Reconfigure(Arc<Engine>),
}

/// One version of one document to analyse.
pub(super) struct Job {
    pub(super) key: String,
    pub(super) uri: Uri,
    pub(super) text: Arc<str>,
    pub(super) version: Option<i32>,
    pub(super) generation: u64,
    pub(super) latest: Arc<AtomicU64>,
    /// This generation's direct findings are out: only the refinement is due (after a scan).
    pub(super) refine_only: bool,
}

impl Job {
    pub(super) fn is_outdated(&self) -> bool {
        self.latest.load(Ordering::Acquire) != self.generation
    }
}

/// The analysis thread: each document's newest version, direct findings first, then the
/// call graph's refinement. One at a time: two cores are shared with the workspace scan.
pub(super) fn analysis_thread(
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

pub(super) fn analyse_job(
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
