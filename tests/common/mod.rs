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
