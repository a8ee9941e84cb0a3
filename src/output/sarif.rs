//! SARIF 2.1.0, for GitHub code scanning and other SARIF consumers.

use serde_json::{json, Value};

use super::Statistics;
use crate::finding::Finding;
use crate::recipes;

/// The SARIF log of the findings; with `statistics` (`--statistics`), the counts also go in
/// the run's property bag, so the log stays valid and keeps its results for code scanning.
pub fn render_sarif(findings: &[Finding], statistics: Option<&Statistics>) -> String {
    let rules: Vec<Value> = recipes::all()
        .iter()
        .map(|r| {
            json!({
                "id": r.id(),
                "name": r.id(),
                "shortDescription": { "text": r.summary() },
                "fullDescription": { "text": r.page() },
                "help": { "text": r.page(), "markdown": r.page() },
                "defaultConfiguration": { "level": "warning" },
            })
        })
        .collect();
    let results: Vec<Value> = findings
        .iter()
        .map(|f| {
            let mut message = f.message.clone();
            if let Some(fix) = &f.fix {
                message.push_str(&format!(". Fix ({}): {}", fix.safety.as_str(), fix.note));
            } else if let Some(why) = &f.not_fixable {
                message.push_str(&format!(". Not fixed: {why}"));
            }
            let related: Vec<Value> = f
                .chain
                .iter()
                .enumerate()
                .map(|(i, link)| {
                    json!({
                        "id": i,
                        "message": { "text": link.name },
                        "physicalLocation": {
                            "artifactLocation": { "uri": uri(&link.path) },
                            "region": { "startLine": link.line },
                        },
                    })
                })
                .collect();
            json!({
                "ruleId": f.recipe,
                "level": "warning",
                "message": { "text": message },
                "locations": [{
                    "physicalLocation": {
                        "artifactLocation": { "uri": uri(&f.path) },
                        "region": {
                            "startLine": f.start.line,
                            "startColumn": f.start.column,
                            "endLine": f.end.line,
                            "endColumn": f.end.column,
                        },
                    },
                }],
                "relatedLocations": related,
            })
        })
        .collect();
    let mut sarif = json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": {
                "driver": {
                    "name": "unblock",
                    "version": env!("CARGO_PKG_VERSION"),
                    "informationUri": "https://pypi.org/project/unblock/",
                    "rules": rules,
                },
            },
            "results": results,
        }],
    });
    if let Some(statistics) = statistics {
        sarif["runs"][0]["properties"] = json!({ "statistics": statistics });
    }
    let mut out = serde_json::to_string_pretty(&sarif).expect("sarif serialises");
    out.push('\n');
    out
}

/// SARIF wants URIs: forward slashes, relative paths kept relative.
fn uri(path: &str) -> String {
    let path = path.replace('\\', "/");
    path.strip_prefix("./").unwrap_or(&path).to_string()
}
