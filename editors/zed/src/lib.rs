//! Starts `unblock lsp` for Python files: the `unblock` found on the PATH of the project's
//! environment (a virtualenv Zed activated, `uv tool`, `pipx`, `cargo install`).

use zed_extension_api::{self as zed, LanguageServerId, Result};

struct Unblock;

impl zed::Extension for Unblock {
    fn new() -> Self {
        Unblock
    }

    fn language_server_command(
        &mut self,
        _language_server_id: &LanguageServerId,
        worktree: &zed::Worktree,
    ) -> Result<zed::Command> {
        let command = worktree.which("unblock").ok_or_else(|| {
            "unblock is not on PATH: install it (pip install ., uv tool install ., or cargo install --path .)"
                .to_string()
        })?;
        Ok(zed::Command {
            command,
            args: vec!["lsp".into()],
            env: worktree.shell_env(),
        })
    }
}

zed::register_extension!(Unblock);
