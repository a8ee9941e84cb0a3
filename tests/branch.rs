//! `unblock apply --branch`: fixes committed on a new branch with git plumbing, the working
//! tree, the index and the current branch left exactly as they were.

use std::path::Path;
use std::process::{Command, Output};

const IDENTITY: &[(&str, &str)] = &[
    ("GIT_AUTHOR_NAME", "Test"),
    ("GIT_AUTHOR_EMAIL", "test@example.com"),
    ("GIT_COMMITTER_NAME", "Test"),
    ("GIT_COMMITTER_EMAIL", "test@example.com"),
];

fn unblock(args: &[&str], dir: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_unblock"))
        .args(args)
        .current_dir(dir)
        .envs(IDENTITY.iter().copied())
        .output()
        .expect("runs")
}

fn git(args: &[&str], dir: &Path) -> String {
    let out = Command::new("git")
        .args(args)
        .current_dir(dir)
        .envs(IDENTITY.iter().copied())
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .output()
        .expect("git runs");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

const APP: &str = "import subprocess\nimport time\n\n\nasync def handler():\n    time.sleep(1)\n    subprocess.run([\"ls\"])\n";

/// A repository with app.py (a `time.sleep` and a `subprocess.run` in an `async def`) committed,
/// an unstaged change to other.py and a staged change to notes.txt.
fn repository() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    git(&["init", "-q", "-b", "main"], root);
    std::fs::write(root.join("app.py"), APP).unwrap();
    std::fs::write(root.join("other.py"), "x = 1\n").unwrap();
    std::fs::write(root.join("notes.txt"), "one\n").unwrap();
    git(&["add", "."], root);
    git(&["commit", "-q", "-m", "init"], root);
    std::fs::write(root.join("other.py"), "x = 2\n").unwrap();
    std::fs::write(root.join("notes.txt"), "two\n").unwrap();
    git(&["add", "notes.txt"], root);
    dir
}

/// Everything `apply --branch` must leave alone.
fn state(root: &Path) -> Vec<Vec<u8>> {
    let mut state = vec![
        git(&["status", "--porcelain"], root).into_bytes(),
        std::fs::read(root.join(".git/index")).unwrap(),
        git(&["rev-parse", "HEAD"], root).into_bytes(),
        git(&["symbolic-ref", "HEAD"], root).into_bytes(),
    ];
    for name in ["app.py", "other.py", "notes.txt"] {
        state.push(std::fs::read(root.join(name)).unwrap());
    }
    state
}

fn branch_exists(root: &Path, name: &str) -> bool {
    Command::new("git")
        .args([
            "rev-parse",
            "--verify",
            "--quiet",
            &format!("refs/heads/{name}"),
        ])
        .current_dir(root)
        .output()
        .unwrap()
        .status
        .success()
}

#[test]
fn commits_one_fix_per_recipe_on_a_new_branch_and_touches_nothing_else() {
    let dir = repository();
    let root = dir.path();
    let status = git(&["status", "--porcelain"], root);
    assert!(status.contains("M  notes.txt") && status.contains(" M other.py"));
    let before = state(root);

    let out = unblock(&["apply", "--branch", "fix-blocking"], root);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));

    assert_eq!(
        state(root),
        before,
        "the working tree, index or HEAD changed"
    );
    let subjects = git(&["log", "--format=%s", "main..fix-blocking"], root);
    assert_eq!(
        subjects,
        "unblock: subprocess (1 safe fix)\nunblock: sleep (1 safe fix)\n"
    );
    assert_eq!(
        git(&["rev-parse", "fix-blocking~2"], root),
        git(&["rev-parse", "HEAD"], root)
    );
    let fixed = git(&["show", "fix-blocking:app.py"], root);
    assert!(fixed.contains("await asyncio.sleep(1)"), "{fixed}");
    assert!(
        fixed.contains("asyncio.to_thread(subprocess.run"),
        "{fixed}"
    );
    let first = git(&["show", "fix-blocking~1:app.py"], root);
    assert!(first.contains("await asyncio.sleep(1)") && !first.contains("to_thread"));
    // Only app.py changed; the committed version of other.py is kept, not the working one.
    assert_eq!(
        git(&["diff", "--name-only", "main", "fix-blocking"], root),
        "app.py\n"
    );
    assert_eq!(git(&["show", "fix-blocking:other.py"], root), "x = 1\n");
    let body = git(&["log", "-1", "--format=%B", "fix-blocking~1"], root);
    assert!(
        body.starts_with("unblock: sleep (1 safe fix)\n\n")
            && body.contains("Safe fixes: 1")
            && body.contains("Unsafe fixes: 0")
            && body.contains("app.py"),
        "{body}"
    );

    let stdout = text(&out.stdout);
    assert!(stdout.contains("fix-blocking"), "{stdout}");
    assert!(stdout.contains("unblock: sleep (1 safe fix)"), "{stdout}");
    assert!(
        stdout.contains("unblock: subprocess (1 safe fix)"),
        "{stdout}"
    );
    assert!(stdout.contains("git log -p HEAD..fix-blocking"), "{stdout}");
}

