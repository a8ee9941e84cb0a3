//! Bad input, faults and scale (issue 18): `apply` when writes fail, files vanish or belong to
//! someone else, names that are not UTF-8, planted links, signals, and odd encodings.

mod common;

use std::os::unix::fs::MetadataExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::{copy_dir, stderr, unblock, write_as_if_read};

const NOBODY: u32 = 65534;
const BLOCKING: &str = "import time\n\nasync def f():\n    time.sleep(1)\n";

fn fixture(name: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let from = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/robustness")
        .join(name);
    copy_dir(&from, dir.path());
    dir
}

fn running_as_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

fn chown_tree(path: &Path, uid: u32) {
    std::os::unix::fs::lchown(path, Some(uid), Some(uid)).unwrap();
    if std::fs::symlink_metadata(path).unwrap().is_dir() {
        for entry in std::fs::read_dir(path).unwrap() {
            chown_tree(&entry.unwrap().path(), uid);
        }
    }
}

/// `unblock` run so that a folder without write permission cannot be written: as root
/// permissions are not enforced, so the tree is handed to `nobody` and the binary runs as it.
fn unblock_where_permissions_hold(args: &[&str], dir: &Path) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_unblock"));
    command.args(args).current_dir(dir);
    if running_as_root() {
        chown_tree(dir, NOBODY);
        command.uid(NOBODY).gid(NOBODY);
    }
    command.output().expect("runs")
}

fn read(path: impl AsRef<Path>) -> String {
    std::fs::read_to_string(path).unwrap()
}

fn read_only(dir: &Path) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o555)).unwrap();
}

fn leftovers(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() && !path.is_symlink() {
                stack.push(path);
            } else if path.to_string_lossy().ends_with(".tmp") {
                found.push(path);
            }
        }
    }
    found
}

#[test]
fn a_propagate_fix_spanning_files_is_written_whole_or_not_at_all() {
    // The fixture does change both files when both can be written.
    let writable = fixture("propagate");
    let out = unblock(&["apply", "--propagate", "."], writable.path());
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(read(writable.path().join("lib/helper.py")).contains("async def nap"));
    assert!(read(writable.path().join("main.py")).contains("await nap()"));

    let dir = fixture("propagate");
    let caller = read(dir.path().join("main.py"));
    let callee = read(dir.path().join("lib/helper.py"));
    read_only(&dir.path().join("lib"));
    let out = unblock_where_permissions_hold(&["apply", "--propagate", "."], dir.path());
    let errors = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{errors}");
    assert_eq!(read(dir.path().join("lib/helper.py")), callee);
    assert_eq!(
        read(dir.path().join("main.py")),
        caller,
        "the caller awaits a helper that is still sync: {errors}"
    );
    assert!(
        errors.contains("lib/helper.py: cannot write it"),
        "{errors}"
    );
    assert!(
        errors.contains("main.py: not written either: its fix spans files"),
        "{errors}"
    );
    assert!(errors.contains("Applied 0 fixes in 0 files."), "{errors}");
    assert!(leftovers(dir.path()).is_empty());
}

#[test]
fn only_what_was_written_is_counted_and_the_rest_is_listed() {
    let dir = fixture("two_files");
    read_only(&dir.path().join("ro"));
    let out = unblock_where_permissions_hold(&["apply", "."], dir.path());
    let errors = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{errors}");
    assert!(read(dir.path().join("a.py")).contains("await asyncio.sleep(1)"));
    assert!(read(dir.path().join("ro/b.py")).contains("time.sleep(2)"));
    assert!(errors.contains("Applied 1 fix in 1 file."), "{errors}");
    assert!(
        errors.contains("Not written: 1 fix in 1 file: ./ro/b.py"),
        "{errors}"
    );
    assert!(errors.contains("./ro/b.py: cannot write it"), "{errors}");
}

#[test]
fn a_file_deleted_since_it_was_read_stays_deleted() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("gone.py");
    let outcome = write_as_if_read(&path, BLOCKING.as_bytes(), b"fixed = 1\n");
    assert!(outcome.written.is_empty());
    assert_eq!(outcome.not_written.len(), 1);
    assert!(
        outcome.not_written[0]
            .1
            .contains("deleted since it was read"),
        "{:?}",
        outcome.not_written
    );
    assert!(!path.exists());
    assert!(leftovers(dir.path()).is_empty());
}

