//! The category tree and its invariants.

use crate::ids::CategoryId;
use crate::DomainError;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// A category as stored: the tree is given by `parent` links.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Category {
    /// Its id.
    pub id: CategoryId,
    /// Its parent; `None` at the top level.
    pub parent: Option<CategoryId>,
    /// Display name.
    pub name: String,
    /// Optional external key, unique on the platform when set.
    pub idnumber: String,
    /// Whether people without `course:viewhidden` see it.
    pub visible: bool,
    /// Sort order among its siblings.
    pub sort_order: i64,
}

/// Validates a category name typed by a person.
pub fn parse_category_name(value: &str) -> Result<String, DomainError> {
    let v = value.trim();
    if v.is_empty() {
        return Err(DomainError::invalid("category name", "must not be empty"));
    }
    if v.chars().any(char::is_control) || v.chars().count() > 255 {
        return Err(DomainError::invalid(
            "category name",
            "at most 255 characters, no control characters",
        ));
    }
    Ok(v.to_string())
}

/// A category with its position in the tree, as listed to users and peers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TreeEntry {
    /// The category.
    pub category: Category,
    /// Names from the top level down to this one, joined with " / ".
    pub path: String,
    /// 0 for a top-level category.
    pub depth: usize,
}

/// Orders categories parents-before-children (depth first, by sort order then name) with paths.
///
/// Fails if a parent is unknown or the links form a cycle, which the store must never allow.
pub fn flatten_tree(categories: &[Category]) -> Result<Vec<TreeEntry>, DomainError> {
    let mut children: HashMap<Option<CategoryId>, Vec<&Category>> = HashMap::new();
    for c in categories {
        if let Some(p) = c.parent {
            if !categories.iter().any(|o| o.id == p) {
                return Err(DomainError::Tree(format!(
                    "category {} has unknown parent {p}",
                    c.id
                )));
            }
        }
        children.entry(c.parent).or_default().push(c);
    }
    for list in children.values_mut() {
        list.sort_by(|a, b| (a.sort_order, &a.name, a.id).cmp(&(b.sort_order, &b.name, b.id)));
    }
    let mut out = Vec::with_capacity(categories.len());
    let mut stack: Vec<(&Category, String, usize)> = children
        .get(&None)
        .map(|top| top.iter().rev().map(|c| (*c, c.name.clone(), 0)).collect())
        .unwrap_or_default();
    while let Some((c, path, depth)) = stack.pop() {
        if let Some(kids) = children.get(&Some(c.id)) {
            for k in kids.iter().rev() {
                stack.push((k, format!("{path} / {}", k.name), depth + 1));
            }
        }
        out.push(TreeEntry {
            category: c.clone(),
            path,
            depth,
        });
    }
    if out.len() != categories.len() {
        return Err(DomainError::Tree("the parent links form a cycle".into()));
    }
    Ok(out)
}

/// Whether making `new_parent` the parent of `moved` would create a cycle.
pub fn would_cycle(categories: &[Category], moved: CategoryId, new_parent: CategoryId) -> bool {
    let parent_of: HashMap<_, _> = categories.iter().map(|c| (c.id, c.parent)).collect();
    let mut cursor = Some(new_parent);
    let mut steps = 0;
    while let Some(id) = cursor {
        if id == moved || steps > categories.len() {
            return true;
        }
        cursor = parent_of.get(&id).copied().flatten();
        steps += 1;
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cat(id: i64, parent: Option<i64>, name: &str) -> Category {
        Category {
            id: CategoryId(id),
            parent: parent.map(CategoryId),
            name: name.into(),
            idnumber: String::new(),
            visible: true,
            sort_order: 0,
        }
    }

    #[test]
    fn parents_come_before_children_with_paths() {
        let cats = [
            cat(3, Some(1), "Algebra"),
            cat(1, None, "Maths"),
            cat(2, None, "Arts"),
        ];
        let flat = flatten_tree(&cats).unwrap();
        let paths: Vec<_> = flat.iter().map(|e| e.path.as_str()).collect();
        assert_eq!(paths, ["Arts", "Maths", "Maths / Algebra"]);
        assert_eq!(flat[2].depth, 1);
    }

    #[test]
    fn cycles_and_unknown_parents_are_refused() {
        assert!(flatten_tree(&[cat(1, Some(9), "x")]).is_err());
        assert!(flatten_tree(&[cat(1, Some(2), "a"), cat(2, Some(1), "b")]).is_err());
        let cats = [
            cat(1, None, "a"),
            cat(2, Some(1), "b"),
            cat(3, Some(2), "c"),
        ];
        assert!(would_cycle(&cats, CategoryId(1), CategoryId(3)));
        assert!(!would_cycle(&cats, CategoryId(3), CategoryId(1)));
    }

    #[test]
    fn names_are_validated() {
        assert!(parse_category_name("  ").is_err());
        assert_eq!(parse_category_name(" Sciences ").unwrap(), "Sciences");
    }
}
