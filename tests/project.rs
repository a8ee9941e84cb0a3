//! The project model end to end: the paths given select what is reported, never what is
//! understood. `tests/fixtures/project` is a back end shaped like the real ones (see its
//! README); `unblock check` on every file alone, on every folder and on the root, from the root
//! and from inside `backend/`, must report the same findings for each file.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/project")
}

/// `(line, column, recipe, kind, chain names)` of a finding.
type Key = (u64, u64, String, String, Vec<String>);

/// The findings of `unblock check PATH` run in `cwd`, by absolute file.
fn findings(cwd: &Path, path: &str) -> BTreeMap<PathBuf, BTreeSet<Key>> {
    let out = Command::new(env!("CARGO_BIN_EXE_unblock"))
        .args(["check", "--output-format", "json", path])
        .current_dir(cwd)
        .output()
        .unwrap();
    assert!(
        matches!(out.status.code(), Some(0 | 1)),
        "unblock check {path} in {}: {}",
        cwd.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    let found: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
    let mut by_file: BTreeMap<PathBuf, BTreeSet<Key>> = BTreeMap::new();
    for f in found {
        let file = cwd
            .join(f["path"].as_str().unwrap())
            .canonicalize()
            .unwrap();
        let chain = f["chain"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|l| l["name"].as_str().unwrap().to_string())
            .collect();
        by_file.entry(file).or_default().insert((
            f["line"].as_u64().unwrap(),
            f["column"].as_u64().unwrap(),
            f["recipe"].as_str().unwrap().to_string(),
            f["kind"].as_str().unwrap().to_string(),
            chain,
        ));
    }
    by_file
}

/// Every Python file and every folder below `dir` (and `dir` itself).
fn targets(dir: &Path, out: &mut Vec<PathBuf>) {
    out.push(dir.to_path_buf());
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            targets(&path, out);
        } else if path.extension().is_some_and(|e| e == "py") {
            out.push(path);
        }
    }
}

/// `target` as a path relative to `cwd` (`../src/billing` from `backend/`).
fn relative(target: &Path, cwd: &Path) -> String {
    let mut up = PathBuf::new();
    let mut base = cwd.to_path_buf();
    loop {
        if let Ok(below) = target.strip_prefix(&base) {
            let path = up.join(below);
            return if path.as_os_str().is_empty() {
                ".".to_string()
            } else {
                path.display().to_string()
            };
        }
        up.push("..");
        base.pop();
    }
}

#[test]
fn a_file_its_folders_and_the_root_report_the_same_findings() {
    let root = fixture().canonicalize().unwrap();
    let whole = findings(&root, ".");

    // What the whole tree must find: each shape of the fixture, once.
    let routes = root.join("backend/app/routes.py");
    let lines: Vec<(u64, Vec<String>)> =
        whole[&routes].iter().map(|k| (k.0, k.4.clone())).collect();
    let chain = |names: &[&str]| names.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    assert_eq!(
        lines,
        vec![
            (16, chain(&["same_file", "pause", "time.sleep"])),
            (
                20,
                chain(&["two_away", "send_mail", "deliver", "requests.post"])
            ),
            (24, chain(&["namespace_folder", "locate", "time.sleep"])),
            (28, chain(&["relative", "save", "sqlite3.connect"])),
            (32, chain(&["src_layout", "charge", "requests.post"])),
            (
                40,
                chain(&["storage_path", "user_dir", "pathlib.Path.resolve"])
            ),
        ]
    );
    assert_eq!(whole.len(), 1, "findings outside routes.py: {whole:?}");

    let mut all = Vec::new();
    targets(&root, &mut all);
    for cwd in [root.clone(), root.join("backend")] {
        for target in &all {
            let given = relative(target, &cwd);
            let got = findings(&cwd, &given);
            for (file, expected) in &whole {
                if !file.starts_with(target) {
                    continue;
                }
                let empty = BTreeSet::new();
                assert_eq!(
                    got.get(file).unwrap_or(&empty),
                    expected,
                    "`unblock check {given}` run in {} reports other findings for {} than the \
                     whole tree",
                    cwd.display(),
                    file.display()
                );
            }
            for file in got.keys() {
                assert!(
                    file.starts_with(target),
                    "`unblock check {given}` reports {} outside the path given",
                    file.display()
                );
            }
        }
    }
}

