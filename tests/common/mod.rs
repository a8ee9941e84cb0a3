//! Helpers shared by the test binaries that run `unblock` end to end. Each binary uses a part
//! of them, so the rest is dead code there.
#![allow(dead_code)]

use std::path::Path;
use std::process::{Command, Output};

/// `unblock ARGS` run in `dir`.
pub fn unblock(args: &[&str], dir: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_unblock"))
        .args(args)
        .current_dir(dir)
        .output()
        .expect("runs")
}

pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Copies a fixture tree (without `__pycache__`) into `to`.
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            if entry.file_name() != "__pycache__" {
                copy_dir(&entry.path(), &target);
            }
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// `apply`'s writer handed `path` as if `original` had been read from it and fixed to `fixed`.
pub fn write_as_if_read(path: &Path, original: &[u8], fixed: &[u8]) -> unblocker::fixes::Written {
    let file = unblocker::engine::fix::FixedFile {
        path: path.display().to_string(),
        file: path.to_path_buf(),
        original: original.to_vec(),
        fixed: fixed.to_vec(),
        applied: vec![],
        not_fixed: vec![],
        propagation_refused: false,
        diagnostics: vec![],
    };
    unblocker::fixes::write_fixes(&[file], &Default::default())
}

/// A virtualenv under `target/NAME` (its own path per test binary, so that two binaries never
/// race on one), made with `python3 -m venv` (`$UNBLOCK_PYTHON` instead of `python3` if set)
/// and `pip install PACKAGES` unless `import IMPORTS` already works in it. Returns its folder.
pub fn python_venv(name: &str, packages: &[&str], imports: &str) -> std::path::PathBuf {
    let venv = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("target")
        .join(name);
    let python = venv.join("bin/python");
    let ready = |python: &Path| {
        python.is_file()
            && Command::new(python)
                .args(["-c", &format!("import {imports}")])
                .status()
                .is_ok_and(|s| s.success())
    };
    if !ready(&python) {
        let base = std::env::var("UNBLOCK_PYTHON").unwrap_or_else(|_| "python3".into());
        let status = Command::new(&base)
            .args(["-m", "venv"])
            .arg(&venv)
            .status()
            .expect("run python3 -m venv");
        assert!(status.success(), "python3 -m venv {}", venv.display());
        let status = Command::new(venv.join("bin/pip"))
            .args(["install", "-q"])
            .args(packages)
            .status()
            .expect("run pip");
        assert!(status.success(), "pip install {}", packages.join(" "));
        assert!(ready(&python), "{imports} is not importable");
    }
    venv
}
