//! One module per subcommand, plus helpers they share.

pub mod cohort;
pub mod evaluate;
pub mod generate;
pub mod importance;
pub mod model;
pub mod quickstart;
pub mod schema;
pub mod split;
pub mod study;

use std::path::{Path, PathBuf};

/// The schema file written beside a data file: `demo.parquet` -> `demo.schema.toml`.
pub fn schema_path_for(data: &Path) -> PathBuf {
    let name = data
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let stem = name.strip_suffix(".gz").unwrap_or(&name);
    let stem = [".csv", ".tsv", ".parquet"]
        .iter()
        .find_map(|ext| stem.strip_suffix(ext))
        .unwrap_or(stem);
    data.with_file_name(format!("{stem}.schema.toml"))
}

/// A path made absolute and resolved where it exists (its folder where it does not), so that
/// `./t.csv` and `t.csv` compare equal.
fn resolved(path: &Path) -> PathBuf {
    if let Ok(p) = path.canonicalize() {
        return p;
    }
    let parent = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    match (parent.canonicalize(), path.file_name()) {
        (Ok(dir), Some(name)) => dir.join(name),
        _ => path.to_path_buf(),
    }
}

/// Refuses a run whose outputs would overwrite one of its inputs (a table or the schema beside
/// it) or each other, and says which existing files it will replace (rerunning replaces them;
/// that is allowed, but said). `inputs` and `outputs` name every file, schema files included.
pub fn check_outputs(inputs: &[&Path], outputs: &[(&str, &Path)]) -> anyhow::Result<()> {
    let read: Vec<(PathBuf, &Path)> = inputs.iter().map(|p| (resolved(p), *p)).collect();
    let mut written: Vec<(PathBuf, &str)> = Vec::new();
    for (what, path) in outputs {
        let target = resolved(path);
        if let Some((_, input)) = read.iter().find(|(r, _)| *r == target) {
            anyhow::bail!(
                "{what} {} is also an input ({}): writing it would destroy that input; choose another path",
                path.display(),
                input.display()
            );
        }
        if let Some((_, other)) = written.iter().find(|(w, _)| *w == target) {
            anyhow::bail!(
                "{what} and {other} are the same file ({}): one would overwrite the other",
                path.display()
            );
        }
        written.push((target, what));
    }
    for (what, path) in outputs {
        if path.exists() {
            eprintln!("replacing {} ({what})", path.display());
        }
    }
    Ok(())
}

/// The files a command reads: `data`, the schema beside it, and the `--schema` file if given.
pub fn data_inputs(data: &Path, schema: Option<&Path>) -> Vec<PathBuf> {
    with_schema(data)
        .into_iter()
        .chain(schema.map(Path::to_path_buf))
        .collect()
}

/// A data file and the schema file beside it.
pub fn with_schema(data: &Path) -> [PathBuf; 2] {
    [data.to_path_buf(), schema_path_for(data)]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schema_files_sit_beside_the_data() {
        assert_eq!(
            schema_path_for(Path::new("out/demo.parquet")),
            PathBuf::from("out/demo.schema.toml")
        );
        assert_eq!(
            schema_path_for(Path::new("x.csv.gz")),
            PathBuf::from("x.schema.toml")
        );
    }

    #[test]
    fn an_output_that_is_an_input_or_another_output_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let train = dir.path().join("t.csv");
        std::fs::write(&train, "a\n1\n").unwrap();
        let same = dir.path().join(".").join("t.csv");
        let err = check_outputs(&[&train], &[("--out", &same)]).unwrap_err();
        assert!(err.to_string().contains("is also an input"), "{err}");
        let (a, b) = (dir.path().join("a.csv"), dir.path().join("a.csv"));
        let err = check_outputs(&[&train], &[("--train", &a), ("--holdout", &b)]).unwrap_err();
        assert!(err.to_string().contains("are the same file"), "{err}");
        assert!(check_outputs(&[&train], &[("--out", &dir.path().join("new.csv"))]).is_ok());
    }
}
