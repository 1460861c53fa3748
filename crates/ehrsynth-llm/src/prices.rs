//! Token prices per model, in US dollars per million tokens: a built-in table for the common
//! OpenAI, Anthropic and Gemini models, which users override or extend from a TOML file
//! (`model = { input = .., output = .. }`, model names with dots in quotes). A model name is
//! matched exactly, else by the longest table entry it starts with (followed by `-`, `@` or
//! `:`), so dated snapshots such as `gpt-4o-2024-08-06` resolve to `gpt-4o`.
//!
//! The built-in prices are the standard (non-batch, non-cached) list prices for text, for
//! prompts under the long-context thresholds, as published on the providers' pricing pages
//! (openai.com/api/pricing, anthropic.com/pricing, ai.google.dev/gemini-api/docs/pricing) in
//! mid-2025. Prices change: check them before budgeting a large run, and override them here.

use std::path::Path;

/// Prices in US dollars per million tokens.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Price {
    /// Per million prompt tokens.
    pub input_per_million: f64,
    /// Per million completion tokens.
    pub output_per_million: f64,
}

impl Price {
    /// The cost of `input` prompt tokens and `output` completion tokens.
    pub fn cost(&self, input: u64, output: u64) -> f64 {
        (input as f64 * self.input_per_million + output as f64 * self.output_per_million) / 1e6
    }
}

/// When and where the built-in prices come from.
pub const BUILTIN_PRICES_AS_OF: &str = "mid-2025, from the providers' public pricing pages";

/// (model, input, output) in US dollars per million tokens.
const BUILTIN: &[(&str, f64, f64)] = &[
    // OpenAI
    ("gpt-4o", 2.50, 10.00),
    ("gpt-4o-mini", 0.15, 0.60),
    ("gpt-4.1", 2.00, 8.00),
    ("gpt-4.1-mini", 0.40, 1.60),
    ("gpt-4.1-nano", 0.10, 0.40),
    ("o1", 15.00, 60.00),
    ("o1-mini", 1.10, 4.40),
    ("o3", 2.00, 8.00),
    ("o3-mini", 1.10, 4.40),
    ("o4-mini", 1.10, 4.40),
    // Anthropic
    ("claude-3-5-sonnet", 3.00, 15.00),
    ("claude-3-5-haiku", 0.80, 4.00),
    ("claude-3-7-sonnet", 3.00, 15.00),
    ("claude-sonnet-4", 3.00, 15.00),
    ("claude-opus-4", 15.00, 75.00),
    ("claude-3-opus", 15.00, 75.00),
    ("claude-3-haiku", 0.25, 1.25),
    // Google Gemini (prompts up to 128k tokens for 1.5, 200k for 2.5 Pro)
    ("gemini-1.5-pro", 1.25, 5.00),
    ("gemini-1.5-flash", 0.075, 0.30),
    ("gemini-2.0-flash", 0.10, 0.40),
    ("gemini-2.0-flash-lite", 0.075, 0.30),
    ("gemini-2.5-pro", 1.25, 10.00),
    ("gemini-2.5-flash", 0.30, 2.50),
    ("gemini-2.5-flash-lite", 0.10, 0.40),
];

/// Why a price file cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("cannot use the price file {path}: {cause}")]
pub struct PriceFileError {
    path: String,
    #[source]
    cause: PriceFileCause,
}

