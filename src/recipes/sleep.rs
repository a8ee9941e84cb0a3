//! Recipe `sleep`: `time.sleep(x)` in a coroutine.
//!
//! ```python
//! async def retry():
//!     time.sleep(0.5)
//! ```
//! becomes
//! ```python
//! async def retry():
//!     await asyncio.sleep(0.5)
//! ```
//! Safe: the coroutine waits as long as before, and the loop runs other tasks meanwhile.

use super::Recipe;
use crate::engine::rewrite;
use crate::engine::{CallSite, FileContext};
use crate::finding::{FixInfo, Safety};

pub struct Sleep;

impl Recipe for Sleep {
    fn id(&self) -> &'static str {
        "sleep"
    }

    fn page(&self) -> &'static str {
        include_str!("../../codemods/sleep/README.md")
    }

    fn plan_call_fix(&self, cx: &FileContext, site: &CallSite) -> Result<Option<FixInfo>, String> {
        rewrite::check_asyncio_name(cx, site.scope)?;
        let arguments =
            rewrite::arguments_text(cx, site.call).ok_or("cannot read the arguments")?;
        let text = rewrite::awaited(
            &format!("asyncio.sleep({arguments})"),
            site.parent,
            site.call,
        );
        Ok(Some(
            FixInfo::new(
                Safety::Safe,
                "`await asyncio.sleep(...)`: same delay, the loop keeps running",
                vec![rewrite::replace(site.call, text)],
                vec!["asyncio"],
            )
            .releasing(rewrite::callee_root(cx, site.call)),
        ))
    }
}

#[cfg(test)]
mod tests {
    use crate::recipes::testing::lines;

    #[test]
    fn time_sleep_through_every_spelling() {
        let src = "\
import time
from time import sleep
import time as t

async def f():
    time.sleep(1)
    sleep(2)
    t.sleep(3)
";
        assert_eq!(lines(src), vec![(6, "sleep"), (7, "sleep"), (8, "sleep")]);
    }

    #[test]
    fn not_in_sync_code_nested_defs_or_lambdas() {
        let src = "\
import time

def sync():
    time.sleep(1)

async def f():
    def inner():
        time.sleep(1)
    g = lambda: time.sleep(1)
    await asyncio.to_thread(time.sleep, 1)
";
        assert_eq!(lines(src), vec![]);
    }

    #[test]
    fn a_local_name_shadows_the_import() {
        let src = "\
from time import sleep

async def f(sleep):
    sleep(1)
";
        assert_eq!(lines(src), vec![]);
    }
}
