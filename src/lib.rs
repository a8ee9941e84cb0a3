//! unblock: find the calls that block the asyncio event loop in Python code, and rewrite them
//! to async-native code. See ARCHITECTURE.md for the map of the code.

pub mod branch;
pub mod catalogue;
pub mod cli;
pub mod config;
pub mod engine;
pub mod finding;
pub mod fixes;
pub mod graph;
pub mod lsp;
pub mod output;
pub mod recipes;
