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

use std::collections::HashSet;

use super::Recipe;
use crate::engine::rewrite;
use crate::engine::syntax::Field;
use crate::engine::{CallSite, FileContext};
use crate::finding::{FixInfo, Safety};

pub struct FileIo;

/// Calls whose I/O happens lazily, while the returned iterator is consumed.
const LAZY: &[&str] = &[
    "os.walk",
    "os.fwalk",
    "os.scandir",
    "pathlib.Path.iterdir",
    "pathlib.Path.glob",
    "pathlib.Path.rglob",
    "pathlib.Path.walk",
    "glob.iglob",
];

/// Calls that return an open handle: their fix must move the work done with the handle too.
const OPENS_A_HANDLE: &[&str] = &[
    "builtins.open",
    "io.open_code",
    "os.fdopen",
    "pathlib.Path.open",
    "tempfile.NamedTemporaryFile",
    "tempfile.TemporaryFile",
    "tempfile.TemporaryDirectory",
    "zipfile.ZipFile",
    "tarfile.open",
    "tarfile.TarFile",
    "gzip.open",
    "bz2.open",
    "lzma.open",
];

impl Recipe for FileIo {
    fn id(&self) -> &'static str {
        "file-io"
    }

    fn page(&self) -> &'static str {
        include_str!("../../codemods/file-io/README.md")
    }

    /// File-object calls (`fh.read()`) on a handle opened by a reported `open()` in the same
    /// function: they are part of that finding, whose fix moves the whole file work to a thread.
    /// (Other objects, a sqlite3 connection say, keep one finding per call: each blocks, and
    /// each needs its own fix.)
    fn covered_calls(&self, cx: &FileContext, sites: &[CallSite]) -> Vec<usize> {
        let ours = |site: &&CallSite| site.entry.recipe == self.id();
        let opens: HashSet<usize> = sites
            .iter()
            .filter(ours)
            .map(|s| s.call.start_byte())
            .collect();
        sites
            .iter()
            .filter(ours)
            .filter(|site| {
                let receiver = site
                    .call
                    .field("function")
                    .filter(|f| f.kind() == "attribute")
                    .and_then(|f| f.field("object"))
                    .filter(|o| o.kind() == "identifier");
                receiver.is_some_and(|r| {
                    let values = cx.resolver.assigned_values(cx.text(r), site.scope);
                    !values.is_empty() && values.iter().all(|v| opens.contains(&v.start_byte()))
                })
            })
            .map(|site| site.call.start_byte())
            .collect()
    }

    fn plan_call_fix(&self, cx: &FileContext, site: &CallSite) -> Result<Option<FixInfo>, String> {
        if LAZY.contains(&site.qualified.as_str()) {
            return Err("returns a lazy iterator: the file system work happens while iterating it, on the loop; \
                        move the loop (or a `list(...)` of it) into a helper run with `asyncio.to_thread`"
                .into());
        }
        if !OPENS_A_HANDLE.contains(&site.qualified.as_str()) {
            return rewrite::to_thread_fix(cx, site, "the same file operation on a worker thread");
        }
        // A handle: the work done with it must move along, not just the open.
        let parent = site.parent.ok_or("no context")?;
        if let Some(with) = rewrite::with_statement_of_item(site) {
            return rewrite::with_block_fix(cx, site, with, "the `with` block").map(Some);
        }
        match parent.kind() {
            // `open(p).read()` or `json.load(open(p))`: the whole expression moves.
            "attribute" | "argument_list" => {
                let outer = parent.parent().filter(|p| p.kind() == "call").ok_or("not part of a call")?;
                let (edit, imports) = rewrite::expression_to_thread(cx, outer, site.scope)?;
                Ok(Some(FixInfo::new(
                    Safety::Safe,
                    "the whole expression that uses the file runs on a worker thread: `await asyncio.to_thread(lambda: ...)`",
                    vec![edit],
                    imports,
                )))
            }
            _ => Err("the file handle is used further on in the function: move that work into a helper \
                      run with `asyncio.to_thread` (or open it in a `with` block, which unblock can move)"
                .into()),
        }
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
    fn an_archive_in_memory_is_no_file_io() {
        let src = "\
import io
import tarfile
import zipfile
from io import BytesIO

async def export(files):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, 'w', zipfile.ZIP_DEFLATED) as zf:
        for name, data in files:
            zf.writestr(name, data)
    with zipfile.ZipFile(BytesIO(b'')) as archive:
        archive.namelist()
    with tarfile.open(fileobj=io.BytesIO(b''), mode='r:gz') as tar:
        tar.getnames()
    with zipfile.ZipFile('exports.zip', 'w') as on_disk:
        on_disk.writestr('a', 'b')
";
        assert_eq!(lines(src), vec![(15, "file-io")]);
    }

    #[test]
    fn aiofiles_is_fine_and_a_shadowing_open_is_not_the_builtin() {
        let src = "\
import aiofiles
from webui.storage import open

async def f(p):
    async with aiofiles.open(p) as fh:
        await fh.read()
    open(p)
";
        assert_eq!(lines(src), vec![]);
    }

    #[test]
    fn catalogue_entries_from_the_real_code_sweep() {
        // Reported: path resolution, PATH lookups, and certificate loading on a context made by
        // `ssl.create_default_context`. Not reported: an unbounded queue's put, and a spooled
        // temporary file, which starts in memory.
        let src = "\
import queue
import shutil
import ssl
import tempfile
from pathlib import Path

async def serve(p, q: queue.Queue):
    real = Path(p).resolve()
    tool = shutil.which('ffmpeg')
    ctx = ssl.create_default_context()
    ctx.load_cert_chain('cert.pem')
    q.put(real)
    buf = tempfile.SpooledTemporaryFile(max_size=1024)
";
        assert_eq!(
            lines(src),
            vec![
                (8, "file-io"),
                (9, "file-io"),
                (10, "to-thread"),
                (11, "to-thread")
            ]
        );
    }

    #[test]
    fn paths_through_a_conditional_and_a_return_annotation() {
        let src = "\
from pathlib import Path
from typing import Optional


def data_file(name: str) -> Path:
    return Path('/data') / name


def maybe_file(name) -> Optional[Path]:
    return None


class Store:
    def root(self) -> Path:
        return Path('/srv')

    async def load(self, p, local):
        path = Path(p) if local else None
        a = path.read_bytes()
        b = data_file('a').read_bytes()
        c = maybe_file('b').read_text()
        return self.root().exists(), a, b, c
";
        assert_eq!(
            lines(src),
            vec![
                (19, "file-io"),
                (20, "file-io"),
                (21, "file-io"),
                (22, "file-io")
            ]
        );
    }
}