#[test]
fn apply_keeps_the_owner_and_group_of_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.py");
    std::fs::write(&path, BLOCKING).unwrap();
    let owner = if running_as_root() {
        std::os::unix::fs::chown(&path, Some(NOBODY), Some(NOBODY)).unwrap();
        NOBODY
    } else {
        std::fs::metadata(&path).unwrap().uid()
    };
    let out = unblock(&["apply", "a.py"], dir.path());
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(read(&path).contains("await asyncio.sleep(1)"));
    let metadata = std::fs::metadata(&path).unwrap();
    assert_eq!((metadata.uid(), metadata.gid()), (owner, owner));
}

#[test]
fn a_link_planted_at_a_temporary_name_is_never_followed() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("a.py"), BLOCKING).unwrap();
    let victim = dir.path().join("victim.txt");
    std::fs::write(&victim, "keep me\n").unwrap();
    // The name the temporary file had before (`.a.py.unblock-<pid>.tmp`) for every process id
    // the run may get: pids are handed out in order, so the next thousand cover it.
    let next_pid = std::process::id();
    for pid in next_pid..next_pid + 1000 {
        let name = dir.path().join(format!(".a.py.unblock-{pid}.tmp"));
        std::os::unix::fs::symlink(&victim, name).unwrap();
    }
    let out = unblock(&["apply", "a.py"], dir.path());
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(read(dir.path().join("a.py")).contains("await asyncio.sleep(1)"));
    assert_eq!(read(&victim), "keep me\n");
    let stray: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".unblock.tmp"))
        .collect();
    assert!(stray.is_empty(), "{stray:?}");
}

#[test]
fn an_interrupted_apply_leaves_no_temporary_file_and_no_half_written_one() {
    const FILES: usize = 1000;
    let fixed = "import asyncio\n\nasync def f():\n    await asyncio.sleep(1)\n";
    let tree = || {
        let dir = tempfile::tempdir().unwrap();
        for i in 0..FILES {
            std::fs::write(dir.path().join(format!("m{i}.py")), BLOCKING).unwrap();
        }
        dir
    };
    let apply = |dir: &Path| {
        Command::new(env!("CARGO_BIN_EXE_unblock"))
            .args(["apply", "--no-indirect", "."])
            .current_dir(dir)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    };
    // The writes come last: signals late in a run as long as an undisturbed one land among
    // them on most machines. Wherever one lands, every file is either as it was or wholly
    // fixed, and no temporary file is left. (Only where signals land depends on the clock;
    // nothing asserted does.)
    let started = std::time::Instant::now();
    let undisturbed = tree();
    assert!(apply(undisturbed.path()).wait().unwrap().success());
    let whole_run = started.elapsed();
    for fraction in [0.5, 0.7, 0.8, 0.9, 0.95] {
        let dir = tree();
        let child = apply(dir.path());
        std::thread::sleep(whole_run.mul_f64(fraction));
        // SAFETY: kill with the pid of a child we have not waited for yet.
        unsafe {
            libc::kill(child.id() as libc::pid_t, libc::SIGINT);
        }
        let out = child.wait_with_output().unwrap();
        assert!(leftovers(dir.path()).is_empty(), "at {fraction} of a run");
        let mut written = 0;
        for i in 0..FILES {
            let text = read(dir.path().join(format!("m{i}.py")));
            assert!(text == BLOCKING || text == fixed, "m{i}.py: {text}");
            written += usize::from(text == fixed);
        }
        // Interrupted while writing: what it says it wrote is what it wrote.
        if out.status.code() == Some(130) {
            let errors = stderr(&out);
            let applied = format!("Applied {written} fix");
            assert!(errors.contains(&applied), "{errors}");
            let left = format!("Interrupted: {} more file", FILES - written);
            assert!(errors.contains(&left), "{errors}");
        }
    }
}

#[test]
fn a_file_whose_name_is_not_utf8_is_diffed_and_fixed() {
    use std::os::unix::ffi::OsStrExt;
    let dir = tempfile::tempdir().unwrap();
    let name = std::ffi::OsStr::from_bytes(b"caf\xe9.py");
    std::fs::write(dir.path().join(name), BLOCKING).unwrap();
    let check = unblock(&["check", "."], dir.path());
    assert_eq!(check.status.code(), Some(1), "{}", stderr(&check));
    let diff = unblock(&["diff", "."], dir.path());
    assert_eq!(diff.status.code(), Some(1), "{}", stderr(&diff));
    let patch = String::from_utf8_lossy(&diff.stdout);
    assert!(patch.contains("+    await asyncio.sleep(1)"), "{patch}");
    // Quoted as git quotes it: `git apply` and `patch` find the file by it.
    assert!(patch.starts_with("--- \"./caf\\351.py\"\n"), "{patch}");
    let apply = unblock(&["apply", "."], dir.path());
    let errors = stderr(&apply);
    assert_eq!(apply.status.code(), Some(0), "{errors}");
    assert!(errors.contains("Applied 1 fix in 1 file."), "{errors}");
    assert!(read(dir.path().join(name)).contains("await asyncio.sleep(1)"));
}

