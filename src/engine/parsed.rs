//! A file parsed whole together with its scopes (every call collected), for those who ask
//! several questions of one file: `unblock graph` between its two passes, and the project
//! model reading a constructor's callers once for each of its parameters. Building the
//! scopes costs about as much as parsing, so both are kept.

use super::scope::Scopes;
use super::source::SourceFile;

self_cell::self_cell!(
    /// The scopes borrow the tree they were built from, so both live here together.
    pub struct ParsedFile {
        owner: SourceFile,
        #[covariant]
        dependent: Scopes,
    }
);

impl ParsedFile {
    pub fn of(file: SourceFile) -> ParsedFile {
        ParsedFile::new(file, |file| Scopes::build_every_call(file))
    }

    pub fn file(&self) -> &SourceFile {
        self.borrow_owner()
    }

    pub fn scopes(&self) -> &Scopes<'_> {
        self.borrow_dependent()
    }
}
