//! Findings as LSP diagnostics.

use std::path::{Path, PathBuf};

use lsp_types::{
    Diagnostic, DiagnosticRelatedInformation, DiagnosticSeverity, Location, NumberOrString,
    Position, Range, Uri,
};

use crate::engine::Engine;
use crate::finding::{Finding, Safety};

use super::text::{path_to_uri, stem, uri_to_path, LineIndex};
use super::workspace::no_project;

/// A warning per finding: code = recipe id, message with the fix note or why there is none,
/// the chain and the other blocking calls as related information.
pub(super) fn diagnostic(
    root: &Path,
    finding: &Finding,
    text: &str,
    lines: &LineIndex,
) -> Diagnostic {
    let mut message = finding.message.clone();
    match (&finding.fix, &finding.not_fixable) {
        (Some(fix), _) => {
            let unsafe_ = if fix.safety == Safety::Unsafe {
                " (unsafe)"
            } else {
                ""
            };
            message.push_str(&format!("\nfix{unsafe_}: {}", fix.note));
        }
        (None, Some(reason)) => message.push_str(&format!("\nnot fixable: {reason}")),
        (None, None) => {}
    }
    // The chain, then the other blocking calls behind it (the first sink ends the chain).
    let related: Vec<DiagnosticRelatedInformation> = finding
        .chain
        .iter()
        .chain(finding.sinks.iter().skip(1))
        .filter_map(|link| {
            let path = Path::new(&link.path);
            let path = if path.is_absolute() {
                path.to_path_buf()
            } else {
                root.join(path)
            };
            let uri: Uri = path_to_uri(&path).parse().ok()?;
            let line = link.line.saturating_sub(1) as u32;
            Some(DiagnosticRelatedInformation {
                location: Location::new(
                    uri,
                    Range::new(Position::new(line, 0), Position::new(line, 0)),
                ),
                message: link.name.clone(),
            })
        })
        .collect();
    Diagnostic {
        range: finding_range(finding, text, lines),
        severity: Some(DiagnosticSeverity::WARNING),
        code: Some(NumberOrString::String(finding.recipe.to_string())),
        // No link: the project has no public page yet (hover shows the recipe's page).
        code_description: None,
        source: Some("unblock".into()),
        message,
        related_information: (!related.is_empty()).then_some(related),
        tags: None,
        data: None,
    }
}

/// The path findings are reported under, the module name, and whether the call graph may
/// follow the document's project (not when the file is in none, and its project would be the
/// file-system root or the home folder: the module is then named after the file alone).
pub(super) fn path_and_module(engine: &Engine, uri: &Uri) -> (String, String, bool) {
    match uri_to_path(uri.as_str()) {
        Some(path) => {
            let followed = no_project(&engine.project.root_of(&path)).is_none();
            let module = if followed && path.is_file() {
                engine.project.module_name(&path)
            } else {
                stem(&path)
            };
            (path.to_string_lossy().into_owned(), module, followed)
        }
        // Not a file (an untitled buffer): only what the workspace scan read is followed.
        None => {
            let path = PathBuf::from(uri.path().as_str());
            (uri.as_str().to_string(), stem(&path), true)
        }
    }
}

pub(super) fn finding_range(finding: &Finding, text: &str, lines: &LineIndex) -> Range {
    Range::new(
        lines.position(text, finding.start_byte.min(text.len())),
        lines.position(text, finding.end_byte.min(text.len())),
    )
}
