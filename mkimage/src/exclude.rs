//! `--exclude GLOB`: paths left out of `--dir` trees and `--tar` layers.
//!
//! A pattern is matched against the path relative to the tree (or archive)
//! root, without a leading `/`: `var/cache/apt`, `usr/share/doc/x/README`.
//! `*` and `?` match within one name (never a `/`), `**` matches any number
//! of whole names, `[abc]`/`[a-z]`/`[!a]` match one character. A pattern
//! with no `/` matches a name at any depth (`*.pyc` excludes every `.pyc`);
//! one with a `/` matches from the root (a leading `/` is allowed and
//! ignored). An excluded directory is left out with everything below it.

use globset::{GlobBuilder, GlobSet, GlobSetBuilder};

/// A set of `--exclude` patterns.
#[derive(Clone, Debug)]
pub struct Excludes {
    set: GlobSet,
    any: bool,
}

impl Default for Excludes {
    fn default() -> Self {
        Excludes {
            set: GlobSet::empty(),
            any: false,
        }
    }
}

impl Excludes {
    pub fn new(patterns: &[String]) -> Result<Excludes, String> {
        let mut builder = GlobSetBuilder::new();
        for pattern in patterns {
            let anchored = pattern.trim_start_matches('/');
            if anchored.is_empty() {
                return Err(format!("--exclude '{pattern}': empty pattern"));
            }
            let full = if pattern.contains('/') {
                anchored.to_string()
            } else {
                format!("**/{anchored}")
            };
            let glob = GlobBuilder::new(&full)
                .literal_separator(true)
                .backslash_escape(true)
                .build()
                .map_err(|e| format!("--exclude '{pattern}': {e}"))?;
            builder.add(glob);
        }
        let set = builder.build().map_err(|e| format!("--exclude: {e}"))?;
        Ok(Excludes {
            set,
            any: !patterns.is_empty(),
        })
    }

    /// Whether the tree-relative path `rel` (no leading `/`) is excluded.
    pub fn matches(&self, rel: &str) -> bool {
        self.any && self.set.is_match(rel)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ex(patterns: &[&str]) -> Excludes {
        let patterns: Vec<String> = patterns.iter().map(|p| p.to_string()).collect();
        Excludes::new(&patterns).expect("patterns")
    }

    #[test]
    fn names_match_at_any_depth_paths_from_the_root() {
        let e = ex(&[
            "*.pyc",
            "/var/cache",
            "usr/share/doc/**/README",
            "tmp?",
            "[ab]x",
        ]);
        assert!(e.matches("x.pyc"));
        assert!(e.matches("usr/lib/python/x.pyc"));
        assert!(e.matches("var/cache"));
        assert!(!e.matches("srv/var/cache"));
        assert!(e.matches("usr/share/doc/README"));
        assert!(e.matches("usr/share/doc/a/b/README"));
        assert!(!e.matches("usr/share/doc/a/README.md"));
        assert!(e.matches("tmp1") && !e.matches("tmp12"));
        assert!(e.matches("d/ax") && e.matches("bx") && !e.matches("cx"));
        // '*' never crosses a '/'.
        let e = ex(&["usr/*/doc"]);
        assert!(e.matches("usr/share/doc"));
        assert!(!e.matches("usr/local/share/doc"));
        assert!(!Excludes::default().matches("anything"));
        assert!(Excludes::new(&["[".to_string()]).is_err());
    }
}