/// A monorepo with a configuration per workspace: each file is checked with the nearest
/// configuration above it, whatever the order of the paths.
#[test]
fn each_file_gets_the_nearest_configuration_whatever_the_order_of_the_paths() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let write = |rel: &str, text: &str| {
        let path = root.join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    };
    let program = "import subprocess\nimport time\n\n\nasync def f():\n    time.sleep(1)\n    subprocess.run(['ls'])\n";
    write(
        "ws1/pyproject.toml",
        "[tool.unblock]\nignore = [\"sleep\"]\n",
    );
    write("ws1/app.py", program);
    write(
        "ws2/pyproject.toml",
        "[tool.unblock]\nignore = [\"subprocess\"]\n",
    );
    write("ws2/app.py", program);
    write("ws3/app.py", program);
    let recipes = |paths: &[&str]| -> BTreeSet<(String, String)> {
        let out = Command::new(env!("CARGO_BIN_EXE_unblock"))
            .args(["check", "--output-format", "json"])
            .args(paths)
            .current_dir(root)
            .output()
            .unwrap();
        let found: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
        found
            .iter()
            .map(|f| {
                (
                    f["path"].as_str().unwrap().to_string(),
                    f["recipe"].as_str().unwrap().to_string(),
                )
            })
            .collect()
    };
    let pair = |p: &str, r: &str| (p.to_string(), r.to_string());
    let expected: BTreeSet<(String, String)> = [
        pair("ws1/app.py", "subprocess"),
        pair("ws2/app.py", "sleep"),
        pair("ws3/app.py", "sleep"),
        pair("ws3/app.py", "subprocess"),
    ]
    .into_iter()
    .collect();
    assert_eq!(recipes(&["ws1", "ws2", "ws3"]), expected);
    assert_eq!(recipes(&["ws3", "ws2", "ws1"]), expected);
    assert_eq!(recipes(&["ws2", "ws1", "ws3"]), expected);
}

fn unblock_in(cwd: &Path, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_unblock"))
        .args(args)
        .current_dir(cwd)
        .output()
        .unwrap()
}

fn write_tree(root: &Path, files: &[(&str, &str)]) {
    for (rel, text) in files {
        let path = root.join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }
}

