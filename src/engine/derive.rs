//! Computing `[[derive]]` fields for a matched line.

use std::borrow::Cow;

use crate::rules::{Derive, RuleFile};

/// Longest derived value kept after a replacement, in bytes: far beyond any label value
/// (labels are cut to 1024 bytes), and small enough that chained replacements stay cheap.
const MAX_DERIVED_BYTES: usize = 64 * 1024;

/// The derived field values of the current line, reused from line to line.
#[derive(Debug, Default)]
pub struct Derived {
    /// The value each `[[derive]]` table gave, by table index.
    values: Vec<Vec<u8>>,
    /// The table whose value a field currently has, by field index, or `None` for a field
    /// as parsed.
    provider: Vec<Option<usize>>,
    scratch: Vec<u8>,
}

impl Derived {
    /// Buffers for a file without `[[derive]]` tables.
    pub const fn none() -> Derived {
        Derived {
            values: Vec::new(),
            provider: Vec::new(),
            scratch: Vec::new(),
        }
    }

    /// Creates the buffers for a rule file's `[[derive]]` tables.
    pub fn new(file: &RuleFile) -> Derived {
        let provider = if file.derives.is_empty() {
            Vec::new()
        } else {
            vec![None; file.fields.len()]
        };
        Derived {
            values: vec![Vec::new(); file.derives.len()],
            provider,
            scratch: Vec::new(),
        }
    }

    /// The derived value of a field, or `None` when the field has its parsed value.
    #[inline]
    pub fn get(&self, field: usize) -> Option<&[u8]> {
        Some(&self.values[self.table_of(field)?])
    }

    /// Returns the index of the table that gave a field its current value, or `None` when the
    /// field has its parsed value.
    #[inline]
    pub fn table_of(&self, field: usize) -> Option<usize> {
        *self.provider.get(field)?
    }

    /// Runs the tables in order. `parsed` gives the value of a field as parsed from the line.
    pub fn compute<'a>(&mut self, derives: &[Derive], parsed: impl Fn(usize) -> &'a [u8]) {
        let Derived {
            values,
            provider,
            scratch,
        } = self;
        provider.fill(None);
        for (table, derive) in derives.iter().enumerate() {
            let input = match provider[derive.from] {
                Some(earlier) => &values[earlier][..],
                None => parsed(derive.from),
            };
            scratch.clear();
            scratch.extend_from_slice(input);
            apply_steps(derive, scratch);
            std::mem::swap(&mut values[table], scratch);
            provider[derive.field] = Some(table);
        }
    }
}

/// Applies a table's steps to a value in place, in the documented order: lowercase, replace,
/// status_class, map, allow.
fn apply_steps(derive: &Derive, value: &mut Vec<u8>) {
    if derive.lowercase {
        value.make_ascii_lowercase();
    }
    for (regex, with) in &derive.replace {
        let replaced = match regex.replace_all(value, with.as_slice()) {
            Cow::Owned(replaced) => Some(replaced),
            Cow::Borrowed(_) => None,
        };
        if let Some(mut replaced) = replaced {
            // Replacements that add text at every position could grow a value fast.
            replaced.truncate(MAX_DERIVED_BYTES);
            *value = replaced;
        }
    }
    if derive.status_class && value.len() == 3 && value.iter().all(u8::is_ascii_digit) {
        value[1] = b'x';
        value[2] = b'x';
    }
    if let Some(map) = &derive.map
        && let Some(mapped) = map.get(&value[..]).or(derive.map_default.as_ref())
    {
        set(value, mapped);
    }
    if let Some(allow) = &derive.allow
        && !allow.contains(&value[..])
    {
        set(value, &derive.other);
    }
}

fn set(value: &mut Vec<u8>, new: &[u8]) {
    value.clear();
    value.extend_from_slice(new);
}
