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
}