/// The layouts the model must survive: each reports what it can and says what it cannot.
#[test]
fn bad_layouts_are_followed_or_said() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    write_tree(
        root,
        &[
            ("pyproject.toml", "[project]\nname = \"x\"\n"),
            // An import cycle: a -> b -> a, the blocking call at the end of it.
            (
                "app/__init__.py",
                "",
            ),
            (
                "app/a.py",
                "import time\nfrom app import b\n\n\ndef start():\n    return b.middle()\n\n\ndef finish():\n    time.sleep(1)\n",
            ),
            (
                "app/b.py",
                "from app import a\n\n\ndef middle():\n    return a.finish()\n",
            ),
            // Two files claim the module `tool`.
            ("tool.py", "def run():\n    return 1\n"),
            ("tool/__init__.py", "def run():\n    return 2\n"),
            // A sys.path change.
            (
                "scripts/boot.py",
                "import sys\nsys.path.insert(0, '/opt/plugins')\n",
            ),
            (
                "app/routes.py",
                "from app.a import start\nfrom linked.helpers import nap\n\n\nasync def cycle():\n    start()\n\n\nasync def through_a_link():\n    nap()\n",
            ),
        ],
    );
    // A package that lives elsewhere, linked into the project.
    let elsewhere = tempfile::tempdir().unwrap();
    write_tree(
        elsewhere.path(),
        &[
            ("linked/__init__.py", ""),
            (
                "linked/helpers.py",
                "import time\n\n\ndef nap():\n    time.sleep(1)\n",
            ),
        ],
    );
    std::os::unix::fs::symlink(elsewhere.path().join("linked"), root.join("linked")).unwrap();

    let out = unblock_in(root, &["check", "app/routes.py"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stdout.contains("chain: cycle (app/routes.py:6) -> start (app/a.py:6) -> middle (app/b.py:5) -> finish (app/a.py:10) -> time.sleep"),
        "{stdout}"
    );
    assert!(
        stdout.contains("chain: through_a_link (app/routes.py:10) -> nap (linked/helpers.py:5)"),
        "{stdout}"
    );
    assert_eq!(
        stderr.matches("defines module `tool`").count(),
        1,
        "the clash is said once: {stderr}"
    );

    let out = unblock_in(root, &["check", "."]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("1 file changes sys.path (./scripts/boot.py)"),
        "{stdout}"
    );

    // A source root that does not exist is a usage error.
    std::fs::write(
        root.join("pyproject.toml"),
        "[tool.unblock]\nsrc = [\"backend\"]\n",
    )
    .unwrap();
    let out = unblock_in(root, &["check", "."]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("pyproject.toml:2:8: `src`: `backend` is not a folder"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // A file outside every project root is checked as a script of its own folder.
    let loose = tempfile::tempdir().unwrap();
    write_tree(
        loose.path(),
        &[(
            "job.py",
            "import time\n\n\ndef wait():\n    time.sleep(1)\n\n\nasync def main():\n    wait()\n",
        )],
    );
    let out = unblock_in(
        root,
        &["check", loose.path().join("job.py").to_str().unwrap()],
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("chain: main"), "{stdout}");
}

/// `unblock graph` of the back-end fixture, in every format: every chain of the fixture drawn
/// to its blocking call (reviewed snapshots).
#[test]
fn the_graph_of_the_fixture_in_every_format() {
    for format in ["json", "dot", "text"] {
        let out = unblock_in(&fixture(), &["graph", "--output-format", format, "."]);
        assert_eq!(out.status.code(), Some(0), "{out:?}");
        insta::with_settings!({snapshot_path => "../snapshots", prepend_module_to_snapshot => false, omit_expression => true}, {
            insta::assert_snapshot!(format!("project_graph__{format}"), String::from_utf8_lossy(&out.stdout));
        });
    }
}

/// Without a marker the working directory stands for the project, but not the home folder:
/// run from there, a scratch folder is a project of its own (its modules named from it), and
/// the rest of the home folder is neither listed nor warned about.
#[test]
fn the_home_folder_is_not_a_project() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path();
    let blocking_helper = "import time\n\n\ndef pause():\n    time.sleep(1)\n";
    write_tree(
        home,
        &[
            ("scratch/helpers.py", blocking_helper),
            (
                "scratch/app.py",
                "from helpers import pause\n\n\nasync def handler():\n    pause()\n",
            ),
            // Elsewhere in the home folder, two files claim the module `tool`.
            ("old/tool.py", "def run():\n    return 1\n"),
            ("old/tool/__init__.py", "def run():\n    return 2\n"),
        ],
    );
    let output = Command::new(env!("CARGO_BIN_EXE_unblock"))
        .args(["check", "scratch", "--output-format", "json"])
        .current_dir(home)
        .env("HOME", home)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!stderr.contains("tool"), "{stderr}");
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let findings = report.as_array().unwrap();
    assert_eq!(findings.len(), 1, "{report:#}");
    // `helpers` is found as the scratch folder's module, so the chain reaches the sleep.
    assert_eq!(findings[0]["kind"], "indirect", "{report:#}");
}
