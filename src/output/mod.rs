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
        OutputFormat::Sarif => render_sarif(&report.findings),
        OutputFormat::Github => render_github(&report.findings),
    }
}
