//! Every recipe's examples in `codemods/<id>/examples/*.py`: the findings must be exactly the
//! lines marked `# expect: <recipe>` (and none on `# expect: none`), and the text report of each
//! example is a reviewed snapshot under `snapshots/`.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use unblocker::config::LoadedConfig;
use unblocker::engine::{Engine, Selection};
use unblocker::output::{render_json, render_text};

fn examples() -> Vec<PathBuf> {
    let mut files = Vec::new();
    for recipe in std::fs::read_dir("codemods").unwrap() {
        let dir = recipe.unwrap().path().join("examples");
        if let Ok(entries) = std::fs::read_dir(&dir) {
            files.extend(
                entries
                    .map(|e| e.unwrap().path())
                    .filter(|p| p.extension().is_some_and(|e| e == "py")),
            );
        }
    }
    files.sort();
    files
}

/// `(line, recipe)` pairs from `# expect: a, b` markers; `# expect: none` contributes nothing.
fn expected(source: &str) -> BTreeSet<(usize, String)> {
    let mut out = BTreeSet::new();
    for (i, line) in source.lines().enumerate() {
        let Some((_, marker)) = line.rsplit_once("# expect:") else {
            continue;
        };
        // Prose may follow the ids after ` -- `.
        let marker = marker.split(" -- ").next().unwrap_or("");
        for recipe in marker
            .split(',')
            .map(str::trim)
            .filter(|r| !r.is_empty() && *r != "none")
        {
            out.insert((i + 1, recipe.to_string()));
        }
    }
    out
}

fn snapshot_name(path: &Path) -> String {
    let recipe = path
        .parent()
        .and_then(Path::parent)
        .and_then(Path::file_name)
        .unwrap()
        .to_string_lossy();
    let stem = path.file_stem().unwrap().to_string_lossy();
    format!("example__{recipe}__{stem}")
}

#[test]
fn examples_report_exactly_their_expect_markers() {
    let files = examples();
    assert!(
        files.len() >= 9,
        "every recipe ships examples; found {}",
        files.len()
    );
    let engine = Engine::new(
        LoadedConfig::default(),
        Selection::default(),
        unblocker::recipes::builtin(),
    );
    let mut failures = Vec::new();
    for path in &files {
        let source = std::fs::read_to_string(path).unwrap();
        let report = engine.check(std::slice::from_ref(path));
        let found: BTreeSet<(usize, String)> = report
            .findings
            .iter()
            .map(|f| (f.start.line, f.recipe.to_string()))
            .collect();
        let want = expected(&source);
        for missing in want.difference(&found) {
            failures.push(format!(
                "{}:{} not reported: {}",
                path.display(),
                missing.0,
                missing.1
            ));
        }
        for extra in found.difference(&want) {
            failures.push(format!(
                "{}:{} reported but not marked: {}",
                path.display(),
                extra.0,
                extra.1
            ));
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

#[test]
fn example_reports_match_snapshots() {
    let engine = Engine::new(
        LoadedConfig::default(),
        Selection::default(),
        unblocker::recipes::builtin(),
    );
    for path in examples() {
        let report = engine.check(std::slice::from_ref(&path));
        let read = |p: &str| std::fs::read(p).ok();
        let text = anstream::adapter::strip_str(&render_text(&report, &read)).to_string();
        insta::with_settings!({snapshot_path => "../snapshots", prepend_module_to_snapshot => false, omit_expression => true}, {
            insta::assert_snapshot!(snapshot_name(&path), text);
        });
    }
}

#[test]
fn json_output_is_the_documented_shape() {
    let engine = Engine::new(
        LoadedConfig::default(),
        Selection::default(),
        unblocker::recipes::builtin(),
    );
    let path = PathBuf::from("codemods/sleep/examples/imports_and_contexts.py");
    let report = engine.check(std::slice::from_ref(&path));
    let json: serde_json::Value = serde_json::from_str(&render_json(&report.findings)).unwrap();
    let first = &json.as_array().expect("an array")[0];
    for key in [
        "path",
        "line",
        "column",
        "end_line",
        "end_column",
        "recipe",
        "kind",
        "message",
        "fix",
        "chain",
    ] {
        assert!(first.get(key).is_some(), "missing {key} in {first}");
    }
    assert_eq!(
        first["path"],
        "codemods/sleep/examples/imports_and_contexts.py"
    );
    assert_eq!(first["kind"], "direct");
    assert_eq!(first["fix"]["safety"], "safe");
    assert!(first["chain"].as_array().unwrap().is_empty());
}

#[test]
fn parsing_only_what_direct_findings_need_finds_the_same() {
    // The partial parse skips sync functions, sync classes and plain sync methods: on every
    // example the findings must be exactly those of a whole-file parse.
    let mut config = LoadedConfig::default();
    config.config.extend_blocking_calls = vec!["service.slow_helper".into()];
    let partial = Engine::new(
        config.clone(),
        Selection::default(),
        unblocker::recipes::builtin(),
    );
    let mut whole = Engine::new(config, Selection::default(), unblocker::recipes::builtin());
    whole.partial_parse = false;
    let key = |engine: &Engine| {
        let report = engine.check(&[
            PathBuf::from("codemods"),
            PathBuf::from("tests/fixtures/partial"),
        ]);
        report
            .findings
            .iter()
            .map(|f| {
                format!(
                    "{}:{}:{} {} {}",
                    f.path, f.start.line, f.start.column, f.recipe, f.message
                )
            })
            .collect::<Vec<_>>()
    };
    let (a, b) = (key(&partial), key(&whole));
    assert!(a.len() > 50);
    assert_eq!(a, b);
    // The fixture really is parsed in part, and its findings depend on the skipped names.
    let bytes = std::fs::read("tests/fixtures/partial/service.py").unwrap();
    let file = unblocker::engine::source::SourceFile::parse_for_check(
        "service.py".into(),
        bytes,
        "service".into(),
    )
    .unwrap();
    assert!(
        file.partial && file.skipped.len() >= 5,
        "{:?}",
        file.skipped
    );
    let fixture: Vec<_> = a
        .iter()
        .filter(|f| f.contains("fixtures/partial"))
        .collect();
    assert_eq!(fixture.len(), 4, "{fixture:#?}");
}

#[test]
fn example_fixes_match_snapshots() {
    // The diff `unblock apply` would make to each example, and what it leaves and why: every
    // recipe's rewrites (and refusals) are reviewed here.
    use unblocker::engine::fix::FixOptions;
    use unblocker::fixes::{render_diff, render_summary};
    let engine = Engine::new(
        LoadedConfig::default(),
        Selection::default(),
        unblocker::recipes::builtin(),
    );
    for path in examples() {
        let report = engine.check(std::slice::from_ref(&path));
        let module = path.file_stem().unwrap().to_string_lossy().to_string();
        let bytes = std::fs::read(&path).unwrap();
        let fixed = engine.fix_file(
            &path.display().to_string(),
            &module,
            bytes,
            &report.project,
            FixOptions {
                unsafe_fixes: true,
                ..FixOptions::default()
            },
        );
        let text = format!(
            "{}\n{}",
            render_diff(std::slice::from_ref(&fixed), false),
            render_summary(
                std::slice::from_ref(&fixed),
                "Applied (with --unsafe-fixes)"
            )
        );
        let name = snapshot_name(&path).replacen("example__", "example_fix__", 1);
        insta::with_settings!({snapshot_path => "../snapshots", prepend_module_to_snapshot => false, omit_expression => true}, {
            insta::assert_snapshot!(name, text);
        });
    }
}
