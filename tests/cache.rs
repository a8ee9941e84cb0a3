//! The summary cache (`.unblock_cache/`): a run that reuses it reports exactly what a run
//! without it reports, on every fixture and recipe example of the repository, after edits of
//! the files a result was derived from (the checked file, a module whose values it used, a
//! helper the call graph followed), with corrupt or foreign entries, and when several runs
//! write it at once.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        let kind = entry.file_type().unwrap();
        if kind.is_dir() {
            if entry.file_name() == ".unblock_cache" {
                continue;
            }
            copy_tree(&entry.path(), &target);
            // Its entries are all in: the folder, as a checkout's, is older than the run too.
            backdate(&target, 3600);
        } else if kind.is_file() {
            std::fs::copy(entry.path(), &target).unwrap();
            // As a checkout's files are: older than the run, so that their size and
            // modification time are trusted (a file changed within a second is always read).
            backdate(&target, 3600);
        }
    }
}

/// Sets a file's or folder's modification time `seconds` in the past.
fn backdate(path: &Path, seconds: u64) {
    let file = if path.is_dir() {
        std::fs::File::open(path).unwrap()
    } else {
        std::fs::File::options().write(true).open(path).unwrap()
    };
    file.set_modified(std::time::SystemTime::now() - std::time::Duration::from_secs(seconds))
        .unwrap();
}

/// `unblock check` in `cwd` on `path`, JSON output; the cache in `cache_dir` unless `None`.
fn check(cwd: &Path, path: &str, cache_dir: Option<&Path>) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_unblock"));
    command
        .args(["check", "--output-format", "json", path])
        .current_dir(cwd)
        .env_remove("UNBLOCK_CACHE_DIR")
        .env("UNBLOCK_TIMINGS", "1");
    match cache_dir {
        Some(dir) => command.env("UNBLOCK_CACHE_DIR", dir),
        None => command.arg("--no-cache"),
    };
    command.output().unwrap()
}

/// What a run reports: exit code, findings, and the diagnostics (stderr less the timings).
fn reported(out: &Output) -> (Option<i32>, String, Vec<String>) {
    let diagnostics = String::from_utf8_lossy(&out.stderr)
        .lines()
        .filter(|l| l.starts_with("unblock:"))
        .map(str::to_string)
        .collect();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        diagnostics,
    )
}

/// The cache's own account of a run (`UNBLOCK_TIMINGS`): files reused, files checked.
fn cache_counts(out: &Output) -> (usize, usize) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    let line = stderr
        .lines()
        .find(|l| l.starts_with("cache: "))
        .unwrap_or_else(|| panic!("no cache line in {stderr}"));
    let numbers: Vec<usize> = line
        .split(|c: char| !c.is_ascii_digit())
        .filter_map(|n| n.parse().ok())
        .collect();
    (numbers[0], numbers[1])
}

/// Whether a run replayed the last run's report (`UNBLOCK_TIMINGS`): nothing it looked at
/// changed.
fn replayed(out: &Output) -> bool {
    String::from_utf8_lossy(&out.stderr)
        .lines()
        .any(|l| l.starts_with("cache: the last run's report replayed"))
}

/// Appends a blank line to a file and sets its time an hour back, as its folder's is: the
/// folder's time is unchanged, and a run cannot replay the last report.
fn edit_in_place(path: &Path) {
    let mut bytes = std::fs::read(path).unwrap();
    bytes.push(b'\n');
    std::fs::write(path, bytes).unwrap();
    backdate(path, 3600);
}

/// Without the cache, with it cold, and with it warm: the same report each time.
fn assert_same_three_ways(cwd: &Path, path: &str, cache_dir: &Path) {
    let plain = reported(&check(cwd, path, None));
    let cold = check(cwd, path, Some(cache_dir));
    assert_eq!(
        plain,
        reported(&cold),
        "cold cache, {path} in {}",
        cwd.display()
    );
    let warm = check(cwd, path, Some(cache_dir));
    assert_eq!(
        plain,
        reported(&warm),
        "warm cache, {path} in {}",
        cwd.display()
    );
    assert!(
        replayed(&warm),
        "a warm run of an unchanged tree replays the report: {path} in {}\n{}",
        cwd.display(),
        String::from_utf8_lossy(&warm.stderr)
    );
}

/// Every `.py` file below `dir`, sorted.
fn python_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            python_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "py") {
            out.push(path);
        }
    }
    out.sort();
}

/// Every other Python file of the tree edited (a comment line appended): some checked files,
/// call-graph summaries and module values are made again, the rest reused, and the report is
/// still the one without the cache.
fn assert_same_after_editing_half(cwd: &Path, cache_dir: &Path) {
    let mut files = Vec::new();
    python_files(cwd, &mut files);
    for file in files.iter().step_by(2) {
        let mut bytes = std::fs::read(file).unwrap();
        bytes.extend_from_slice(b"\n# edited\n");
        std::fs::write(file, bytes).unwrap();
    }
    let plain = reported(&check(cwd, ".", None));
    let cached = check(cwd, ".", Some(cache_dir));
    assert_eq!(plain, reported(&cached), "after edits in {}", cwd.display());
}

