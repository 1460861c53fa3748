//! Schema-constrained decoding for an in-process LLM: a byte-level automaton that accepts exactly
//! the CSV answers whose every row parses ([`crate::parse`]) and validates against the
//! schema, and a token mask computed from it at every decoding step.
//!
//! # The language ([`RowGrammar`])
//! In CSV ([`RowGrammar::csv`]) the answer is the header line (the column names, in the order
//! given, comma-separated), then `rows` data lines, each ending in `\n`, then nothing (only
//! end-of-text). A data line is one field per column separated by `,`. In JSON Lines
//! ([`RowGrammar::json_lines`]) there is no header and each line is one object with every
//! column as a key, in order (`{"age":61,"unit":"MICU","lactate":null}`). Between fields the
//! text is fixed (`,`, `\n`, `,"name":`, `}\n`), so the automaton is a sequence of literals and
//! fields. Each field follows a small rule compiled from the column's [`ColumnSpec`]:
//! - **Numbers** (integer and continuous): an optional `-`, an integer part without leading zeros
//!   (`0` or `[1-9][0-9]*`), and for continuous columns an optional `.` with 1 to `decimals`
//!   digits (3 by default, more only when the range is too narrow for 3). No exponent, no `+`, no
//!   `-0`. The value must lie in `[min, max]` (unbounded sides are capped at ±10¹²). Bounds are
//!   turned into an interval of integers at scale 10^decimals, found by formatting candidates and
//!   parsing them with `f64::from_str`, the validator's own conversion, so the test is exact.
//!   Prefix test: a digit (or `.`) may be added only if some completion of the field still lands
//!   in the interval. For an integer part `P` with `j` more digits to come the reachable values
//!   are `[P·10^j, (P+1)·10^j)` (times the scale), one interval per `j`, so the test is a few
//!   integer comparisons (in [35, 42]: `3` and `4` live, `5` dead, `42.` live only because `42.0`
//!   is, `42.1` dead).
//! - **Binary**: `0` or `1`.
//! - **Categorical** with categories: one of them, from a byte trie (in JSON as a JSON string). In
//!   CSV a category containing `,`,
//!   `"`, `;`, `|` or a tab, or that could read as a Markdown rule or fence, is written CSV-quoted
//!   (`"a, b"`, `""` for a quote). Categories the answer parser could not read back as
//!   themselves are left out: empty ones, ones with surrounding spaces or quote characters, line
//!   breaks or control characters, missing-value spellings (`NA`, `None`, ...) and ones equal to
//!   a column name (a row made of column names reads as a repeated header).
//! - **Categorical without categories** (any text validates): 1 to 24 characters from
//!   `[A-Za-z0-9_./-]`, not a missing-value spelling, not only dashes, not a column name.
//! - **Missing**: an empty field (JSON: `null`), only where the schema allows missing values (and
//!   never in a one-column CSV grammar, whose empty row would be a blank line).
//! - **Fixed** columns (the group a request is conditioned on) take only their given value.
//!
//! Every state the automaton can reach is *live* (some completion of the whole answer exists):
//! each step is refused unless the field state it leads to can still complete, and every field
//! has at least one complete value (checked when the grammar is built).
//!
//! # Masking ([`ConstrainedDecoder::allowed`])
//! Tokens are byte strings that may span fields (`",1"`, `".5\n"`). [`TokenVocabulary`] builds a
//! byte trie of all ordinary tokens once, flattened in depth-first order (each node stores its
//! byte, depth and the end of its subtree). Masking walks that array once with a stack of
//! automaton states, one per depth: a node whose byte the automaton refuses skips its whole
//! subtree, and a node it accepts allows every token that ends there. Cost is proportional to the
//! live part of the trie, not to the vocabulary (see the `grammar` bench for measured figures).
//! Special tokens (`<|im_start|>` and the like) are never allowed; end-of-text only when the
//! answer is complete, and then it is the only token allowed.
//!
//! The vocabulary must contain every single byte as a token (byte-level BPE vocabularies do);
//! [`TokenVocabulary::missing_single_bytes`] says which are absent otherwise.

// The parts, one file each: the vocabulary and its trie, one field's rule, the row language,
// the schema's rules across columns, and number fields; the decoder over them stays here.
mod cross;
mod field;
mod number;
mod row;
mod vocab;

use std::sync::Arc;

use ehrsynth_table::cell::{is_missing_token, parse_number};

use cross::{Bound, CrossRules, Earlier};
use number::{Interval, NUMBER_START, NumberRule, NumberState};

