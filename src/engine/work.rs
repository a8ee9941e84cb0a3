//! A count of the steps taken by the loops whose cost once grew with the square of their input
//! (tree walks, lookups of the function around a finding, of a call's callee), so that a
//! test tells linear from quadratic by counting, never by the clock (tests/scaling.rs).
//! `UNBLOCK_TIMINGS=1` prints it when a command ends.

use std::sync::atomic::{AtomicU64, Ordering};

static STEPS: AtomicU64 = AtomicU64::new(0);

/// Adds `steps` to the count. Hot loops count locally and add once, so that two threads do
/// not fight over one cache line at every step.
pub fn count(steps: u64) {
    STEPS.fetch_add(steps, Ordering::Relaxed);
}

/// The steps counted so far in this process.
pub fn steps() -> u64 {
    STEPS.load(Ordering::Relaxed)
}
