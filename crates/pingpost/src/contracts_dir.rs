//! Reads a contracts/ directory: every `*.toml` file, in name order.

use anyhow::{Context, Result};
use pingpost_core::config::{load_document, Config, ConfigDocument, ConfigError, SourceFile};
use std::path::Path;

/// `Err` for I/O problems (missing directory); `Ok(Err(..))` for configuration errors.
/// The files' configuration, and the same as the document a fresh store is seeded with.
pub fn load(dir: &Path) -> Result<Result<(ConfigDocument, Config), Vec<ConfigError>>> {
    let mut paths = Vec::new();
    for entry in std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == "toml") {
            paths.push(path);
        }
    }
    paths.sort();
    let mut files = Vec::with_capacity(paths.len());
    for path in paths {
        let text = std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
        files.push(SourceFile { name: path.display().to_string(), text });
    }
    Ok(load_document(&files))
}