use super::cell_text::{clean_text, eq_ci, is_extra_missing};
use ehrsynth_table::validate::validate_text;
use ehrsynth_table::{ColumnKind, ColumnSpec, Schema};

use crate::LlmError;
use field::*;
pub use row::{RowFormat, RowGrammar};
pub use vocab::TokenVocabulary;

/// Decimals allowed in continuous values unless the range needs more.
pub const DEFAULT_DECIMALS: u32 = 3;
/// The most decimals a continuous value may get, for very narrow ranges.
const MAX_DECIMALS: u32 = 12;
/// Bound on the magnitude of numbers when the schema gives none.
const NUMBER_CAP: f64 = 1e12;
/// Longest free-text category value.
const FREE_TEXT_MAX: usize = 24;

// ---------------------------------------------------------------------------------------------
// Decoder

/// Where the automaton is in the answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Position {
    /// At byte `.0` of the header line.
    Header(u32),
    /// At byte `at` of the literal before field `column` of data row `row` (after the last
    /// field when `column` is the number of columns); `written` is the field just completed.
    Literal {
        row: u32,
        column: u32,
        at: u32,
        written: Option<Written>,
    },
    /// In data row `row` (0-based), column `column`, under `limit`.
    Field {
        row: u32,
        column: u32,
        state: FieldState,
        limit: Limit,
    },
    /// All rows written: only end-of-text may follow.
    Done,
}

/// A field's value as the automaton completed it, kept in the position until the next field
/// begins (the decoder's own record of the row has only what accepted tokens wrote).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Written {
    column: u32,
    /// The value's `f64` bits; `None` = missing.
    value: Option<u64>,
}

/// Why a token was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GrammarError {
    /// The token id is outside the vocabulary.
    #[error("token {token} is not in the vocabulary ({size} tokens)")]
    UnknownToken {
        /// The token.
        token: u32,
        /// Vocabulary size.
        size: usize,
    },
    /// A special token other than end-of-text at the end.
    #[error("special token {token} ({text:?}) cannot be part of the answer")]
    SpecialToken {
        /// The token.
        token: u32,
        /// Its text (lossy).
        text: String,
    },
    /// End-of-text before the last row was complete.
    #[error("end-of-text after {rows_done} of {rows} rows; the answer is not complete")]
    EndTooEarly {
        /// Complete data rows so far.
        rows_done: usize,
        /// Rows wanted.
        rows: usize,
    },
    /// A token after the answer was complete.
    #[error("token {token} after the answer was complete; only end-of-text may follow")]
    AfterEnd {
        /// The token.
        token: u32,
    },
    /// A byte of the token breaks the grammar.
    #[error("token {token} ({text:?}) breaks the grammar at byte {offset} ({where_})")]
    Refused {
        /// The token.
        token: u32,
        /// Its text (lossy).
        text: String,
        /// Offset of the refused byte in the token.
        offset: usize,
        /// Where in the answer, and what was expected.
        where_: String,
    },
}

/// Masks and follows tokens so that the answer is the header, then `rows` rows, then end-of-text.
pub struct ConstrainedDecoder {
    grammar: Arc<RowGrammar>,
    vocab: Arc<TokenVocabulary>,
    rows: u32,
    position: Position,
    bytes: Vec<u8>,
    ended: bool,
    /// The values of the fields completed by accepted tokens in the current row (only those
    /// before the current position's column are meaningful); empty when the grammar has no
    /// rules across columns.
    row_values: Vec<Option<f64>>,
    /// The state [`ConstrainedDecoder::rewind`] returns to: position, text length, ended.
    mark: Option<(Position, usize, bool)>,
    /// The row values at the mark (a buffer reused from mark to mark: `mark` runs once per
    /// sampled token, so it allocates nothing after the first).
    marked_values: Vec<Option<f64>>,
}

impl ConstrainedDecoder {
    /// A decoder at the start of the answer.
    pub fn new(grammar: Arc<RowGrammar>, vocab: Arc<TokenVocabulary>, rows: usize) -> Self {
        let mut decoder = Self {
            grammar,
            vocab,
            rows: u32::try_from(rows).unwrap_or(u32::MAX),
            position: Position::Header(0),
            bytes: Vec::new(),
            ended: false,
            row_values: Vec::new(),
            mark: None,
            marked_values: Vec::new(),
        };
        if !decoder.grammar.cross.is_empty() {
            decoder.row_values = vec![None; decoder.grammar.fields.len()];
        }
        if decoder.grammar.header.is_empty() {
            decoder.position = decoder.row_start(0);
        }
        decoder
    }

