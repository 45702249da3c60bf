//! Glob expansion: which files to follow, and which directories to watch for new ones.
//!
//! A glob is split into path components. The leading components without wildcards form a base
//! directory; the walk lists only the directories the remaining components can reach, so a
//! glob such as `/var/log/*/app/*.log` never reads unrelated parts of the tree. Each component
//! may use `*`, `?`, `[...]` and `{a,b}`; a component that is exactly `**` matches any number
//! of directories. Alternatives inside `{...}` cannot contain `/`.

use std::ffi::OsStr;
use std::fs;
use std::path::{Component, Path, PathBuf};

use globset::{GlobBuilder, GlobMatcher};

/// Extensions of compressed files, which are never followed: their bytes are not lines.
const COMPRESSED_EXTENSIONS: [&str; 5] = ["gz", "bz2", "zst", "xz", "lz4"];

/// Limits `**` walks, so a symlink loop or a very deep tree cannot run away.
const MAX_DEPTH: usize = 32;

/// One part of a glob between slashes.
#[derive(Debug, Clone)]
enum Part {
    Literal(String),
    Pattern(GlobMatcher),
    AnyDepth,
}

/// A compiled glob.
#[derive(Debug, Clone)]
pub struct Glob {
    text: String,
    base: PathBuf,
    parts: Vec<Part>,
}

/// What one expansion found.
#[derive(Debug, Default)]
pub struct Expansion {
    /// Regular files that match, sorted, without duplicates.
    pub files: Vec<PathBuf>,
    /// Directories whose changes can change the result: every directory listed during the
    /// walk, or the nearest existing ancestor of a base directory that does not exist yet.
    pub directories: Vec<PathBuf>,
}

impl Glob {
    /// Compiles a glob, or returns a message saying what is wrong with it. A relative glob is
    /// taken relative to the current directory, and made absolute so that the paths it yields
    /// compare equal to the paths that file events carry.
    pub fn new(text: &str) -> Result<Glob, String> {
        let absolute = std::env::current_dir()
            .map_err(|error| format!("invalid glob {text:?}: no current directory: {error}"))?
            .join(text);
        let path = absolute.as_path();
        let mut base = PathBuf::new();
        let mut parts = Vec::new();

        for component in path.components() {
            let piece = component.as_os_str().to_string_lossy();
            let is_literal = parts.is_empty() && !has_wildcard(&piece);
            match component {
                Component::RootDir | Component::Prefix(_) => base.push(component.as_os_str()),
                _ if is_literal => base.push(component.as_os_str()),
                _ if piece == "**" => parts.push(Part::AnyDepth),
                _ if has_wildcard(&piece) => parts.push(Part::Pattern(compile(text, &piece)?)),
                _ => parts.push(Part::Literal(piece.into_owned())),
            }
        }

        if parts.is_empty() {
            // A plain path: the last component is the file.
            let file = base
                .file_name()
                .ok_or_else(|| format!("invalid glob {text:?}: no file name"))?;
            parts.push(Part::Literal(file.to_string_lossy().into_owned()));
            base.pop();
        }
        if base.as_os_str().is_empty() {
            base.push(".");
        }
        Ok(Glob {
            text: text.to_owned(),
            base,
            parts,
        })
    }

    /// The glob as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Lists the files that match now.
    pub fn expand(&self, into: &mut Expansion) {
        if self.base.is_dir() {
            walk(&self.base, &self.parts, 0, into);
        } else {
            into.directories.push(nearest_existing_ancestor(&self.base));
        }
    }

    /// Returns true when `path` matches this glob, without touching the file system.
    pub fn matches(&self, path: &Path) -> bool {
        let Ok(rest) = path.strip_prefix(&self.base) else {
            return false;
        };
        let names: Vec<&OsStr> = rest.iter().collect();
        matches_parts(&self.parts, &names)
    }
}

/// Expands several globs into one sorted, duplicate-free list.
pub fn expand_all(globs: &[Glob]) -> Expansion {
    let mut expansion = Expansion::default();
    for glob in globs {
        glob.expand(&mut expansion);
    }
    expansion.files.sort();
    expansion.files.dedup();
    expansion.directories.sort();
    expansion.directories.dedup();
    expansion
}

fn has_wildcard(text: &str) -> bool {
    text.contains(['*', '?', '[', '{'])
}

fn compile(text: &str, piece: &str) -> Result<GlobMatcher, String> {
    GlobBuilder::new(piece)
        .literal_separator(true)
        .backslash_escape(true)
        .build()
        .map(|glob| glob.compile_matcher())
        .map_err(|error| format!("invalid glob {text:?}: {}", error.kind()))
}

fn walk(directory: &Path, parts: &[Part], depth: usize, into: &mut Expansion) {
    let Some((part, rest)) = parts.split_first() else {
        return;
    };
    match part {
        Part::Literal(name) => visit(&directory.join(name), rest, depth, into),
        Part::Pattern(matcher) => {
            into.directories.push(directory.to_path_buf());
            for entry in list(directory) {
                if entry.file_name().is_some_and(|name| matcher.is_match(name)) {
                    visit(&entry, rest, depth, into);
                }
            }
        }
        Part::AnyDepth => {
            into.directories.push(directory.to_path_buf());
            walk(directory, rest, depth, into);
            if depth >= MAX_DEPTH {
                return;
            }
            for entry in list(directory) {
                // Symlinked directories are not entered, so a link loop cannot recurse.
                let is_real_dir = fs::symlink_metadata(&entry).is_ok_and(|meta| meta.is_dir());
                if is_real_dir {
                    walk(&entry, parts, depth + 1, into);
                }
            }
        }
    }
}

