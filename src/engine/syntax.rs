//! Field access by id. `Node::child_by_field_name` looks the name up by comparing it with every
//! field name of the grammar, on every call; the engine asks for fields of millions of nodes,
//! so the ids are looked up once.

use std::sync::OnceLock;

use tree_sitter::Node;

macro_rules! fields {
    ($($name:literal),* $(,)?) => {
        const FIELD_NAMES: &[&str] = &[$($name),*];
    };
}

fields!(
    "name",
    "left",
    "function",
    "attribute",
    "arguments",
    "object",
    "body",
    "right",
    "alias",
    "type",
    "value",
    "parameters",
    "condition",
    "operator",
    "module_name",
    "definition",
    "consequence",
    "argument",
    "return_type",
);

fn field_ids() -> &'static [Option<u16>] {
    static IDS: OnceLock<Vec<Option<u16>>> = OnceLock::new();
    IDS.get_or_init(|| {
        let language: tree_sitter::Language = tree_sitter_python::LANGUAGE.into();
        FIELD_NAMES
            .iter()
            .map(|name| language.field_id_for_name(name).map(|id| id.get()))
            .collect()
    })
}

pub trait Field<'t> {
    /// The child in field `name` (one of the grammar's field names listed above).
    fn field(&self, name: &'static str) -> Option<Node<'t>>;
}

impl<'t> Field<'t> for Node<'t> {
    #[inline]
    fn field(&self, name: &'static str) -> Option<Node<'t>> {
        match FIELD_NAMES.iter().position(|n| *n == name) {
            Some(index) => self.child_by_field_id(field_ids()[index]?),
            // A field this table does not list yet: correct, only slower.
            None => self.child_by_field_name(name),
        }
    }
}

/// What a call passes (see [`crate::finding::Arguments`]): `f(a, b, key=v, other=None)`
/// gives two positional arguments and the keyword `key`.
pub fn arguments_of(file: &super::source::SourceFile, call: Node) -> crate::finding::Arguments {
    let mut arguments = crate::finding::Arguments::default();
    let Some(list) = call.field("arguments") else {
        return arguments;
    };
    let mut spread = false;
    let mut cursor = list.walk();
    for argument in list.named_children(&mut cursor) {
        match argument.kind() {
            "keyword_argument" => {
                let passes_none = argument.field("value").is_some_and(|v| v.kind() == "none");
                if let (Some(name), false) = (argument.field("name"), passes_none) {
                    arguments.keywords.push(file.text(name).to_string());
                }
            }
            "list_splat" | "dictionary_splat" => {
                spread = true;
                arguments.spread = true;
            }
            "comment" => {}
            _ if !spread => arguments.positional += 1,
            _ => {}
        }
    }
    arguments
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_listed_field_exists_in_the_grammar() {
        for (name, id) in FIELD_NAMES.iter().zip(field_ids()) {
            assert!(id.is_some(), "tree-sitter-python has no field `{name}`");
        }
    }
}