    /// The position after `byte`, if the grammar allows it there.
    fn step(&self, position: &Position, byte: u8) -> Option<Position> {
        let grammar = &*self.grammar;
        match *position {
            Position::Header(at) => {
                let at = at as usize;
                (grammar.header.get(at) == Some(&byte)).then(|| {
                    if at + 1 < grammar.header.len() {
                        Position::Header(at as u32 + 1)
                    } else {
                        self.row_start(0)
                    }
                })
            }
            Position::Literal {
                row,
                column,
                at,
                written,
            } => {
                let literal = grammar.literal(column as usize);
                if literal.get(at as usize) != Some(&byte) {
                    return None;
                }
                if at as usize + 1 < literal.len() {
                    Some(Position::Literal {
                        row,
                        column,
                        at: at + 1,
                        written,
                    })
                } else {
                    self.literal_end(row, column, written)
                }
            }
            Position::Field {
                row,
                column,
                state,
                limit,
            } => {
                let rule = &grammar.fields[column as usize];
                // The field ends where the next literal begins (`,`, `\n`, `,"name":`, `}`);
                // no field value continues with that byte once complete.
                let next = column + 1;
                if grammar.literal(next as usize).first() == Some(&byte)
                    && rule.is_complete(&state, &limit)
                {
                    let written = (!grammar.cross.is_empty()).then(|| Written {
                        column,
                        value: rule.value(&state).map(f64::to_bits),
                    });
                    return if grammar.literal(next as usize).len() > 1 {
                        Some(Position::Literal {
                            row,
                            column: next,
                            at: 1,
                            written,
                        })
                    } else {
                        self.literal_end(row, next, written)
                    };
                }
                rule.step(&state, byte, &limit)
                    .map(|state| Position::Field {
                        row,
                        column,
                        state,
                        limit,
                    })
            }
            Position::Done => None,
        }
    }

    /// Where the automaton is once the literal before field `column` of `row` is read (or, at
    /// the start of a row, skipped when empty), `written` being the field just completed;
    /// `None` when the field's limit depends on a value this path no longer knows.
    fn literal_end(&self, row: u32, column: u32, written: Option<Written>) -> Option<Position> {
        let grammar = &*self.grammar;
        if column as usize == grammar.fields.len() {
            return Some(self.row_start(row + 1));
        }
        let rule = &grammar.fields[column as usize];
        let limit = if grammar.cross.is_empty() {
            Limit::FREE
        } else {
            rule.limit(
                grammar
                    .cross
                    .bound(column, |other| self.earlier(row, column, other, written))?,
            )
        };
        Some(Position::Field {
            row,
            column,
            state: rule.start(),
            limit,
        })
    }

    /// What is known of field `other` of `row` when field `column` begins: its fixed value,
    /// the field just completed on this path, or what accepted tokens wrote.
    fn earlier(&self, row: u32, column: u32, other: u32, written: Option<Written>) -> Earlier {
        if let Some(value) = self.grammar.cross.fixed(other) {
            return Earlier::Known(value);
        }
        if other >= column {
            return Earlier::NotYet;
        }
        if let Some(w) = written.filter(|w| w.column == other) {
            return Earlier::Known(w.value.map(f64::from_bits));
        }
        let accepted = match self.position {
            Position::Literal {
                row: r, column: c, ..
            }
            | Position::Field {
                row: r, column: c, ..
            } => r == row && other < c,
            _ => false,
        };
        if accepted {
            Earlier::Known(self.row_values[other as usize])
        } else {
            Earlier::Lost
        }
    }

    /// The field a step from `from` to `to` completed, if it left one and the decoder keeps
    /// the row's values.
    fn completion(&self, from: &Position, to: &Position) -> Option<Written> {
        if self.row_values.is_empty() {
            return None;
        }
        let Position::Field {
            row, column, state, ..
        } = *from
        else {
            return None;
        };
        if matches!(*to, Position::Field { row: r, column: c, .. } if r == row && c == column) {
            return None;
        }
        let value = self.grammar.fields[column as usize].value(&state);
        Some(Written {
            column,
            value: value.map(f64::to_bits),
        })
    }

    /// The start of data row `row`.
    fn row_start(&self, row: u32) -> Position {
        if row >= self.rows {
            return Position::Done;
        }
        if self.grammar.literal(0).is_empty() {
            // The first field has no earlier field in its row, so its limit is always known.
            self.literal_end(row, 0, None).unwrap_or(Position::Done)
        } else {
            Position::Literal {
                row,
                column: 0,
                at: 0,
                written: None,
            }
        }
    }