#[test]
fn keeps_the_executable_bit() {
    let dir = repository();
    let root = dir.path();
    git(&["update-index", "--chmod=+x", "app.py"], root);
    git(&["commit", "-q", "-m", "exec"], root);
    let out = unblock(&["apply", "--branch", "fix"], root);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(git(&["ls-tree", "fix", "app.py"], root).starts_with("100755 "));
}

#[test]
fn refuses_outside_a_repository() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("app.py"), APP).unwrap();
    let out = unblock(&["apply", "--branch", "fix"], dir.path());
    assert_eq!(out.status.code(), Some(2));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("not inside a git repository"), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert_eq!(
        std::fs::read_to_string(dir.path().join("app.py")).unwrap(),
        APP
    );
}

#[test]
fn refuses_an_existing_branch_unless_forced() {
    let dir = repository();
    let root = dir.path();
    git(&["branch", "fix"], root);
    let head = git(&["rev-parse", "HEAD"], root);
    let before = state(root);
    let out = unblock(&["apply", "--branch", "fix"], root);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("already exists"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(git(&["rev-parse", "fix"], root), head);

    let out = unblock(&["apply", "--branch", "fix", "--force"], root);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(git(&["rev-parse", "fix~2"], root), head);
    assert_eq!(state(root), before);

    // The checked-out branch is never moved, even with --force.
    let out = unblock(&["apply", "--branch", "main", "--force"], root);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(git(&["rev-parse", "main"], root), head);
}

#[test]
fn refuses_a_base_that_does_not_resolve() {
    let dir = repository();
    let root = dir.path();
    let out = unblock(&["apply", "--branch", "fix", "--base", "nosuchrev"], root);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("nosuchrev"),
        "{}",
        text(&out.stderr)
    );
    assert!(!branch_exists(root, "fix"));
}

#[test]
fn refuses_a_path_outside_the_repository() {
    let dir = repository();
    let root = dir.path();
    let out = unblock(&["apply", "--branch", "fix", ".."], root);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("outside the repository"),
        "{}",
        text(&out.stderr)
    );
    assert!(!branch_exists(root, "fix"));
}

#[test]
fn nothing_to_fix_creates_no_branch() {
    let dir = repository();
    let root = dir.path();
    let out = unblock(&["apply", "--branch", "fix", "other.py"], root);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("nothing to fix"),
        "{}",
        text(&out.stdout)
    );
    assert!(!branch_exists(root, "fix"));
}

#[test]
fn base_reads_the_older_version() {
    let dir = repository();
    let root = dir.path();
    // HEAD~1 has only the sleep; HEAD adds the subprocess call.
    let older = APP.replace("    subprocess.run([\"ls\"])\n", "");
    std::fs::write(root.join("app.py"), &older).unwrap();
    git(&["commit", "-q", "-m", "older", "--", "app.py"], root);
    std::fs::write(root.join("app.py"), APP).unwrap();
    git(&["commit", "-q", "-m", "newer", "--", "app.py"], root);
    let out = unblock(&["apply", "--branch", "old-fix", "--base", "HEAD~1"], root);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(
        git(&["log", "--format=%s", "HEAD~1..old-fix"], root),
        "unblock: sleep (1 safe fix)\n"
    );
    assert_eq!(
        git(&["rev-parse", "old-fix~1"], root),
        git(&["rev-parse", "HEAD~1"], root)
    );
    assert!(!git(&["show", "old-fix:app.py"], root).contains("subprocess.run"));
    assert!(text(&out.stdout).contains("git log -p HEAD~1..old-fix"));
}

