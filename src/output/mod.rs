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
        OutputFormat::Sarif => render_sarif(&report.findings, None),
        OutputFormat::Github => render_github(&report.findings),
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
