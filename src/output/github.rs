//! GitHub Actions workflow commands: one `::warning` annotation per finding.

use super::RepositoryPaths;
use crate::finding::Finding;

/// The annotations, their `file` relative to the repository's root (GitHub attaches an
/// annotation to a file of the diff only by that path, whatever folder the step ran in).
pub fn render_github(findings: &[Finding], paths: &RepositoryPaths) -> String {
    let mut out = String::new();
    for f in findings {
        let mut message = f.message.clone();
        if let Some(fix) = &f.fix {
            message.push_str(&format!(" (fix, {}: {})", fix.safety.as_str(), fix.note));
        }
        out.push_str(&format!(
            "::warning title=unblock ({recipe}),file={path},line={line},col={col},endLine={end_line},endColumn={end_col}::{message}\n",
            recipe = escape_property(f.recipe),
            path = escape_property(&paths.relative(&f.path).unwrap_or_else(|| f.path.clone())),
            line = f.start.line,
            col = f.start.column,
            end_line = f.end.line,
            end_col = f.end.column,
            message = escape_data(&format!("{}: {message}", f.recipe)),
        ));
    }
    out
}

/// Workflow command escaping (the runner's `escapeData` / `escapeProperty`).
fn escape_data(text: &str) -> String {
    text.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

fn escape_property(text: &str) -> String {
    escape_data(text).replace(':', "%3A").replace(',', "%2C")
}