#[test]
fn configuration_is_read_from_the_base_commit() {
    let dir = repository();
    let root = dir.path();
    std::fs::write(
        root.join("pyproject.toml"),
        "[tool.unblock]\nignore = [\"sleep\"]\n",
    )
    .unwrap();
    git(&["add", "pyproject.toml"], root);
    git(&["commit", "-q", "-m", "config"], root);
    // An uncommitted change to the configuration is not what BASE says.
    std::fs::write(root.join("pyproject.toml"), "[tool.unblock]\n").unwrap();
    let out = unblock(&["apply", "--branch", "fix"], root);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(
        git(&["log", "--format=%s", "main..fix"], root),
        "unblock: subprocess (1 safe fix)\n"
    );
}

#[test]
fn base_and_force_need_branch_and_diff_takes_no_branch() {
    let dir = repository();
    let root = dir.path();
    for args in [
        &["apply", "--base", "HEAD"][..],
        &["apply", "--force"][..],
        &["diff", "--branch", "fix"][..],
    ] {
        let out = unblock(args, root);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
    }
    assert_eq!(std::fs::read_to_string(root.join("app.py")).unwrap(), APP);
    assert!(!branch_exists(root, "fix"));
}

#[test]
fn refuses_names_git_refuses_for_a_branch_before_writing_anything() {
    let dir = repository();
    let root = dir.path();
    let before = state(root);
    let refs_before = git(&["for-each-ref"], root);
    for name in ["HEAD", "@{-1}", "a..b", "-x", "x.lock", "a b"] {
        let out = unblock(&["apply", &format!("--branch={name}")], root);
        assert_eq!(out.status.code(), Some(2), "{name}");
        let stderr = text(&out.stderr);
        assert!(
            stderr.contains(&format!("`{name}` is not a valid branch name")),
            "{name}: {stderr}"
        );
        assert_eq!(git(&["for-each-ref"], root), refs_before, "{name}");
    }
    assert_eq!(state(root), before);
}

#[test]
fn a_bare_repository_gets_gits_own_reason() {
    let dir = tempfile::tempdir().unwrap();
    let bare = dir.path().join("bare.git");
    git(
        &["init", "-q", "--bare", bare.to_str().unwrap()],
        dir.path(),
    );
    let out = unblock(&["apply", "--branch", "fix"], &bare);
    assert_eq!(out.status.code(), Some(2));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("must be run in a work tree"), "{stderr}");
    assert!(!stderr.contains("not inside a git repository"), "{stderr}");
}

#[test]
fn a_repository_git_deems_unsafe_gets_gits_own_reason() {
    let dir = repository();
    let root = dir.path();
    // Git's own switch to act as if the repository belonged to someone else (as it would
    // after a chown to another user): it then refuses it unless `safe.directory` allows it.
    let out = Command::new(env!("CARGO_BIN_EXE_unblock"))
        .args(["apply", "--branch", "fix"])
        .current_dir(root)
        .envs(IDENTITY.iter().copied())
        .env("GIT_TEST_ASSUME_DIFFERENT_OWNER", "1")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("dubious ownership"), "{stderr}");
    assert!(stderr.contains("safe.directory"), "{stderr}");
}

#[test]
fn a_file_whose_name_is_not_utf8_is_fixed_in_place_on_the_branch() {
    use std::os::unix::ffi::OsStrExt;
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    git(&["init", "-q", "-b", "main"], root);
    let name = std::ffi::OsStr::from_bytes(b"caf\xe9.py");
    std::fs::write(root.join(name), APP).unwrap();
    git(&["add", "."], root);
    git(&["commit", "-q", "-m", "init"], root);
    let out = unblock(&["apply", "--branch", "fix"], root);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    // The same path, changed: no second file under a lossy spelling of the name.
    let files = Command::new("git")
        .args(["ls-tree", "-r", "-z", "--name-only", "fix"])
        .current_dir(root)
        .output()
        .unwrap();
    assert_eq!(files.stdout, b"caf\xe9.py\0");
    let fixed = Command::new("git")
        .args(["cat-file", "blob"])
        .arg(std::ffi::OsStr::from_bytes(b"fix:caf\xe9.py"))
        .current_dir(root)
        .output()
        .unwrap();
    assert!(text(&fixed.stdout).contains("await asyncio.sleep(1)"));
}

#[test]
fn a_report_that_cannot_be_printed_is_an_error() {
    let dir = repository();
    let root = dir.path();
    let full = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/full")
        .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_unblock"))
        .args(["apply", "--branch", "fix"])
        .current_dir(root)
        .envs(IDENTITY.iter().copied())
        .stdout(full)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("cannot write the output"), "{stderr}");
    // The branch itself was made before the report: it is there.
    assert!(branch_exists(root, "fix"));
}
