//! Configuration end to end: each `[tool.unblock]` key's effect on a run, each error message
//! (file, line, column, the key, and the line underlined), `--show-settings`, and the JSON
//! schema committed in the repository.

mod common;

use std::path::Path;

use common::{stderr, unblock};

fn write(dir: &Path, name: &str, content: &str) {
    let path = dir.join(name);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, content).unwrap();
}

fn stdout(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

const SLEEP: &str = "import time\n\nasync def f():\n    time.sleep(1)\n";
const SLEEP_AND_GET: &str =
    "import time, requests\n\nasync def f():\n    time.sleep(1)\n    requests.get('u')\n";

/// `path:line:col: recipe` of each finding of a concise run.
fn reported(dir: &Path, args: &[&str]) -> Vec<String> {
    let mut all = vec!["check", "--output-format", "concise"];
    all.extend(args);
    let out = unblock(&all, dir);
    assert!(matches!(out.status.code(), Some(0 | 1)), "{}", stderr(&out));
    let mut lines: Vec<String> = stdout(&out)
        .lines()
        .map(|l| {
            let mut words = l.split(' ');
            let place = words.next().unwrap_or("");
            let recipe = words.next().unwrap_or("");
            // A walk of `.` names files `./a.py`.
            format!("{} {recipe}", place.trim_start_matches("./"))
        })
        .collect();
    lines.sort();
    lines
}

#[test]
fn the_committed_json_schema_is_current() {
    let schema = unblocker::config::json_schema();
    let committed = Path::new(env!("CARGO_MANIFEST_DIR")).join("unblock.schema.json");
    if std::env::var_os("UNBLOCK_UPDATE_SCHEMA").is_some() {
        std::fs::write(&committed, &schema).unwrap();
    }
    let on_disk = std::fs::read_to_string(&committed).unwrap_or_default();
    assert!(
        on_disk == schema,
        "unblock.schema.json is stale: run `UNBLOCK_UPDATE_SCHEMA=1 cargo test --test config` and commit it"
    );
    // It describes every key the configuration accepts, and nothing else.
    let value: serde_json::Value = serde_json::from_str(&schema).unwrap();
    let mut properties: Vec<String> = value["properties"]
        .as_object()
        .unwrap()
        .keys()
        .cloned()
        .collect();
    properties.sort();
    assert_eq!(properties, unblocker::config::known_keys());
    assert_eq!(value["additionalProperties"], serde_json::json!(false));
}

#[test]
fn per_file_ignores_by_path_by_name_and_by_code() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "app/a.py", SLEEP_AND_GET);
    write(dir.path(), "tests/test_a.py", SLEEP_AND_GET);
    write(dir.path(), "other/__init__.py", SLEEP);
    write(
        dir.path(),
        "pyproject.toml",
        "[tool.unblock]\nper-file-ignores = { \"tests/**\" = [\"sleep\"], \"__init__.py\" = [\"ASYNC251\"], \"app/a.py\" = [\"asyncio210\", \"ASYNC210\"] }\n",
    );
    let err = unblock(&["check"], dir.path());
    assert_eq!(err.status.code(), Some(2));
    assert!(
        stderr(&err).contains("pyproject.toml:2:")
            && stderr(&err).contains("`per-file-ignores`: no recipe `asyncio210`"),
        "{}",
        stderr(&err)
    );
    write(
        dir.path(),
        "pyproject.toml",
        "[tool.unblock]\nper-file-ignores = { \"tests/**\" = [\"sleep\"], \"__init__.py\" = [\"ASYNC251\"], \"app/a.py\" = [\"ASYNC210\"] }\n",
    );
    assert_eq!(
        reported(dir.path(), &[]),
        vec![
            "app/a.py:4:5: sleep".to_string(),
            "tests/test_a.py:5:5: http-requests".to_string(),
        ]
    );
}

