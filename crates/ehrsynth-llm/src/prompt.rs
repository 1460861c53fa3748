//! The four prompting strategies of the study (../shared/PAPER.md) as templates.
//!
//! Placeholders: `{rows}` rows asked for; `{columns}` the header, comma separated; `{schema}` one
//! line per column (kind, unit, range, categories, meaning); `{statistics}` aggregate statistics
//! (k-suppressed); `{examples}` real rows (only with explicit opt-in, else a sentence saying
//! there are none; for the in-process model, which reads them at the start of its answer, a
//! sentence saying so); `{group}` the group every row belongs to (group strategy); `{format}` the
//! output instructions. A user's template file replaces a strategy's default; it must contain
//! `{rows}` and `{columns}`.

use crate::LlmError;
use crate::context::PromptContext;

/// The prompting strategies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Strategy {
    /// Show the data (statistics, or examples on opt-in) and ask for more rows like it.
    Naive,
    /// State every column's type, unit, range, categories and clinical relationships.
    Schema,
    /// Generate feature by feature, each conditioned on those already written.
    Conditional,
    /// Fix a demographic group first and condition every feature on it.
    Group,
}

impl Strategy {
    /// Parses `naive`, `schema`, `conditional` or `group`.
    pub fn parse(name: &str) -> Result<Self, LlmError> {
        match name.to_ascii_lowercase().as_str() {
            "naive" => Ok(Self::Naive),
            "schema" => Ok(Self::Schema),
            "conditional" => Ok(Self::Conditional),
            "group" => Ok(Self::Group),
            other => Err(LlmError::Invalid(format!(
                "unknown strategy '{other}': use naive, schema, conditional or group"
            ))),
        }
    }

    /// The strategy's name.
    pub fn name(self) -> &'static str {
        match self {
            Self::Naive => "naive",
            Self::Schema => "schema",
            Self::Conditional => "conditional",
            Self::Group => "group",
        }
    }

    /// The built-in template.
    pub fn default_template(self) -> &'static str {
        match self {
            Self::Naive => NAIVE,
            Self::Schema => SCHEMA,
            Self::Conditional => CONDITIONAL,
            Self::Group => GROUP,
        }
    }
}

const NAIVE: &str =
    "You are helping to create a synthetic dataset of intensive care unit (ICU) stays. \
Each row is one ICU stay with these columns: {columns}.

Statistics of the real data:
{statistics}

{examples}

Generate {rows} new rows with the same statistical and structural properties as this data.
{format}";

const SCHEMA: &str = "You are generating synthetic intensive care unit (ICU) patient records for research. \
Each record is one ICU stay. The columns, with their type, unit, valid range and meaning:
{schema}

Statistics of the real data:
{statistics}

{examples}

Generate {rows} diverse, clinically plausible and logically consistent patients. Keep every value \
inside its valid range and keep the clinical relationships between columns (for example, the minimum of \
a vital sign is at most its first and last value, which are at most its maximum; sicker patients have \
higher lactate and urea and lower blood pressure; hematocrit is about three times hemoglobin).
{format}";

const CONDITIONAL: &str = "You are generating synthetic intensive care unit (ICU) patient records for research, \
one feature at a time. For each patient, choose the value of each column in this order, each one \
conditioned on the values already chosen for that patient (for example, an older patient's heart rate \
and kidney function follow geriatric norms; a patient with high lactate is more likely to die):
{schema}

Statistics of the real data:
{statistics}

{examples}

Generate {rows} patients this way.
{format}";

const GROUP: &str = "You are generating synthetic intensive care unit (ICU) patient records for research. \
Every patient you generate belongs to this group: {group}. Condition every feature on membership of this \
group, so that the rows follow the group's own distributions. The columns:
{schema}

Statistics of the real data of this group:
{statistics}

{examples}

Generate {rows} patients of this group.
{format}";