#[test]
fn findings_with_and_without_the_cache_are_identical_on_every_fixture_and_example() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let work = tempfile::tempdir().unwrap();
    let mut trees = 0;
    for top in ["tests/fixtures", "codemods"] {
        let copy = work.path().join(top.replace('/', "_"));
        copy_tree(&root.join(top), &copy);
        backdate(&copy, 3600);
        let cache_dir = work.path().join(format!("cache-{}", top.replace('/', "_")));
        // The whole tree, then each folder one and two levels down on its own (a fixture is
        // usually checked as its own project).
        let mut targets = vec![PathBuf::from(".")];
        for first in std::fs::read_dir(&copy).unwrap() {
            let first = first.unwrap().path();
            if !first.is_dir() {
                continue;
            }
            targets.push(first.strip_prefix(&copy).unwrap().to_path_buf());
            for second in std::fs::read_dir(&first).unwrap() {
                let second = second.unwrap().path();
                if second.is_dir() {
                    targets.push(second.strip_prefix(&copy).unwrap().to_path_buf());
                }
            }
        }
        for target in targets {
            assert_same_three_ways(&copy, target.to_str().unwrap(), &cache_dir);
            trees += 1;
        }
        assert_same_after_editing_half(&copy, &cache_dir);
    }
    assert!(trees > 40, "only {trees} trees checked");
}

/// A small project whose results depend on other files in each way the engine reads them.
fn write_project(dir: &Path) {
    let files: &[(&str, &str)] = &[
        ("pyproject.toml", "[project]\nname = \"shop\"\n"),
        ("shop/__init__.py", ""),
        (
            "shop/clients.py",
            "import requests\n\nsession = requests.Session()\n",
        ),
        (
            "shop/helpers.py",
            "import time\n\n\ndef pause():\n    time.sleep(1)\n",
        ),
        (
            "shop/api.py",
            "from shop.clients import session\nfrom shop.helpers import pause\n\n\nasync def fetch(url):\n    session.get(url)\n    pause()\n",
        ),
        ("shop/other.py", "async def idle():\n    return 1\n"),
    ];
    write_files(dir, files);
}

/// Writes each `(path below dir, text)`, making the folders.
fn write_files(dir: &Path, files: &[(&str, &str)]) {
    for (name, text) in files {
        let path = dir.join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }
}