#[test]
fn extend_exclude_adds_to_exclude_and_force_exclude_applies_to_named_files() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "keep.py", SLEEP);
    write(dir.path(), "legacy/old.py", SLEEP);
    write(dir.path(), "gen/out.py", SLEEP);
    write(
        dir.path(),
        "pyproject.toml",
        "[tool.unblock]\nexclude = [\"legacy/\"]\nextend-exclude = [\"gen/\"]\n",
    );
    assert_eq!(reported(dir.path(), &[]), vec!["keep.py:4:5: sleep"]);
    // Named explicitly, an excluded file is checked (as in ruff) ...
    assert_eq!(
        reported(dir.path(), &["legacy/old.py"]),
        vec!["legacy/old.py:4:5: sleep"]
    );
    // ... unless force-exclude says otherwise (a pre-commit hook passes every staged file).
    write(
        dir.path(),
        "pyproject.toml",
        "[tool.unblock]\nexclude = [\"legacy/\"]\nextend-exclude = [\"gen/\"]\nforce-exclude = true\n",
    );
    assert!(reported(dir.path(), &["legacy/old.py", "gen/out.py"]).is_empty());
    assert_eq!(
        reported(dir.path(), &["keep.py", "gen/out.py"]),
        vec!["keep.py:4:5: sleep"]
    );
    // The same holds for a file given on stdin under an excluded name.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_unblock"))
        .args(["check", "-", "--stdin-filename", "legacy/new.py"])
        .current_dir(dir.path())
        .stdin(std::fs::File::open(dir.path().join("keep.py")).unwrap())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
}

#[test]
fn respect_gitignore_and_its_command_line_override() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "kept.py", SLEEP);
    write(dir.path(), "ignored/gen.py", SLEEP);
    write(dir.path(), ".gitignore", "ignored/\n");
    write(
        dir.path(),
        "pyproject.toml",
        "[tool.unblock]\nselect = []\n",
    );
    assert_eq!(reported(dir.path(), &[]), vec!["kept.py:4:5: sleep"]);
    assert_eq!(
        reported(dir.path(), &["--no-respect-gitignore"]),
        vec!["ignored/gen.py:4:5: sleep", "kept.py:4:5: sleep"]
    );
    write(
        dir.path(),
        "pyproject.toml",
        "[tool.unblock]\nrespect-gitignore = false\n",
    );
    assert_eq!(reported(dir.path(), &[]).len(), 2);
}

#[test]
fn stub_files_are_checked() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "api.pyi",
        "import time\n\nasync def f() -> None:\n    time.sleep(1)\n",
    );
    assert_eq!(reported(dir.path(), &[]), vec!["api.pyi:4:5: sleep"]);
}

#[test]
fn select_and_ignore_in_the_configuration_take_codes() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "a.py", SLEEP_AND_GET);
    write(
        dir.path(),
        "pyproject.toml",
        "[tool.unblock]\nselect = [\"ASYNC210\"]\n",
    );
    assert_eq!(reported(dir.path(), &[]), vec!["a.py:5:5: http-requests"]);
    write(
        dir.path(),
        "pyproject.toml",
        "[tool.unblock]\nignore = [\"async251\"]\n",
    );
    assert_eq!(reported(dir.path(), &[]), vec!["a.py:5:5: http-requests"]);
}

/// The error for `text` as a `pyproject.toml`: exit 2 and stderr.
fn config_error(text: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "a.py", SLEEP);
    write(dir.path(), "pyproject.toml", text);
    let out = unblock(&["check", "a.py"], dir.path());
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    stderr(&out)
}

#[test]
fn errors_name_the_file_line_column_and_key_and_show_the_line() {
    let wrong_type =
        config_error("[project]\nname = \"x\"\n\n[tool.unblock]\nselect = \"sleep\"\n");
    assert!(
        wrong_type.contains(
            "pyproject.toml:5:10: `select`: invalid type: string \"sleep\", expected a sequence"
        ),
        "{wrong_type}"
    );
    assert!(
        wrong_type.contains("5 | select = \"sleep\"\n  |          ^^^^^^^"),
        "{wrong_type}"
    );

    let unknown = config_error("[tool.unblock]\nselect = []\nselekt = [\"sleep\"]\n");
    assert!(
        unknown.contains("pyproject.toml:3:1: unknown key `selekt` in [tool.unblock] (known: ")
            && unknown.contains("3 | selekt = [\"sleep\"]\n  | ^^^^^^"),
        "{unknown}"
    );

    let unknown_id = config_error("[tool.unblock]\nignore = [\n  \"sleep\",\n  \"slep\",\n]\n");
    assert!(
        unknown_id.contains("pyproject.toml:4:3: `ignore`: no recipe `slep`")
            && unknown_id.contains("4 |   \"slep\",\n  |   ^^^^^^"),
        "{unknown_id}"
    );

    let version = config_error("[tool.unblock]\ntarget-version = \"3.8\"\n");
    assert!(
        version.contains("pyproject.toml:2:18: `target-version`: \"3.8\" is not one of")
            && version.contains("(write \"py38\")"),
        "{version}"
    );

    let syntax = config_error("[tool.unblock]\nselect = [\"sleep\"\n");
    assert!(syntax.contains("pyproject.toml:2:"), "{syntax}");
    assert!(syntax.contains("2 | select = [\"sleep\""), "{syntax}");

    let bool_type = config_error("[tool.unblock]\nforce-exclude = \"yes\"\n");
    assert!(
        bool_type.contains("pyproject.toml:2:17: `force-exclude`: invalid type: string \"yes\", expected a boolean"),
        "{bool_type}"
    );

    let glob = config_error("[tool.unblock]\nper-file-ignores = { \"a[.py\" = [\"sleep\"] }\n");
    assert!(
        glob.contains("pyproject.toml:2:22: `per-file-ignores`"),
        "{glob}"
    );

    let source_root = config_error("[tool.unblock]\nsrc = [\"nowhere\"]\n");
    assert!(
        source_root.contains("pyproject.toml:2:8: `src`: `nowhere` is not a folder"),
        "{source_root}"
    );
}