/// What one request asks: the prompt's text and, for the in-process model, the rows its
/// answer starts with.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Prompt {
    /// The user message.
    pub text: String,
    /// CSV data lines (after the header) that open the answer, which the model continues:
    /// real example rows, given only to the in-process provider
    /// ([`PromptContext::answer_rows`]).
    pub answer_start: Option<String>,
}

impl From<String> for Prompt {
    fn from(text: String) -> Self {
        Self {
            text,
            answer_start: None,
        }
    }
}

impl From<&str> for Prompt {
    fn from(text: &str) -> Self {
        text.to_string().into()
    }
}

/// Output instructions for CSV answers.
pub fn csv_instructions(columns: &[String]) -> String {
    format!(
        "Answer with CSV only: first the header line\n{}\nthen one line per patient, values in that order, \
         numbers without units, an empty field for a missing value. No explanations.",
        columns.join(",")
    )
}

/// Output instructions for structured (JSON rows) answers, in place of [`csv_instructions`]:
/// the provider's schema carries the columns, the prompt says what to write.
pub fn json_instructions(columns: &[String]) -> String {
    format!(
        "Answer with JSON only: an object {{\"rows\": [...]}} holding one object per patient with \
         the keys {}, numbers without units, null for a missing value. No explanations.",
        columns.join(", ")
    )
}

/// A loaded template, default or from a user's file.
#[derive(Debug, Clone, PartialEq)]
pub struct Template {
    strategy: Strategy,
    text: String,
}

impl Template {
    /// The strategy's built-in template.
    pub fn builtin(strategy: Strategy) -> Self {
        Self {
            strategy,
            text: strategy.default_template().to_string(),
        }
    }

    /// A user's template; it must contain `{rows}` and `{columns}` (or `{format}`, which holds the header).
    pub fn custom(strategy: Strategy, text: &str) -> Result<Self, LlmError> {
        if !text.contains("{rows}") || !(text.contains("{columns}") || text.contains("{format}")) {
            return Err(LlmError::Invalid(
                "a prompt template must contain {rows} and {columns} (or {format}, which includes the header)".into(),
            ));
        }
        Ok(Self {
            strategy,
            text: text.to_string(),
        })
    }

    /// Whether the template says which group the rows belong to (`{group}`).
    pub fn mentions_group(&self) -> bool {
        self.text.contains("{group}")
    }

    /// The strategy.
    pub fn strategy(&self) -> Strategy {
        self.strategy
    }

    /// The request for `rows` rows: the rendered text and the rows the answer starts with.
    pub fn prompt(&self, context: &PromptContext, rows: usize, group: Option<&str>) -> Prompt {
        Prompt {
            text: self.render(context, rows, group),
            answer_start: context.answer_rows(),
        }
    }

    /// The prompt's text for `rows` rows; `group` is "column = value" for the group strategy.
    pub fn render(&self, context: &PromptContext, rows: usize, group: Option<&str>) -> String {
        let examples = match (&context.examples_csv, context.answer_rows()) {
            (Some(_), Some(rows)) => format!(
                "Your answer starts with the header and {} example rows from the real data; \
                 continue it with new patients.",
                rows.lines().count()
            ),
            (Some(csv), None) => format!("Example rows from the real data:\n{csv}"),
            (None, _) => {
                "No real rows are shown; use the description and statistics above.".to_string()
            }
        };
        let text = self
            .text
            .replace("{rows}", &rows.to_string())
            .replace("{columns}", &context.columns.join(", "))
            .replace("{schema}", &context.schema_text)
            .replace(
                "{statistics}",
                if context.statistics_text.is_empty() {
                    "(not provided)"
                } else {
                    &context.statistics_text
                },
            )
            .replace("{examples}", &examples)
            .replace("{group}", group.unwrap_or("(all patients)"))
            .replace("{format}", &csv_instructions(&context.columns));
        text.trim().to_string() + "\n"
    }
}