fn recipes_and_kinds(out: &Output) -> Vec<(String, String)> {
    let found: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
    let mut out: Vec<(String, String)> = found
        .iter()
        .map(|f| {
            (
                f["recipe"].as_str().unwrap().to_string(),
                f["kind"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    out.sort();
    out
}

#[test]
fn an_edit_of_a_file_a_result_was_derived_from_is_seen() {
    let work = tempfile::tempdir().unwrap();
    let project = work.path().join("shop");
    write_project(&project);
    let cache_dir = work.path().join("cache");
    let first = check(&project, ".", Some(&cache_dir));
    assert_eq!(reported(&first), reported(&check(&project, ".", None)));
    assert_eq!(
        recipes_and_kinds(&first),
        vec![
            ("http-requests".to_string(), "direct".to_string()),
            ("to-thread".to_string(), "indirect".to_string()),
        ],
        "{}",
        String::from_utf8_lossy(&first.stdout)
    );

    // An edit of that module that changes none of its values: nothing that used them is
    // checked again.
    let mut clients = std::fs::read(project.join("shop/clients.py")).unwrap();
    clients.extend_from_slice(b"# a comment\n\n\ndef unrelated():\n    return 1\n");
    std::fs::write(project.join("shop/clients.py"), clients).unwrap();
    let after_comment = check(&project, ".", Some(&cache_dir));
    assert_eq!(reported(&after_comment), reported(&first));
    assert_eq!(cache_counts(&after_comment), (2, 0));

    // The module whose value `session` is: api.py holds no blocking call of its own now.
    std::fs::write(
        project.join("shop/clients.py"),
        "import httpx\n\nsession = httpx.AsyncClient()\n",
    )
    .unwrap();
    let after_values = check(&project, ".", Some(&cache_dir));
    assert_eq!(
        reported(&after_values),
        reported(&check(&project, ".", None))
    );
    assert_eq!(
        recipes_and_kinds(&after_values),
        vec![("to-thread".to_string(), "indirect".to_string())]
    );
    // api.py was checked again, other.py was not.
    assert_eq!(cache_counts(&after_values), (1, 1));

    // The helper the call graph followed: it no longer blocks.
    std::fs::write(
        project.join("shop/helpers.py"),
        "def pause():\n    return None\n",
    )
    .unwrap();
    let after_helper = check(&project, ".", Some(&cache_dir));
    assert_eq!(
        reported(&after_helper),
        reported(&check(&project, ".", None))
    );
    assert_eq!(recipes_and_kinds(&after_helper), vec![]);

    // The checked file itself.
    std::fs::write(
        project.join("shop/other.py"),
        "import time\n\n\nasync def idle():\n    time.sleep(1)\n",
    )
    .unwrap();
    let after_own = check(&project, ".", Some(&cache_dir));
    assert_eq!(reported(&after_own), reported(&check(&project, ".", None)));
    assert_eq!(
        recipes_and_kinds(&after_own),
        vec![("sleep".to_string(), "direct".to_string())]
    );
    assert_eq!(cache_counts(&after_own), (1, 1));
}

/// Every entry file under the cache folder.
fn entries(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            entries(&path, out);
        } else {
            out.push(path);
        }
    }
}

#[test]
fn corrupt_or_foreign_entries_are_ignored_and_rewritten() {
    let work = tempfile::tempdir().unwrap();
    let project = work.path().join("shop");
    write_project(&project);
    let cache_dir = work.path().join("cache");
    let expected = reported(&check(&project, ".", None));
    check(&project, ".", Some(&cache_dir));
    let mut files = Vec::new();
    entries(&cache_dir.join("v1"), &mut files);
    let checks: Vec<&PathBuf> = files
        .iter()
        .filter(|f| f.parent().unwrap().ends_with("check"))
        .collect();
    assert_eq!(checks.len(), 2, "{files:?}");

    // Each entry of a checked file swapped with the other's: well-formed, but foreign.
    let a = std::fs::read(checks[0]).unwrap();
    let b = std::fs::read(checks[1]).unwrap();
    std::fs::write(checks[0], &b).unwrap();
    std::fs::write(checks[1], &a).unwrap();
    let swapped = check(&project, ".", Some(&cache_dir));
    assert_eq!(reported(&swapped), expected);
    assert_eq!(cache_counts(&swapped), (0, 2));
    assert_eq!(std::fs::read(checks[0]).unwrap(), a, "rewritten");

    // Every entry truncated, flipped or emptied.
    for (i, file) in files.iter().enumerate() {
        let mut bytes = std::fs::read(file).unwrap();
        match i % 3 {
            0 => bytes.truncate(bytes.len() / 2),
            1 => {
                let last = bytes.len() - 1;
                bytes[last] ^= 0x55;
            }
            _ => bytes.clear(),
        }
        std::fs::write(file, bytes).unwrap();
    }
    let corrupt = check(&project, ".", Some(&cache_dir));
    assert_eq!(reported(&corrupt), expected);
    assert_eq!(cache_counts(&corrupt), (0, 2));
    let healed = check(&project, ".", Some(&cache_dir));
    assert_eq!(reported(&healed), expected);
    assert_eq!(cache_counts(&healed), (2, 0));
}

#[test]
fn runs_at_once_on_one_tree_leave_a_cache_that_still_agrees() {
    let work = tempfile::tempdir().unwrap();
    let project = work.path().join("shop");
    write_project(&project);
    let expected = reported(&check(&project, ".", None));
    // The default place: `.unblock_cache` at the project root, ignored by git.
    let runs: Vec<std::process::Child> = (0..6)
        .map(|_| {
            Command::new(env!("CARGO_BIN_EXE_unblock"))
                .args(["check", "--output-format", "json", "."])
                .current_dir(&project)
                .env_remove("UNBLOCK_CACHE_DIR")
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for run in runs {
        let out = run.wait_with_output().unwrap();
        assert_eq!(reported(&out), expected);
    }
    let cache_dir = project.join(".unblock_cache");
    assert_eq!(
        std::fs::read_to_string(cache_dir.join(".gitignore"))
            .unwrap()
            .lines()
            .last(),
        Some("*")
    );
    let warm = Command::new(env!("CARGO_BIN_EXE_unblock"))
        .args(["check", "--output-format", "json", "."])
        .current_dir(&project)
        .env_remove("UNBLOCK_CACHE_DIR")
        .env("UNBLOCK_TIMINGS", "1")
        .output()
        .unwrap();
    assert_eq!(reported(&warm), expected);
    assert_eq!(cache_counts(&warm), (2, 0));
    // No temporary file left behind.
    let mut files = Vec::new();
    entries(&cache_dir, &mut files);
    assert!(
        files
            .iter()
            .all(|f| !f.file_name().unwrap().to_string_lossy().starts_with(".tmp")),
        "{files:?}"
    );
}

#[test]
fn no_cache_writes_nothing_and_cache_dir_is_configurable() {
    let work = tempfile::tempdir().unwrap();
    let project = work.path().join("shop");
    write_project(&project);
    check(&project, ".", None);
    assert!(!project.join(".unblock_cache").exists());
    std::fs::write(
        project.join("pyproject.toml"),
        "[project]\nname = \"shop\"\n\n[tool.unblock]\ncache-dir = \"build/unblock-cache\"\n",
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_unblock"))
        .args(["check", "--output-format", "json", "."])
        .current_dir(&project)
        .env_remove("UNBLOCK_CACHE_DIR")
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(project.join("build/unblock-cache/v1/check").is_dir());
    assert!(!project.join(".unblock_cache").exists());
}

#[test]
fn a_file_without_coroutine_is_not_read_again_until_its_size_or_time_changes() {
    let work = tempfile::tempdir().unwrap();
    let project = work.path().join("tool");
    std::fs::create_dir_all(project.join("tool")).unwrap();
    std::fs::write(
        project.join("pyproject.toml"),
        "[project]\nname = \"tool\"\n",
    )
    .unwrap();
    std::fs::write(project.join("tool/__init__.py"), "").unwrap();
    // Same length as the coroutine written over it below.
    let quiet = "import time\n\n\ndef pauses():\n    time.sleep(1)\n";
    let loud = "import time\n\nasync def p():\n    time.sleep(1)\n";
    assert_eq!(quiet.len(), loud.len());
    std::fs::write(project.join("tool/slow.py"), quiet).unwrap();
    // Changes `sys.path`: the walk reports it whether it reads the file or remembers it.
    std::fs::write(
        project.join("tool/paths.py"),
        "import sys\n\nsys.path.insert(0, \"vendor\")\n",
    )
    .unwrap();
    for file in [
        "pyproject.toml",
        "tool/__init__.py",
        "tool/slow.py",
        "tool/paths.py",
    ] {
        backdate(&project.join(file), 3600);
    }
    let cache_dir = work.path().join("cache");
    let plain = reported(&check(&project, ".", None));
    assert_eq!(plain, reported(&check(&project, ".", Some(&cache_dir))));
    assert!(
        std::fs::metadata(cache_dir.join("v1/quiet")).is_ok(),
        "the files without a coroutine were remembered"
    );
    assert_eq!(plain, reported(&check(&project, ".", Some(&cache_dir))));

    // Same size, another (old) modification time: read again, and its coroutine found.
    std::fs::write(project.join("tool/slow.py"), loud).unwrap();
    backdate(&project.join("tool/slow.py"), 1800);
    let plain = reported(&check(&project, ".", None));
    assert!(plain.1.contains("time.sleep"), "{}", plain.1);
    assert_eq!(plain, reported(&check(&project, ".", Some(&cache_dir))));
}

#[test]
fn a_file_checked_again_is_judged_by_cpython_as_without_the_cache() {
    let work = tempfile::tempdir().unwrap();
    let project = work.path().join("app");
    std::fs::create_dir_all(&project).unwrap();
    std::fs::write(
        project.join("pyproject.toml"),
        "[project]\nname = \"app\"\n",
    )
    .unwrap();
    std::fs::write(
        project.join("jobs.py"),
        "import time\n\n\nasync def job(x):\n    time.sleep(1)\n",
    )
    .unwrap();
    let cache_dir = work.path().join("cache");
    let first = check(&project, ".", Some(&cache_dir));
    assert_eq!(reported(&first), reported(&check(&project, ".", None)));
    // Checked again, and judged while the run goes on: tree-sitter takes `await await`,
    // CPython does not.
    std::fs::write(
        project.join("jobs.py"),
        "import time\n\n\nasync def job(x):\n    time.sleep(1)\n    await await x\n",
    )
    .unwrap();
    let plain = reported(&check(&project, ".", None));
    let cached = check(&project, ".", Some(&cache_dir));
    assert_eq!(plain, reported(&cached));
    assert_eq!(cache_counts(&cached), (0, 1));
    assert!(
        plain.2.iter().any(|d| d.contains("syntax error")),
        "{:?}",
        plain.2
    );
    // And remembered: a warm run says the same without asking again.
    assert_eq!(plain, reported(&check(&project, ".", Some(&cache_dir))));
}

/// How many sources the run sent CPython (`UNBLOCK_TIMINGS`' judge line; 0 without one).
fn sources_judged(out: &Output) -> usize {
    let stderr = String::from_utf8_lossy(&out.stderr);
    stderr
        .lines()
        .find_map(|l| l.split("judge: ").nth(1)?.split(' ').next()?.parse().ok())
        .unwrap_or(0)
}

#[test]
fn only_files_that_keep_a_finding_are_judged_by_cpython() {
    let work = tempfile::tempdir().unwrap();
    let project = work.path().join("app");
    write_files(
        &project,
        &[
            ("pyproject.toml", "[project]\nname = \"app\"\n"),
            (
                "jobs.py",
                "import time\n\n\nasync def job():\n    time.sleep(1)\n",
            ),
            // A candidate only, which the call graph drops: `tidy` blocks nowhere.
            (
                "calm.py",
                "def tidy():\n    return 1\n\n\nasync def handler():\n    tidy()\n",
            ),
        ],
    );
    let cache_dir = work.path().join("cache");
    let out = check(&project, ".", Some(&cache_dir));
    assert_eq!(reported(&out), reported(&check(&project, ".", None)));
    // jobs.py only: calm.py held a candidate, which the graph dropped (two before).
    assert_eq!(
        sources_judged(&out),
        1,
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Whether the run handed a source to CPython while it still checked (`UNBLOCK_TIMINGS`' judge
/// line: "first handed ahead at -" when it did not).
fn judged_ahead(out: &Output) -> bool {
    let stderr = String::from_utf8_lossy(&out.stderr);
    let ahead = stderr
        .lines()
        .find_map(|l| l.split("first handed ahead at ").nth(1)?.split(',').next());
    ahead.is_some_and(|at| at != "-")
}

#[test]
fn a_changed_helper_whose_findings_came_from_the_call_graph_is_judged_while_it_is_checked() {
    let work = tempfile::tempdir().unwrap();
    let project = work.path().join("app");
    // Only candidates in its entry (`slow()` is kept by the call graph), yet it had findings.
    let helper =
        "import time\n\n\ndef slow():\n    time.sleep(1)\n\n\nasync def handler():\n    slow()\n";
    write_files(
        &project,
        &[
            ("pyproject.toml", "[project]\nname = \"app\"\n"),
            ("helpers.py", helper),
        ],
    );
    let cache_dir = work.path().join("cache");
    let first = check(&project, ".", Some(&cache_dir));
    assert!(!judged_ahead(&first), "nothing was known to have findings");
    std::fs::write(project.join("helpers.py"), format!("{helper}# edited\n")).unwrap();
    let edited = check(&project, ".", Some(&cache_dir));
    assert_eq!(reported(&edited), reported(&check(&project, ".", None)));
    assert!(
        edited.stdout.windows(10).any(|w| w == b"helpers.py"),
        "{}",
        String::from_utf8_lossy(&edited.stdout)
    );
    assert!(
        judged_ahead(&edited),
        "{}",
        String::from_utf8_lossy(&edited.stderr)
    );
}

/// `unblock check .` in `project` with the cache in `cache_dir`, `shims` first on PATH and no
/// `UNBLOCK_PYTHON`: the judge's candidate `python3` is the shim found there.
fn check_through(shims: &Path, project: &Path, cache_dir: &Path) -> Output {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let mut dirs = vec![shims.to_path_buf()];
    dirs.extend(std::env::split_paths(&path));
    Command::new(env!("CARGO_BIN_EXE_unblock"))
        .args(["check", "--output-format", "json", "."])
        .current_dir(project)
        .env_remove("UNBLOCK_PYTHON")
        .env("PATH", std::env::join_paths(dirs).unwrap())
        .env("UNBLOCK_CACHE_DIR", cache_dir)
        .output()
        .unwrap()
}

fn lines_in(log: &Path) -> usize {
    std::fs::read_to_string(log).map_or(0, |text| text.lines().count())
}

#[test]
fn a_launcher_is_asked_which_interpreter_it_runs_until_what_decides_it_changes() {
    use std::os::unix::fs::{symlink, PermissionsExt};
    let work = tempfile::tempdir().unwrap();
    let work = work.path();
    let real = Command::new("python3")
        .args(["-I", "-S", "-c", "import sys; print(sys.executable)"])
        .output()
        .unwrap();
    let real = PathBuf::from(String::from_utf8(real.stdout).unwrap().trim());
    assert!(
        real.is_file(),
        "the tests need a Python 3: {}",
        real.display()
    );
    // Two installs (links to the real interpreter), and a shim that runs the one named in
    // `choice` (as pyenv's shim runs the version a version file names), noting each start.
    for install in ["a", "b"] {
        std::fs::create_dir_all(work.join(install)).unwrap();
        symlink(&real, work.join(install).join("python3")).unwrap();
    }
    std::fs::write(work.join("choice"), "a").unwrap();
    let shims = work.join("shims");
    std::fs::create_dir_all(&shims).unwrap();
    let shim = shims.join("python3");
    let log = work.join("shim.log");
    std::fs::write(
        &shim,
        format!(
            "#!/bin/sh\necho started >> '{log}'\nexec '{work}'/\"$(cat '{work}/choice')\"/python3 \"$@\"\n",
            log = log.display(),
            work = work.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&shim, std::fs::Permissions::from_mode(0o755)).unwrap();

    let project = work.join("app");
    std::fs::create_dir_all(&project).unwrap();
    std::fs::write(
        project.join("pyproject.toml"),
        "[project]\nname = \"app\"\n",
    )
    .unwrap();
    let cache_dir = work.join("cache");
    // Each version of the file has a finding, and is judged again (a CPython-only syntax
    // error in every other one: the diagnostic shows that an interpreter judged it).
    let mut version = 0;
    let mut edit_and_check = |expected_starts: usize, why: &str| {
        version += 1;
        let broken = if version % 2 == 0 {
            "    await await x\n"
        } else {
            ""
        };
        std::fs::write(
            project.join("jobs.py"),
            format!("import time\n\n\nasync def job(x):\n    time.sleep({version})\n{broken}"),
        )
        .unwrap();
        let plain = reported(&check(&project, ".", None));
        let cached = reported(&check_through(&shims, &project, &cache_dir));
        assert_eq!(plain, cached, "version {version}: {why}");
        assert_eq!(
            plain.2.iter().any(|d| d.contains("syntax error")),
            !broken.is_empty(),
            "{:?}",
            plain.2
        );
        assert_eq!(lines_in(&log), expected_starts, "version {version}: {why}");
    };
    edit_and_check(1, "the first run starts the shim");
    edit_and_check(1, "the interpreter it ran is started directly");
    edit_and_check(1, "again");
    std::fs::write(project.join(".python-version"), "b\n").unwrap();
    edit_and_check(2, "a version file appeared: the shim is asked again");
    edit_and_check(2, "and remembered again");
    // The remembered interpreter is removed (and the shim now runs the other one).
    std::fs::remove_file(work.join("a/python3")).unwrap();
    std::fs::write(work.join("choice"), "b").unwrap();
    edit_and_check(3, "the remembered interpreter is gone: the shim is asked");
    // Another file at the remembered path: never run in its place.
    let wrong_log = work.join("wrong.log");
    std::fs::remove_file(work.join("b/python3")).unwrap();
    std::fs::write(
        work.join("b/python3"),
        format!(
            "#!/bin/sh\necho started >> '{}'\nexec '{}' \"$@\"\n",
            wrong_log.display(),
            real.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(
        work.join("b/python3"),
        std::fs::Permissions::from_mode(0o755),
    )
    .unwrap();
    symlink(&real, work.join("a/python3")).unwrap();
    std::fs::write(work.join("choice"), "a").unwrap();
    edit_and_check(
        4,
        "the remembered path holds another file: the shim is asked",
    );
    assert_eq!(
        lines_in(&wrong_log),
        0,
        "the file now at the remembered path"
    );
    edit_and_check(4, "and the new answer remembered");
}

/// Sets the modification time of every file and folder below `dir` (and `dir`) an hour back.
fn backdate_all(dir: &Path) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            backdate_all(&path);
        } else {
            backdate(&path, 3600);
        }
    }
    let folder = std::fs::File::open(dir).unwrap();
    folder
        .set_modified(std::time::SystemTime::now() - std::time::Duration::from_secs(3600))
        .unwrap();
}

/// How many project listings a run took from the cache (`UNBLOCK_TIMINGS`).
fn listings_reused(out: &Output) -> usize {
    let stderr = String::from_utf8_lossy(&out.stderr);
    let line = stderr.lines().find(|l| l.starts_with("cache: ")).unwrap();
    let before = line.split(" project listings reused").next().unwrap();
    before.rsplit(' ').next().unwrap().parse().unwrap()
}

#[test]
fn a_project_listing_is_reused_until_a_folder_or_an_ignore_file_changes() {
    let work = tempfile::tempdir().unwrap();
    let project = work.path().join("app");
    std::fs::create_dir_all(project.join("shop/sub")).unwrap();
    std::fs::write(
        project.join("pyproject.toml"),
        "[project]\nname = \"app\"\n",
    )
    .unwrap();
    std::fs::write(project.join("shop/__init__.py"), "").unwrap();
    std::fs::write(project.join("shop/sub/__init__.py"), "").unwrap();
    std::fs::write(project.join("shop/.gitignore"), "# nothing yet\n").unwrap();
    std::fs::write(
        project.join("shop/main.py"),
        "from shop.sub.util import wait\n\n\nasync def handler():\n    wait()\n",
    )
    .unwrap();
    let cache_dir = work.path().join("cache");
    let same = |why: &str| -> Output {
        let plain = reported(&check(&project, ".", None));
        let cached = check(&project, ".", Some(&cache_dir));
        assert_eq!(plain, reported(&cached), "{why}");
        cached
    };
    backdate_all(&project);
    same("cold");
    assert!(replayed(&same("warm")), "an unchanged tree");
    edit_in_place(&project.join("shop/main.py"));
    assert_eq!(
        listings_reused(&same("a file edited")),
        1,
        "no folder changed"
    );

    // A module appears in a folder: the listing is made again, and the call into it followed.
    let util = "import time\n\n\ndef wait():\n    time.sleep(1)\n";
    std::fs::write(project.join("shop/sub/util.py"), util).unwrap();
    let out = same("a module added");
    assert_eq!(listings_reused(&out), 0, "a module added");
    assert!(String::from_utf8_lossy(&out.stdout).contains("time.sleep"));
    backdate_all(&project);
    same("backdated");
    edit_in_place(&project.join("shop/main.py"));
    assert_eq!(listings_reused(&same("settled again")), 1);

    // The ignore file's content changes, its folder's time does not.
    let folder_time = std::fs::metadata(project.join("shop"))
        .unwrap()
        .modified()
        .unwrap();
    std::fs::write(project.join("shop/.gitignore"), "sub/util.py\n").unwrap();
    backdate(&project.join("shop/.gitignore"), 1800);
    assert_eq!(
        std::fs::metadata(project.join("shop"))
            .unwrap()
            .modified()
            .unwrap(),
        folder_time
    );
    let out = same("the ignore file changed");
    assert_eq!(listings_reused(&out), 0);
    assert!(
        !String::from_utf8_lossy(&out.stdout).contains("time.sleep"),
        "the ignored module is not followed"
    );
    backdate_all(&project);
    same("backdated");
    edit_in_place(&project.join("shop/main.py"));
    assert_eq!(listings_reused(&same("settled again")), 1);

    // A folder becomes a project of its own (a marker in it): only its time says so.
    std::fs::write(project.join("shop/.gitignore"), "").unwrap();
    std::fs::remove_file(project.join("shop/sub/__init__.py")).unwrap();
    std::fs::write(project.join("shop/sub/setup.py"), "").unwrap();
    let out = same("a nested project");
    assert!(
        !String::from_utf8_lossy(&out.stdout).contains("time.sleep"),
        "a nested project's module is not this project's"
    );
    backdate_all(&project);
    same("backdated");
    edit_in_place(&project.join("shop/main.py"));
    assert_eq!(listings_reused(&same("settled again")), 1);
}

#[test]
fn an_unchanged_tree_replays_its_report_until_anything_it_looked_at_changes() {
    let work = tempfile::tempdir().unwrap();
    let project = work.path().join("shop");
    write_project(&project);
    let cache_dir = work.path().join("cache");
    // Each step: the same report as without the cache; whether it was replayed.
    let same = |path: &str, why: &str| -> bool {
        let plain = reported(&check(&project, path, None));
        let cached = check(&project, path, Some(&cache_dir));
        assert_eq!(plain, reported(&cached), "{why}");
        replayed(&cached)
    };
    let settle = || backdate_all(&project);

    settle();
    assert!(!same(".", "cold"));
    assert!(same(".", "unchanged"), "an unchanged tree");
    assert!(same(".", "unchanged, again"));
    // Each path given has its own report.
    assert!(!same("shop/api.py", "one file, cold"));
    assert!(same("shop/api.py", "one file, unchanged"));
    assert!(same(".", "the tree's report is still there"));

    // A file the call graph read for the one file checked, outside it.
    edit_in_place(&project.join("shop/helpers.py"));
    assert!(!same("shop/api.py", "a helper edited"));
    assert!(same("shop/api.py", "settled"));

    // A change within a second of a run is not trusted to show: that run is not replayed.
    std::fs::write(
        project.join("shop/helpers.py"),
        "def pause():\n    return None\n",
    )
    .unwrap();
    assert!(!same(".", "a helper just written"));
    assert!(!same(".", "still within the second"));
    settle();
    assert!(!same(".", "settled"));
    assert!(same(".", "replayed again"));

    // A module added to a package: its folder's time changes.
    std::fs::write(
        project.join("shop/jobs.py"),
        "import time\n\n\nasync def run():\n    time.sleep(1)\n",
    )
    .unwrap();
    settle();
    assert!(!same(".", "a module added"));
    assert!(same(".", "settled"));

    // A configuration edited in place (its folder's time unchanged), then removed.
    std::fs::write(
        project.join("pyproject.toml"),
        "[project]\nname = \"shop\"\n\n[tool.unblock]\nignore = [\"sleep\"]\n",
    )
    .unwrap();
    backdate(&project.join("pyproject.toml"), 3600);
    assert!(!same(".", "a configuration edited"));
    assert!(same(".", "settled"));

    // A configuration in a folder below, then an ignore file edited in place.
    std::fs::write(
        project.join("shop/unblock.toml"),
        "ignore = [\"http-requests\"]\n",
    )
    .unwrap();
    settle();
    assert!(!same(".", "a configuration below"));
    assert!(same(".", "settled"));
    std::fs::write(project.join(".gitignore"), "# nothing\n").unwrap();
    settle();
    assert!(!same(".", "an ignore file added"));
    std::fs::write(project.join(".gitignore"), "shop/jobs.py\n").unwrap();
    backdate(&project.join(".gitignore"), 3600);
    assert!(!same(".", "an ignore file edited in place"));
    assert!(same(".", "settled"));

    // Outside what the run looked at: a marker above a project that has its own.
    std::fs::write(work.path().join("setup.cfg"), "").unwrap();
    assert!(same(".", "a marker above the project's own"));
}

/// How many candidates the call graph asked again, of how many (`UNBLOCK_TIMINGS`), and how
/// many module parses the graph made (`None`: no graph was built).
fn graph_asked(out: &Output) -> ((usize, usize), Option<usize>) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    let numbers = |line: &str| -> Vec<usize> {
        line.split(|c: char| !c.is_ascii_digit())
            .filter_map(|n| n.parse().ok())
            .collect()
    };
    let asked = stderr
        .lines()
        .find(|l| l.starts_with("call graph answers: "))
        .map(numbers)
        .unwrap_or_else(|| panic!("no call graph answers line in {stderr}"));
    let parses = stderr
        .lines()
        .find(|l| l.starts_with("call graph: "))
        .map(|l| numbers(l)[2]);
    ((asked[0], asked[1]), parses)
}

/// The recipes and kinds of `check --no-cache` are those of the cached run, and the whole
/// reports are the same.
fn assert_same_as_without_cache(project: &Path, cached: &Output, what: &str) {
    let plain = check(project, ".", None);
    assert_eq!(reported(cached), reported(&plain), "{what}");
}

#[test]
fn after_an_edit_the_call_graph_asks_again_only_the_candidates_whose_chains_read_it() {
    let work = tempfile::tempdir().unwrap();
    let project = work.path().join("shop");
    let files: &[(&str, &str)] = &[
        ("pyproject.toml", "[project]\nname = \"shop\"\n"),
        ("shop/__init__.py", ""),
        (
            "shop/helpers.py",
            "import time\n\n\ndef pause():\n    time.sleep(1)\n",
        ),
        ("shop/other.py", "def quiet():\n    return 1\n"),
        ("shop/unrelated.py", "def nothing():\n    return 2\n"),
        (
            "shop/api.py",
            "from shop.helpers import pause\nfrom shop.other import quiet\n\n\nasync def fetch():\n    pause()\n\n\nasync def calm():\n    quiet()\n",
        ),
        ("shop/tasks.py", "def run_task(func):\n    func()\n"),
        // A sync test function defining a coroutine and the helper it passes on: the
        // helper's name is inside a function whose body the graph never parses.
        ("tests/__init__.py", ""),
        (
            "tests/test_api.py",
            "import asyncio\n\nfrom shop.tasks import run_task\n\n\ndef test_fetch():\n    def helper():\n        return 3\n\n    async def main():\n        run_task(helper)\n\n    asyncio.run(main())\n",
        ),
    ];
    write_files(&project, files);
    backdate_all(&project);
    let cache_dir = work.path().join("cache");
    let first = check(&project, ".", Some(&cache_dir));
    assert_same_as_without_cache(&project, &first, "first run");
    let ((asked, of), _) = graph_asked(&first);
    assert_eq!(asked, of, "the first run asks about every candidate");
    assert_eq!(of, 4, "pause, quiet, run_task and the test's helper");
    assert_eq!(
        recipes_and_kinds(&first),
        vec![("to-thread".to_string(), "indirect".to_string())]
    );

    // A module no chain reads: nothing is asked again.
    std::fs::write(
        project.join("shop/unrelated.py"),
        "def nothing():\n    return 2\n\n\ndef more():\n    return 4\n",
    )
    .unwrap();
    let unrelated = check(&project, ".", Some(&cache_dir));
    assert_same_as_without_cache(&project, &unrelated, "after an edit no chain reads");
    assert_eq!(graph_asked(&unrelated), ((0, of), None));

    // A chain added through the edited module: only `quiet` is asked again, and `calm`
    // now blocks through it.
    std::fs::write(
        project.join("shop/other.py"),
        "from shop.helpers import pause\n\n\ndef quiet():\n    pause()\n",
    )
    .unwrap();
    let added = check(&project, ".", Some(&cache_dir));
    assert_same_as_without_cache(&project, &added, "after a chain was added");
    assert_eq!(graph_asked(&added).0, (1, of));
    assert_eq!(
        recipes_and_kinds(&added),
        vec![
            ("to-thread".to_string(), "indirect".to_string()),
            ("to-thread".to_string(), "indirect".to_string()),
        ]
    );

    // The chains removed where they end: both answers that read the helper are asked again,
    // the test's helper is not.
    std::fs::write(
        project.join("shop/helpers.py"),
        "def pause():\n    return None\n",
    )
    .unwrap();
    let removed = check(&project, ".", Some(&cache_dir));
    assert_same_as_without_cache(&project, &removed, "after the chains were removed");
    assert_eq!(graph_asked(&removed).0, (2, of));
    assert_eq!(recipes_and_kinds(&removed), vec![]);

    // A new module changes the layout: every candidate is asked again, and every module
    // summary is reused, the test module's too (its helper is nested in a function whose
    // body no parse includes).
    std::fs::write(
        project.join("shop/extra.py"),
        "def extra():\n    return 5\n",
    )
    .unwrap();
    let relaid = check(&project, ".", Some(&cache_dir));
    assert_same_as_without_cache(&project, &relaid, "after a module was added");
    assert_eq!(graph_asked(&relaid), ((of, of), Some(0)));
}

#[test]
fn an_implementation_of_an_abstract_method_added_in_an_unchanged_layout_is_followed() {
    let work = tempfile::tempdir().unwrap();
    let project = work.path().join("store");
    let files: &[(&str, &str)] = &[
        ("pyproject.toml", "[project]\nname = \"store\"\n"),
        ("store/__init__.py", ""),
        (
            "store/base.py",
            "import abc\n\n\nclass Backend(abc.ABC):\n    @abc.abstractmethod\n    def save(self, data):\n        ...\n\n\ndef persist(backend: Backend, data):\n    backend.save(data)\n",
        ),
        (
            "store/memory.py",
            "from store.base import Backend\n\n\nclass Memory(Backend):\n    def save(self, data):\n        return data\n",
        ),
        ("store/disk.py", "def unused():\n    return 1\n"),
        (
            "store/api.py",
            "from store.base import persist\n\n\nasync def handle(backend, data):\n    persist(backend, data)\n",
        ),
    ];
    write_files(&project, files);
    backdate_all(&project);
    let cache_dir = work.path().join("cache");
    let first = check(&project, ".", Some(&cache_dir));
    assert_same_as_without_cache(&project, &first, "first run");
    assert_eq!(recipes_and_kinds(&first), vec![]);

    // A module of the package, unchanged in the layout, now implements the method with a
    // blocking call: the call of `persist` blocks through it.
    std::fs::write(
        project.join("store/disk.py"),
        "import time\n\nfrom store.base import Backend\n\n\nclass Disk(Backend):\n    def save(self, data):\n        time.sleep(1)\n",
    )
    .unwrap();
    let added = check(&project, ".", Some(&cache_dir));
    assert_same_as_without_cache(&project, &added, "after an implementation was added");
    assert_eq!(
        recipes_and_kinds(&added),
        vec![("to-thread".to_string(), "indirect".to_string())]
    );
    assert_eq!(graph_asked(&added).0, (1, 1));

    // And taken away again.
    std::fs::write(
        project.join("store/disk.py"),
        "def unused():\n    return 1\n",
    )
    .unwrap();
    let removed = check(&project, ".", Some(&cache_dir));
    assert_same_as_without_cache(&project, &removed, "after it was removed");
    assert_eq!(recipes_and_kinds(&removed), vec![]);
}
