//! Renderers for `unblock check`: text (code frames), concise (one line each), JSON, SARIF,
//! GitHub annotations, and the statistics in each of them.
//! They only format a [`Report`]; nothing here decides what is a finding.

mod concise;
mod github;
mod json;
mod sarif;
mod statistics;
mod text;

pub use concise::render_concise;
pub use github::render_github;
pub use json::{render_json, JsonFinding};
pub use sarif::render_sarif;
pub use statistics::{render_statistics, Statistics};
pub use text::{render_text, render_text_findings};

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::engine::project::ProjectModel;
use crate::engine::Report;
use crate::finding::Finding;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OutputFormat {
    Text,
    /// One line per finding, `path:line:col: recipe [CODES] message` (Vim's quickfix, grep).
    Concise,
    Json,
    Sarif,
    Github,
}

pub fn render(
    format: OutputFormat,
    report: &Report,
    sources: &dyn Fn(&str) -> Option<Vec<u8>>,
) -> String {
    match format {
        OutputFormat::Text => render_text(report, sources),
        OutputFormat::Concise => render_concise(&report.findings),
        OutputFormat::Json => render_json(&report.findings),
        OutputFormat::Sarif => render_sarif(&report.findings, &RepositoryPaths::new(report), None),
        OutputFormat::Github => render_github(&report.findings, &RepositoryPaths::new(report)),
    }
}

/// Paths as GitHub reads them in annotations and code scanning: relative to the repository's
/// root, wherever in it unblock ran (reports spell paths relative to the working directory).
pub struct RepositoryPaths {
    /// The nearest folder at or above the working directory holding `.git`, else the project
    /// root the working directory is in.
    pub root: PathBuf,
    /// What makes a path as reports spell it absolute (relative to the working directory).
    model: Arc<ProjectModel>,
}

impl RepositoryPaths {
    pub fn new(report: &Report) -> RepositoryPaths {
        let model = report.project.model.clone();
        let cwd = model.absolute(Path::new("."));
        let root = cwd
            .ancestors()
            .find(|dir| dir.join(".git").exists())
            .map(Path::to_path_buf)
            .unwrap_or_else(|| model.root_of(&cwd));
        RepositoryPaths { root, model }
    }

    /// A path as reports spell it, made absolute.
    pub fn absolute(&self, path: &str) -> PathBuf {
        self.model.absolute(Path::new(path))
    }

    /// A path as reports spell it, relative to the root with forward slashes; `None` for a
    /// file outside the root.
    pub fn relative(&self, path: &str) -> Option<String> {
        let absolute = self.absolute(path);
        let relative = absolute.strip_prefix(&self.root).ok()?;
        let parts: Vec<String> = relative
            .components()
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .collect();
        Some(parts.join("/"))
    }
}

/// The ruff / flake8-async codes of a finding as shown after its recipe id: ` [ASYNC251]`,
/// or nothing when no rule of theirs covers it.
pub(crate) fn codes_suffix(finding: &Finding) -> String {
    if finding.noqa_codes.is_empty() {
        String::new()
    } else {
        format!(" [{}]", finding.noqa_codes.join(", "))
    }
}
