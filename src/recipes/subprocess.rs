//! Recipe `subprocess`: `subprocess.run/call/check_call/check_output`, `os.system`, `os.popen`
//! in a coroutine.
//!
//! ```python
//! async def version():
//!     rev = subprocess.check_output(["git", "rev-parse", "HEAD"], text=True)
//! ```
//! becomes
//! ```python
//! async def version():
//!     rev = await asyncio.to_thread(subprocess.check_output, ["git", "rev-parse", "HEAD"], text=True)
//! ```
//! Safe as `to_thread` (same process, same arguments, same result); the
//! `asyncio.create_subprocess_exec` rewrite is unsafe (different API for output, errors, timeouts).

use super::Recipe;
use crate::engine::rewrite;
use crate::engine::{CallSite, FileContext};
use crate::finding::{FixInfo, Safety};

pub struct Subprocess;

impl Recipe for Subprocess {
    fn id(&self) -> &'static str {
        "subprocess"
    }

    fn page(&self) -> &'static str {
        include_str!("../../codemods/subprocess/README.md")
    }

    fn plan_call_fix(&self, cx: &FileContext, site: &CallSite) -> Result<Option<FixInfo>, String> {
        if site.qualified == "os.popen" {
            // The pipe's read waits for the child: it must move along with the popen.
            let outer = site
                .parent
                .filter(|p| p.kind() == "attribute")
                .and_then(|p| p.parent())
                .filter(|g| g.kind() == "call")
                .ok_or("the pipe is read further on in the function: move that work into a helper run with `asyncio.to_thread`")?;
            let (edit, imports) = rewrite::expression_to_thread(cx, outer, site.scope)?;
            let note = "the popen and the read of its pipe run on a worker thread: `await asyncio.to_thread(lambda: ...)`";
            return Ok(Some(FixInfo::new(Safety::Safe, note, vec![edit], imports)));
        }
        rewrite::to_thread_fix(
            cx,
            site,
            "the child runs as before while the loop keeps running",
        )
    }
}

#[cfg(test)]
mod tests {
    use crate::recipes::testing::lines;

    #[test]
    fn process_calls_and_shell_calls() {
        let src = "\
import os
import subprocess
from subprocess import run as sh

async def f():
    subprocess.run(['ls'])
    out = subprocess.check_output(['git', 'status'], text=True).strip()
    os.system('true')
    rows = os.popen('df').read().split()
    sh(['ls'])
";
        assert_eq!(
            lines(src),
            vec![
                (6, "subprocess"),
                (7, "subprocess"),
                (8, "subprocess"),
                (9, "subprocess"),
                (10, "subprocess")
            ]
        );
    }

    #[test]
    fn asyncio_subprocesses_are_fine() {
        let src = "\
import asyncio

async def f():
    proc = await asyncio.create_subprocess_exec('ls')
    await proc.communicate()
";
        assert_eq!(lines(src), vec![]);
    }
}
