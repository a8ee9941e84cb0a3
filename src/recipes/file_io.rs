//! Recipe `file-io`: `open()` and the file work on its handle, `pathlib.Path` reads and writes,
//! `shutil` and `os` file operations in a coroutine.
//!
//! ```python
//! async def get_report(name):
//!     with open(REPORT_DIR / f"{name}.json") as fh:
//!         return json.load(fh)
//! ```
//! becomes
//! ```python
//! async def get_report(name):
//!     def _read():
//!         with open(REPORT_DIR / f"{name}.json") as fh:
//!             return json.load(fh)
//!     return await asyncio.to_thread(_read)
//! ```
//! Safe: the same calls run in the same order, on a worker thread. `aiofiles` is offered only
//! where the user opts in.

use super::Recipe;
use crate::engine::{CallSite, FileContext};
use crate::finding::FixInfo;

pub struct FileIo;

impl Recipe for FileIo {
    fn id(&self) -> &'static str {
        "file-io"
    }

    fn page(&self) -> &'static str {
        include_str!("../../codemods/file-io/README.md")
    }

    fn plan_call_fix(&self, _cx: &FileContext, site: &CallSite) -> Result<Option<FixInfo>, String> {
        let in_with = site
            .parent
            .is_some_and(|p| matches!(p.kind(), "with_item" | "as_pattern"));
        let note = if in_with {
            "the `with` block's file work moves to a worker thread with `await asyncio.to_thread(...)`"
        } else {
            "`await asyncio.to_thread(...)`: the same file operation on a worker thread"
        };
        Ok(FixInfo::safe(note))
    }
}

#[cfg(test)]
mod tests {
    use crate::recipes::testing::lines;

    #[test]
    fn open_and_pathlib_and_the_handle_is_one_finding() {
        let src = "\
import json
from pathlib import Path

BASE = Path(__file__).resolve().parent / 'data'
CONFIG = json.load(open(BASE / 'config.json'))

async def read(name):
    with open(BASE / name) as fh:
        data = json.load(fh)
    meta = json.load(open(BASE / 'meta.json'))
    text = (BASE / name).read_text()
    out = BASE / 'out.bin'
    out.write_bytes(b'x')
";
        assert_eq!(
            lines(src),
            vec![
                (8, "file-io"),
                (10, "file-io"),
                (11, "file-io"),
                (13, "file-io")
            ]
        );
    }

    #[test]
    fn aiofiles_is_fine_and_a_shadowing_open_is_not_the_builtin() {
        let src = "\
import aiofiles
from gzip import open

async def f(p):
    async with aiofiles.open(p) as fh:
        await fh.read()
    open(p)
";
        assert_eq!(lines(src), vec![]);
    }
}
