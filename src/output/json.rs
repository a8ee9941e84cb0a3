//! The JSON output: a stable interface, documented in the README. Fields are only ever added.

use serde::Serialize;

use crate::finding::{ChainLink, Finding, FixInfo, Kind};

#[derive(Serialize)]
pub struct JsonFinding<'a> {
    pub path: &'a str,
    pub line: usize,
    pub column: usize,
    pub end_line: usize,
    pub end_column: usize,
    pub recipe: &'a str,
    /// The ruff / flake8-async codes this finding corresponds to (`ASYNC251`), empty when
    /// none of their rules covers it.
    pub codes: &'a [String],
    pub kind: Kind,
    pub message: &'a str,
    pub reason: &'a str,
    pub fix: Option<&'a FixInfo>,
    pub not_fixable: Option<&'a str>,
    pub chain: &'a [ChainLink],
    /// Indirect findings: every blocking call behind the call, costliest first.
    #[serde(skip_serializing_if = "<[ChainLink]>::is_empty")]
    pub sinks: &'a [ChainLink],
}

impl<'a> From<&'a Finding> for JsonFinding<'a> {
    fn from(f: &'a Finding) -> Self {
        JsonFinding {
            path: &f.path,
            line: f.start.line,
            column: f.start.column,
            end_line: f.end.line,
            end_column: f.end.column,
            recipe: f.recipe,
            codes: &f.noqa_codes,
            kind: f.kind,
            message: &f.message,
            reason: &f.reason,
            fix: f.fix.as_ref(),
            not_fixable: f.not_fixable.as_deref(),
            chain: &f.chain,
            sinks: &f.sinks,
        }
    }
}

pub fn render_json(findings: &[Finding]) -> String {
    let items: Vec<JsonFinding> = findings.iter().map(JsonFinding::from).collect();
    let mut out = serde_json::to_string_pretty(&items).expect("findings serialise");
    out.push('\n');
    out
}