    /// Sets `mask[id]` to whether token `id` may come next (ids beyond the vocabulary: false).
    pub fn allowed(&mut self, mask: &mut [bool]) {
        mask.fill(false);
        if self.ended {
            return;
        }
        if self.position == Position::Done {
            if let Some(m) = mask.get_mut(self.vocab.end_of_text as usize) {
                *m = true;
            }
            return;
        }
        self.vocab.trie.walk(
            self.position,
            |p, b| self.step(p, b),
            |id| {
                if let Some(m) = mask.get_mut(id as usize) {
                    *m = true;
                }
            },
        );
    }

    /// Follows token `token`; on error nothing changes.
    pub fn accept(&mut self, token: u32) -> Result<(), GrammarError> {
        let vocab = &*self.vocab;
        let Some(bytes) = vocab.bytes(token) else {
            return Err(GrammarError::UnknownToken {
                token,
                size: vocab.len(),
            });
        };
        let text = || String::from_utf8_lossy(bytes).into_owned();
        if self.ended {
            return Err(GrammarError::AfterEnd { token });
        }
        if token == vocab.end_of_text {
            if self.position != Position::Done {
                return Err(GrammarError::EndTooEarly {
                    rows_done: self.rows_done(),
                    rows: self.rows as usize,
                });
            }
            self.ended = true;
            return Ok(());
        }
        if self.position == Position::Done {
            return Err(GrammarError::AfterEnd { token });
        }
        if vocab.is_special(token) {
            return Err(GrammarError::SpecialToken {
                token,
                text: text(),
            });
        }
        let mut position = self.position;
        let mut completed: Vec<Written> = Vec::new();
        for (offset, &b) in bytes.iter().enumerate() {
            match self.step(&position, b) {
                Some(next) => {
                    if let Some(w) = self.completion(&position, &next) {
                        completed.push(w);
                    }
                    position = next;
                }
                None => {
                    return Err(GrammarError::Refused {
                        token,
                        text: text(),
                        offset,
                        where_: self.describe(&position),
                    });
                }
            }
        }
        self.bytes.extend_from_slice(bytes);
        self.position = position;
        for w in completed {
            if let Some(slot) = self.row_values.get_mut(w.column as usize) {
                *slot = w.value.map(f64::from_bits);
            }
        }
        Ok(())
    }

    fn describe(&self, position: &Position) -> String {
        match *position {
            Position::Header(at) => format!(
                "header line at byte {at}, expected {:?}",
                self.grammar.header()
            ),
            Position::Literal { row, column, .. } => format!(
                "row {}, expected {:?}",
                row + 1,
                String::from_utf8_lossy(self.grammar.literal(column as usize))
            ),
            Position::Field { row, column, .. } => format!(
                "row {}, column '{}': expected {}",
                row + 1,
                self.grammar.columns[column as usize],
                self.grammar.fields[column as usize].describe()
            ),
            Position::Done => "after the last row".to_string(),
        }
    }

    /// True when all rows are written (only end-of-text may follow).
    pub fn is_finished(&self) -> bool {
        self.position == Position::Done
    }

    /// Remembers where the decoder stands, for [`ConstrainedDecoder::rewind`].
    pub fn mark(&mut self) {
        self.mark = Some((self.position, self.bytes.len(), self.ended));
        self.marked_values.clone_from(&self.row_values);
    }

    /// Goes back to the last mark, forgetting the tokens accepted since; false without one.
    pub fn rewind(&mut self) -> bool {
        let Some((position, len, ended)) = self.mark.take() else {
            return false;
        };
        self.position = position;
        self.bytes.truncate(len);
        self.ended = ended;
        self.row_values.clone_from(&self.marked_values);
        true
    }

    /// Complete data rows so far.
    pub fn rows_done(&self) -> usize {
        match self.position {
            Position::Header(_) => 0,
            Position::Literal { row, .. } | Position::Field { row, .. } => row as usize,
            Position::Done => self.rows as usize,
        }
    }

    /// The header line the answer starts with (empty for JSON Lines).
    pub fn header(&self) -> &str {
        self.grammar.header()
    }

    /// The answer so far (a token that ends inside a multi-byte character shows up once the
    /// character is complete).
    pub fn text(&self) -> &str {
        match std::str::from_utf8(&self.bytes) {
            Ok(t) => t,
            Err(e) => std::str::from_utf8(&self.bytes[..e.valid_up_to()]).unwrap_or_default(),
        }
    }
}
