//! Renderers for `unblock check`: text (code frames), JSON, SARIF, GitHub annotations.
//! They only format a [`Report`]; nothing here decides what is a finding.

mod github;
mod json;
mod sarif;
mod text;

pub use github::render_github;
pub use json::{render_json, JsonFinding};
pub use sarif::render_sarif;
pub use text::{render_statistics, render_text};

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::engine::project::ProjectModel;
use crate::engine::Report;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OutputFormat {
    Text,
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
        OutputFormat::Json => render_json(&report.findings),
        OutputFormat::Sarif => render_sarif(&report.findings, &RepositoryPaths::new(report)),
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