/// What went wrong with a price file.
#[derive(Debug, thiserror::Error)]
pub enum PriceFileCause {
    /// It could not be read.
    #[error(transparent)]
    Io(#[from] std::io::Error),
    /// Its text is not a price table.
    #[error(transparent)]
    Text(#[from] PriceTextError),
}

/// Why price text (`model = { input = .., output = .. }`) cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum PriceTextError {
    /// Not TOML.
    #[error(transparent)]
    Toml(#[from] toml::de::Error),
    /// A model lacks one of its two prices.
    #[error("'{model}' needs {key} = price per million {key} tokens")]
    Missing {
        /// The model.
        model: String,
        /// `input` or `output`.
        key: &'static str,
    },
    /// A price is not a number.
    #[error("'{model}'.{key} is not a number")]
    NotANumber {
        /// The model.
        model: String,
        /// `input` or `output`.
        key: &'static str,
    },
    /// A price is negative or not finite.
    #[error("'{model}'.{key} must be a price of 0 or more")]
    Negative {
        /// The model.
        model: String,
        /// `input` or `output`.
        key: &'static str,
    },
}

/// Model prices: the built-in table plus user overrides.
#[derive(Debug, Clone, PartialEq)]
pub struct PriceTable {
    entries: Vec<(String, Price)>,
}

impl Default for PriceTable {
    fn default() -> Self {
        Self::builtin()
    }
}

impl PriceTable {
    /// The built-in table.
    pub fn builtin() -> Self {
        Self {
            entries: BUILTIN
                .iter()
                .map(|&(model, input, output)| {
                    (
                        model.to_string(),
                        Price {
                            input_per_million: input,
                            output_per_million: output,
                        },
                    )
                })
                .collect(),
        }
    }

    /// The entries, in table order.
    pub fn entries(&self) -> &[(String, Price)] {
        &self.entries
    }

    /// Sets (or adds) `model`'s price.
    pub fn set(&mut self, model: &str, price: Price) {
        match self.entries.iter_mut().find(|(m, _)| m == model) {
            Some(entry) => entry.1 = price,
            None => self.entries.push((model.to_string(), price)),
        }
    }

    /// Overrides and extends the table from TOML text: `model = { input = 2.5, output = 10 }`.
    pub fn merge_toml(&mut self, text: &str) -> Result<(), PriceTextError> {
        let table: toml::Table = text.parse()?;
        for (model, value) in table {
            let number = |key: &'static str| -> Result<f64, PriceTextError> {
                let v = value.get(key).ok_or_else(|| PriceTextError::Missing {
                    model: model.clone(),
                    key,
                })?;
                let price = v
                    .as_float()
                    .or_else(|| v.as_integer().map(|i| i as f64))
                    .ok_or_else(|| PriceTextError::NotANumber {
                        model: model.clone(),
                        key,
                    })?;
                if !(price.is_finite() && price >= 0.0) {
                    return Err(PriceTextError::Negative {
                        model: model.clone(),
                        key,
                    });
                }
                Ok(price)
            };
            let price = Price {
                input_per_million: number("input")?,
                output_per_million: number("output")?,
            };
            self.set(&model, price);
        }
        Ok(())
    }

    /// Reads overrides from a TOML file.
    pub fn merge_file(&mut self, path: &Path) -> Result<(), PriceFileError> {
        let fail = |cause: PriceFileCause| PriceFileError {
            path: path.display().to_string(),
            cause,
        };
        let text = std::fs::read_to_string(path).map_err(|e| fail(e.into()))?;
        self.merge_toml(&text).map_err(|e| fail(e.into()))
    }

    /// `model`'s price: exact match, else the longest entry that `model` starts with followed by
    /// `-`, `@` or `:` (a dated snapshot or a version tag). A `models/` prefix (Gemini's resource
    /// names) is ignored.
    pub fn lookup(&self, model: &str) -> Option<Price> {
        let model = model.trim();
        let model = model.strip_prefix("models/").unwrap_or(model);
        if let Some((_, price)) = self.entries.iter().find(|(m, _)| m == model) {
            return Some(*price);
        }
        self.entries
            .iter()
            .filter(|(m, _)| {
                model
                    .strip_prefix(m.as_str())
                    .is_some_and(|rest| rest.starts_with(['-', '@', ':']))
            })
            .max_by_key(|(m, _)| m.len())
            .map(|(_, price)| *price)
    }
}

/// The price a run counts with, the one rule for `generate` and `study`: the table's entry for
/// `model`, else 0 when the server runs beside the data (`free`: openai-compatible, local), with
/// `input` / `output` overriding either. `Ok(None)`: a hosted model whose price nobody knows
/// (callers refuse a cost budget with it); an error when only one override is given for it.
pub fn run_price(
    table: &PriceTable,
    model: &str,
    free: bool,
    input: Option<f64>,
    output: Option<f64>,
) -> Result<Option<Price>, String> {
    let base = table.lookup(model).or(free.then_some(Price::default()));
    match (base, input, output) {
        (base, None, None) => Ok(base),
        (Some(base), input, output) => Ok(Some(Price {
            input_per_million: input.unwrap_or(base.input_per_million),
            output_per_million: output.unwrap_or(base.output_per_million),
        })),
        (None, Some(input), Some(output)) => Ok(Some(Price {
            input_per_million: input,
            output_per_million: output,
        })),
        (None, _, _) => Err(format!(
            "no price is known for model '{model}': give both the input and the output price"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_run_price_takes_the_table_then_the_overrides() {
        let table = PriceTable::builtin();
        let gpt = run_price(&table, "gpt-4o-2024-08-06", false, None, None).unwrap();
        assert_eq!(gpt.unwrap().input_per_million, 2.5);
        let over = run_price(&table, "gpt-4o", false, None, Some(1.0))
            .unwrap()
            .unwrap();
        assert_eq!(
            (over.input_per_million, over.output_per_million),
            (2.5, 1.0)
        );
        assert_eq!(run_price(&table, "mystery", false, None, None), Ok(None));
        assert!(run_price(&table, "mystery", false, Some(1.0), None).is_err());
        assert_eq!(
            run_price(&table, "llama-3", true, None, None),
            Ok(Some(Price::default()))
        );
    }

    fn price(input: f64, output: f64) -> Option<Price> {
        Some(Price {
            input_per_million: input,
            output_per_million: output,
        })
    }

    #[test]
    fn models_match_exactly_then_by_longest_prefix() {
        let table = PriceTable::builtin();
        assert_eq!(table.lookup("gpt-4o"), price(2.5, 10.0));
        assert_eq!(table.lookup("gpt-4o-2024-08-06"), price(2.5, 10.0));
        assert_eq!(table.lookup("gpt-4o-mini-2024-07-18"), price(0.15, 0.6));
        assert_eq!(table.lookup("o1"), price(15.0, 60.0));
        assert_eq!(table.lookup("o1-2024-12-17"), price(15.0, 60.0));
        assert_eq!(table.lookup("o3-mini-2025-01-31"), price(1.1, 4.4));
        assert_eq!(table.lookup("claude-3-5-sonnet-20241022"), price(3.0, 15.0));
        assert_eq!(table.lookup("claude-opus-4-20250514"), price(15.0, 75.0));
        assert_eq!(table.lookup("claude-3-7-sonnet@20250219"), price(3.0, 15.0));
        assert_eq!(table.lookup("models/gemini-2.5-flash"), price(0.3, 2.5));
        assert_eq!(table.lookup("gemini-2.5-flash-lite"), price(0.1, 0.4));
        assert_eq!(table.lookup("gemini-1.5-pro-002"), price(1.25, 5.0));
        // A prefix must end at a separator: "o10" is not "o1", "gpt-4" is not "gpt-4o".
        assert_eq!(table.lookup("o10"), None);
        assert_eq!(table.lookup("gpt-4"), None);
        assert_eq!(table.lookup("llama-3.1-8b"), None);
    }

    #[test]
    fn a_price_file_overrides_and_extends_the_table() {
        let mut table = PriceTable::builtin();
        table
            .merge_toml(
                r#"
                gpt-4o = { input = 1.25, output = 5 }
                "my-finetune" = { input = 0.5, output = 2.0 }
                "#,
            )
            .unwrap();
        assert_eq!(table.lookup("gpt-4o-2024-08-06"), price(1.25, 5.0));
        assert_eq!(table.lookup("my-finetune"), price(0.5, 2.0));
        assert_eq!(table.lookup("gpt-4o-mini"), price(0.15, 0.6), "others kept");
        for bad in [
            "x = { input = 1 }",
            "x = { input = 'a', output = 1 }",
            "x = { input = -1, output = 1 }",
            "not toml",
        ] {
            let mut table = PriceTable::builtin();
            assert!(table.merge_toml(bad).is_err(), "{bad}");
        }
        let err = PriceTable::builtin()
            .merge_file(Path::new("/nonexistent/prices.toml"))
            .unwrap_err();
        assert!(err.to_string().contains("/nonexistent/prices.toml"));
    }

    #[test]
    fn costs_are_per_million_tokens() {
        let p = Price {
            input_per_million: 2.0,
            output_per_million: 8.0,
        };
        assert!((p.cost(1_000_000, 500_000) - 6.0).abs() < 1e-12);
    }
}
