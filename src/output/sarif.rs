//! SARIF 2.1.0, for GitHub code scanning and other SARIF consumers.
//!
//! Every location is relative to the repository's root under the base id `%SRCROOT%`, as code
//! scanning resolves it against the checkout; `originalUriBaseIds` says where that root was
//! for other consumers. A file outside the root gets an absolute `file://` URI.

use percent_encoding::{utf8_percent_encode, AsciiSet, CONTROLS};
use serde_json::{json, Value};

use super::{RepositoryPaths, Statistics};
use crate::finding::Finding;
use crate::recipes;

/// The base id of every relative URI (the name GitHub code scanning documents).
const SOURCE_ROOT: &str = "%SRCROOT%";

/// What a path segment of a URI reference may not hold as it is (RFC 3986 `pchar` and `/`
/// allowed): controls, space, and the delimiters that would end or change the path.
const NOT_IN_PATH: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'%')
    .add(b'<')
    .add(b'>')
    .add(b'?')
    .add(b'[')
    .add(b'\\')
    .add(b']')
    .add(b'^')
    .add(b'`')
    .add(b'{')
    .add(b'|')
    .add(b'}');

/// A rule's `name`: an identifier that says what it finds, distinct for every recipe (the
/// `id` is the recipe's, which `--select` and suppression comments use).
pub fn rule_name(id: &str) -> String {
    match id {
        "sleep" => "BlockingSleepInCoroutine".into(),
        "to-thread" => "BlockingCallInCoroutine".into(),
        "file-io" => "BlockingFileIoInCoroutine".into(),
        "subprocess" => "BlockingSubprocessInCoroutine".into(),
        "http-requests" => "BlockingHttpRequestInCoroutine".into(),
        "thread-join" => "ThreadJoinedInCoroutine".into(),
        "polling" => "PollingLoopInCoroutine".into(),
        "executor" => "OutdatedExecutorCallInCoroutine".into(),
        "async-misuse" => "LoopMisuseInCoroutine".into(),
        "blocking-enter" => "BlockingLockEnteredInCoroutine".into(),
        // A recipe added later: its id in PascalCase until it gets a name of its own.
        other => other
            .split('-')
            .map(|word| {
                let mut chars = word.chars();
                chars.next().map_or(String::new(), |first| {
                    first.to_uppercase().chain(chars).collect()
                })
            })
            .collect(),
    }
}

/// The SARIF log of the findings; with `statistics` (`--statistics`), the counts also go in
/// the run's property bag, so the log stays valid and keeps its results for code scanning.
pub fn render_sarif(
    findings: &[Finding],
    paths: &RepositoryPaths,
    statistics: Option<&Statistics>,
) -> String {
    // No `helpUri` and no `informationUri`: the project has no public page to link to, and
    // `help` carries the recipe's whole page (what `unblock explain` prints).
    let rules: Vec<Value> = recipes::all()
        .iter()
        .map(|r| {
            json!({
                "id": r.id(),
                "name": rule_name(r.id()),
                "shortDescription": { "text": r.summary() },
                "fullDescription": { "text": r.summary() },
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
                            "artifactLocation": artifact(paths, &link.path),
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
                        "artifactLocation": artifact(paths, &f.path),
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
                    "rules": rules,
                },
            },
            "originalUriBaseIds": {
                SOURCE_ROOT: { "uri": file_uri(&paths.root.to_string_lossy(), true) },
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

/// A file relative to the repository's root under `%SRCROOT%`, else its absolute URI.
fn artifact(paths: &RepositoryPaths, path: &str) -> Value {
    match paths.relative(path) {
        Some(relative) => json!({
            "uri": utf8_percent_encode(&relative, NOT_IN_PATH).to_string(),
            "uriBaseId": SOURCE_ROOT,
        }),
        None => json!({
            "uri": file_uri(&paths.absolute(path).to_string_lossy(), false),
        }),
    }
}

/// `file:///abs/path` (with a trailing `/` for a folder, as a base URI needs).
fn file_uri(absolute: &str, folder: bool) -> String {
    let mut uri = format!("file://{}", utf8_percent_encode(absolute, NOT_IN_PATH));
    if folder && !uri.ends_with('/') {
        uri.push('/');
    }
    uri
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_rule_has_a_name_of_its_own() {
        let mut names: Vec<String> = recipes::all().iter().map(|r| rule_name(r.id())).collect();
        for (recipe, name) in recipes::all().iter().zip(&names) {
            assert_ne!(recipe.id(), name, "a name says more than the id");
        }
        names.sort();
        let count = names.len();
        names.dedup();
        assert_eq!(names.len(), count, "{names:?}");
    }

    #[test]
    fn uris_escape_what_would_end_or_change_the_path() {
        assert_eq!(
            utf8_percent_encode("app/a b#1%.py", NOT_IN_PATH).to_string(),
            "app/a%20b%231%25.py"
        );
        assert_eq!(
            utf8_percent_encode("app/café.py", NOT_IN_PATH).to_string(),
            "app/caf%C3%A9.py"
        );
        assert_eq!(file_uri("/work/repo", true), "file:///work/repo/");
    }
}