#[test]
fn a_file_with_cr_only_line_endings_is_checked_and_fixed_keeping_them() {
    let dir = fixture("encodings");
    let out = unblock(&["check", "cr_only.py"], dir.path());
    let errors = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{errors}");
    assert!(!errors.contains("syntax error"), "{errors}");
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(report.contains("cr_only.py:4:5: sleep"), "{report}");
    assert!(report.contains("4 |     time.sleep(1)"), "{report}");

    let out = unblock(&["apply", "cr_only.py"], dir.path());
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(
        read(dir.path().join("cr_only.py")),
        "import asyncio\r\rasync def f():\r    await asyncio.sleep(1)\r    x = 1\r"
    );
}

#[test]
fn a_utf16_file_is_named_as_such_not_as_binary() {
    let dir = fixture("encodings");
    let out = unblock(&["check", "utf16.py"], dir.path());
    let errors = stderr(&out);
    assert!(
        errors.contains("utf16.py: UTF-16 is not supported"),
        "{errors}"
    );
    assert!(!errors.contains("binary"), "{errors}");
}

#[test]
fn output_that_cannot_be_written_is_an_error() {
    let dir = fixture("encodings");
    let full = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/full")
        .unwrap();
    for command in [
        &["check", "cr_only.py"][..],
        &["diff", "cr_only.py"],
        &["recipes"],
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_unblock"))
            .args(command)
            .current_dir(dir.path())
            .stdout(full.try_clone().unwrap())
            .output()
            .unwrap();
        let errors = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{command:?}: {errors}");
        assert!(
            errors.contains("cannot write the output: No space left on device"),
            "{command:?}: {errors}"
        );
    }
}

#[test]
fn a_propagate_plan_a_file_cannot_take_changes_no_file_of_it() {
    use unblocker::engine::{fix::FixOptions, Engine, Selection};
    let dir = fixture("propagate");
    let mut engine = Engine::new(
        Default::default(),
        Selection::default(),
        unblocker::recipes::builtin(),
    );
    engine.propagate = true;
    let report = engine.check(&[dir.path().to_path_buf()]);
    let planned: Vec<&String> = report.project.propagation.edits.keys().collect();
    assert_eq!(planned.len(), 2, "{planned:?}");
    // The caller is rewritten between the check and the fix: its share of the plan (an
    // `await` at an offset of the old text) no longer fits.
    std::fs::write(dir.path().join("main.py"), "x = 1\n").unwrap();
    let fixed = unblocker::fixes::fix_report(&engine, &report, FixOptions::default());
    let helper = fixed
        .iter()
        .find(|f| f.path.ends_with("helper.py"))
        .unwrap();
    assert!(
        !helper.changed(),
        "{}",
        String::from_utf8_lossy(&helper.fixed)
    );
    assert!(helper.applied.is_empty());
    assert!(
        helper.not_fixed.iter().any(|n| n
            .reason
            .contains("main.py could not take its part of the plan")),
        "{:?}",
        helper.not_fixed
    );
    assert!(fixed.iter().all(|f| !f.changed()));
}

#[test]
fn two_names_that_read_the_same_are_named_and_left_alone() {
    use std::os::unix::ffi::OsStrExt;
    let dir = tempfile::tempdir().unwrap();
    let names = [&b"caf\xe9.py"[..], b"caf\xe8.py"].map(std::ffi::OsStr::from_bytes);
    for name in names {
        std::fs::write(dir.path().join(name), BLOCKING).unwrap();
    }
    for command in ["diff", "apply"] {
        let out = unblock(&[command, "."], dir.path());
        let errors = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{command}: {errors}");
        assert!(
            errors.contains("another file's name reads the same: not fixed (rename it)"),
            "{command}: {errors}"
        );
    }
    for name in names {
        assert_eq!(read(dir.path().join(name)), BLOCKING);
    }
}