/// Continues the walk at `path`, which matched the current part.
fn visit(path: &Path, rest: &[Part], depth: usize, into: &mut Expansion) {
    if rest.is_empty() {
        if is_followable_file(path) {
            into.files.push(path.to_path_buf());
        }
        // The file's directory is watched so its rotation is seen, and so is the directory
        // of a symlink's target, where writes to the target are reported.
        if let Some(parent) = path.parent() {
            into.directories.push(parent.to_path_buf());
        }
        let target_parent = fs::canonicalize(path)
            .ok()
            .and_then(|real| Some(real.parent()?.to_path_buf()));
        into.directories.extend(target_parent);
    } else if path.is_dir() {
        walk(path, rest, depth + 1, into);
    }
}

fn is_followable_file(path: &Path) -> bool {
    !is_compressed(path) && path.is_file()
}

/// Returns true for names of compressed files, which are never read.
pub fn is_compressed(path: &Path) -> bool {
    path.extension().is_some_and(|extension| {
        COMPRESSED_EXTENSIONS
            .iter()
            .any(|known| extension == *known)
    })
}

fn list(directory: &Path) -> Vec<PathBuf> {
    let Ok(entries) = fs::read_dir(directory) else {
        return Vec::new();
    };
    let mut paths: Vec<PathBuf> = entries
        .filter_map(|entry| Some(entry.ok()?.path()))
        .collect();
    paths.sort();
    paths
}

fn nearest_existing_ancestor(path: &Path) -> PathBuf {
    path.ancestors()
        .find(|ancestor| !ancestor.as_os_str().is_empty() && ancestor.is_dir())
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf)
}

fn matches_parts(parts: &[Part], names: &[&OsStr]) -> bool {
    match (parts.split_first(), names.split_first()) {
        (None, None) => true,
        (Some((Part::AnyDepth, rest)), _) => {
            matches_parts(rest, names) || (!names.is_empty() && matches_parts(parts, &names[1..]))
        }
        (Some((Part::Literal(literal), rest)), Some((name, names))) => {
            OsStr::new(literal) == *name && matches_parts(rest, names)
        }
        (Some((Part::Pattern(matcher), rest)), Some((name, names))) => {
            matcher.is_match(name) && matches_parts(rest, names)
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn touch(path: &Path) {
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, b"x\n").unwrap();
    }

    fn relative(root: &Path, expansion: &Expansion) -> Vec<String> {
        expansion
            .files
            .iter()
            .map(|path| {
                path.strip_prefix(root)
                    .unwrap()
                    .to_string_lossy()
                    .into_owned()
            })
            .collect()
    }

    #[test]
    fn glob_forms_expand() {
        let root = tempfile::tempdir().unwrap();
        let root = root.path();
        for name in [
            "a.log",
            "b.log",
            "c.txt",
            "a.log.gz",
            "h1/app/x.log",
            "h2/app/y.log",
            "h2/deep/er/z.log",
        ] {
            touch(&root.join(name));
        }
        let cases: [(&str, &[&str]); 6] = [
            ("*.log", &["a.log", "b.log"]),
            ("?.log", &["a.log", "b.log"]),
            ("[a].log", &["a.log"]),
            ("{a,c}.*", &["a.log", "c.txt"]),
            ("*/app/*.log", &["h1/app/x.log", "h2/app/y.log"]),
            (
                "**/*.log",
                &[
                    "a.log",
                    "b.log",
                    "h1/app/x.log",
                    "h2/app/y.log",
                    "h2/deep/er/z.log",
                ],
            ),
        ];
        for (pattern, expected) in cases {
            let glob = Glob::new(&format!("{}/{pattern}", root.display())).unwrap();
            let found = expand_all(&[glob]);
            assert_eq!(relative(root, &found), expected, "{pattern}");
        }
    }

    #[test]
    fn plain_path_is_one_file() {
        let root = tempfile::tempdir().unwrap();
        touch(&root.path().join("access.log"));
        let glob = Glob::new(&format!("{}/access.log", root.path().display())).unwrap();
        let found = expand_all(&[glob]);
        assert_eq!(relative(root.path(), &found), ["access.log"]);
        assert_eq!(found.directories, [root.path().to_path_buf()]);
    }

    #[test]
    fn missing_base_watches_ancestor() {
        let root = tempfile::tempdir().unwrap();
        let glob = Glob::new(&format!("{}/later/logs/*.log", root.path().display())).unwrap();
        let found = expand_all(&[glob]);
        assert!(found.files.is_empty());
        assert_eq!(found.directories, [root.path().to_path_buf()]);
    }

    #[test]
    fn matches_without_file_system() {
        let glob = Glob::new("/var/log/**/*.log").unwrap();
        assert!(glob.matches(Path::new("/var/log/a.log")));
        assert!(glob.matches(Path::new("/var/log/x/y/a.log")));
        assert!(!glob.matches(Path::new("/var/log/a.log.1")));
        assert!(!glob.matches(Path::new("/srv/a.log")));
    }

    #[test]
    fn invalid_glob_rejected() {
        let error = Glob::new("/var/log/[a.log").unwrap_err();
        assert!(
            error.starts_with("invalid glob \"/var/log/[a.log\""),
            "{error}"
        );
    }
}
