//! Fixes on the trap fixtures in `tests/fixtures/fix/`: each file's diff and summary is a
//! reviewed snapshot, every result parses, untouched bytes stay identical, and fixing the
//! output again changes nothing.

use std::path::{Path, PathBuf};

use unblocker::config::LoadedConfig;
use unblocker::engine::fix::{FixOptions, FixedFile};
use unblocker::engine::source::SourceFile;
use unblocker::engine::{Engine, Selection};
use unblocker::fixes::{render_diff, render_summary};

fn fixtures() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir("tests/fixtures/fix")
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "py"))
        .collect();
    files.sort();
    files
}

fn engine_for(path: &Path) -> Engine {
    let mut engine = Engine::new(
        LoadedConfig::default(),
        Selection::default(),
        unblocker::recipes::builtin(),
    );
    if path.file_stem().is_some_and(|s| s == "py38") {
        engine.target_version = Some("py38".into());
    }
    engine
}

fn fix(engine: &Engine, path: &Path, bytes: Vec<u8>, options: FixOptions) -> FixedFile {
    let report = engine.check(&[path.to_path_buf()]);
    let module = path.file_stem().unwrap().to_string_lossy().to_string();
    engine.fix_file(
        &path.display().to_string(),
        &module,
        bytes,
        &report.project,
        options,
    )
}

#[test]
fn fixture_fixes_match_snapshots() {
    for path in fixtures() {
        let engine = engine_for(&path);
        let original = std::fs::read(&path).unwrap();
        let fixed = fix(&engine, &path, original.clone(), FixOptions::default());
        let text = format!(
            "{}\n{}",
            render_diff(std::slice::from_ref(&fixed), false),
            render_summary(std::slice::from_ref(&fixed), "Applied")
        );
        let name = format!("fix__{}", path.file_stem().unwrap().to_string_lossy());
        insta::with_settings!({snapshot_path => "../snapshots", prepend_module_to_snapshot => false, omit_expression => true}, {
            insta::assert_snapshot!(name, text);
        });
    }
}

#[test]
fn fixed_files_parse_and_a_second_fix_changes_nothing() {
    for path in fixtures() {
        let engine = engine_for(&path);
        let original = std::fs::read(&path).unwrap();
        for unsafe_fixes in [false, true] {
            let options = FixOptions {
                unsafe_fixes,
                ..FixOptions::default()
            };
            let first = fix(&engine, &path, original.clone(), options);
            let parsed = SourceFile::parse("x.py".into(), first.fixed.clone(), "x".into()).unwrap();
            assert!(
                !parsed.tree.root_node().has_error(),
                "{} does not parse after fixing",
                path.display()
            );
            cpython_compiles(&path, &first.fixed);
            // Fix the output again, as a file of its own.
            let dir = tempfile::tempdir().unwrap();
            let copy = dir.path().join(path.file_name().unwrap());
            std::fs::write(&copy, &first.fixed).unwrap();
            let second = fix(&engine, &copy, first.fixed.clone(), options);
            assert_eq!(
                String::from_utf8_lossy(&second.fixed),
                String::from_utf8_lossy(&first.fixed),
                "{}: a second run changed the output",
                path.display()
            );
        }
    }
}

#[test]
fn line_endings_and_bom_are_kept() {
    let engine = Engine::new(
        LoadedConfig::default(),
        Selection::default(),
        unblocker::recipes::builtin(),
    );
    let crlf = Path::new("tests/fixtures/fix/crlf.py");
    let fixed = fix(
        &engine,
        crlf,
        std::fs::read(crlf).unwrap(),
        FixOptions::default(),
    )
    .fixed;
    let text = String::from_utf8(fixed).unwrap();
    // `import time` loses its last use and goes; `import asyncio` takes its place, in CRLF.
    assert!(text.contains("\r\n\r\nimport asyncio\r\n\r\n"), "{text:?}");
    assert!(!text.contains("import time"), "{text:?}");
    assert_eq!(
        text.matches('\n').count(),
        text.matches("\r\n").count(),
        "a bare LF crept in: {text:?}"
    );
    assert!(text.contains("await asyncio.sleep(0.1)  # keep me\r\n"));

    let bom = Path::new("tests/fixtures/fix/bom.py");
    let fixed = fix(
        &engine,
        bom,
        std::fs::read(bom).unwrap(),
        FixOptions::default(),
    )
    .fixed;
    assert!(
        fixed.starts_with(b"\xEF\xBB\xBFimport asyncio\n\n"),
        "{:?}",
        String::from_utf8_lossy(&fixed)
    );
}

/// CPython is the judge: tree-sitter accepts things the compiler rejects (a `nonlocal` with no
/// binding, `return` with a value in an async generator).
fn cpython_compiles(path: &Path, source: &[u8]) {
    use std::io::Write;
    let mut child = std::process::Command::new("python3")
        .args([
            "-c",
            "import sys; compile(sys.stdin.buffer.read(), sys.argv[1], 'exec')",
            &path.display().to_string(),
        ])
        .stdin(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("python3 runs (the differential tests need it too)");
    child.stdin.take().unwrap().write_all(source).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{} does not compile after fixing:\n{}\n{}",
        path.display(),
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(source)
    );
}