#[test]
fn unblock_toml_errors_are_located_too() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "a.py", SLEEP);
    write(dir.path(), "unblock.toml", "# ours\nignore = \"sleep\"\n");
    let out = unblock(&["check", "a.py"], dir.path());
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("unblock.toml:2:10: `ignore`: invalid type"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn show_settings_says_where_each_value_comes_from() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "pkg/a.py", SLEEP);
    write(
        dir.path(),
        "pyproject.toml",
        "[project]\nrequires-python = \">=3.9\"\n\n[tool.unblock]\nignore = [\"polling\"]\nper-file-ignores = { \"tests/**\" = [\"sleep\"] }\n",
    );
    let out = unblock(
        &["check", "--show-settings", "pkg/a.py", "--select", "sleep"],
        dir.path(),
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    let line = |key: &str| {
        text.lines()
            .find(|l| l.starts_with(&format!("{key} = ")))
            .unwrap_or_else(|| panic!("no {key} in {text}"))
            .to_string()
    };
    assert!(text.contains("# Settings for pkg/a.py"), "{text}");
    assert!(line("ignore").ends_with("pyproject.toml:5"), "{text}");
    assert!(
        line("ignore").starts_with("ignore = [\"polling\"]"),
        "{text}"
    );
    assert!(line("select").contains("command line (--select)"), "{text}");
    assert!(
        line("per-file-ignores").starts_with("per-file-ignores = { \"tests/**\" = [\"sleep\"] }"),
        "{text}"
    );
    assert!(
        line("target-version").starts_with("target-version = \"py39\"  # requires-python in"),
        "{text}"
    );
    assert_eq!(
        line("respect-gitignore"),
        "respect-gitignore = true  # default"
    );
    // The output is TOML a user can paste (the comments aside).
    let pasted: String = text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.contains("(not set)"))
        .map(|l| format!("{}\n", l.split("  # ").next().unwrap()))
        .collect();
    let parsed: toml::Table = pasted.parse().unwrap_or_else(|e| panic!("{e}\n{pasted}"));
    assert_eq!(parsed["select"], toml::Value::Array(vec!["sleep".into()]));
}

#[test]
fn a_broken_configuration_below_is_said_and_is_a_usage_error() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "pyproject.toml",
        "[tool.unblock]\nignore = []\n",
    );
    write(
        dir.path(),
        "svc/pyproject.toml",
        "[tool.unblock]\nignore = \"sleep\"\n",
    );
    write(dir.path(), "svc/a.py", SLEEP);
    write(dir.path(), "web/b.py", SLEEP);
    let out = unblock(&["check", "."], dir.path());
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(
        err.contains("svc/pyproject.toml:2:10: `ignore`: invalid type: string \"sleep\", expected a sequence (this configuration is not used"),
        "{err}"
    );
    // Nothing is written under it.
    let apply = unblock(&["apply", "."], dir.path());
    assert_eq!(apply.status.code(), Some(2));
    assert_eq!(
        std::fs::read_to_string(dir.path().join("web/b.py")).unwrap(),
        SLEEP
    );
}
