//! The schema grammar of `ehrsynth-llm` ([`ConstrainedDecoder`]) as a [`TokenConstraint`], with
//! the model's vocabulary (built once per model) and compiled grammars (one per column set and
//! fixed value) kept for reuse across requests.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use ehrsynth_llm::grammar::{
    ConstrainedDecoder, DEFAULT_DECIMALS, RowFormat, RowGrammar, TokenVocabulary,
};
use ehrsynth_table::Schema;

use crate::runtime::{LocalModel, TokenConstraint};
use crate::transport::GrammarRequest;

impl TokenConstraint for ConstrainedDecoder {
    fn allowed(&mut self, mask: &mut [bool]) {
        ConstrainedDecoder::allowed(self, mask);
    }

    fn accept(&mut self, token: u32) -> Result<(), String> {
        ConstrainedDecoder::accept(self, token).map_err(|e| e.to_string())
    }

    fn is_finished(&self) -> bool {
        ConstrainedDecoder::is_finished(self)
    }

    fn text(&self) -> String {
        ConstrainedDecoder::text(self).to_string()
    }

    fn header(&self) -> Option<String> {
        Some(ConstrainedDecoder::header(self).to_string())
    }

    fn mark(&mut self) -> bool {
        ConstrainedDecoder::mark(self);
        true
    }

    fn rewind(&mut self) -> bool {
        ConstrainedDecoder::rewind(self)
    }
}

type GrammarKey = (Vec<String>, Vec<(String, String)>, Vec<(String, u32)>);

/// Vocabulary and grammars for one model and schema.
#[derive(Default)]
pub struct GrammarCache {
    vocabulary: Mutex<Option<Arc<TokenVocabulary>>>,
    grammars: Mutex<HashMap<GrammarKey, Arc<RowGrammar>>>,
}

impl GrammarCache {
    /// The decoder that makes `model` write exactly `request.rows` valid CSV rows of `schema`.
    pub fn decoder(
        &self,
        model: &LocalModel,
        schema: &Schema,
        request: &GrammarRequest,
    ) -> Result<ConstrainedDecoder, String> {
        let vocabulary = {
            let mut slot = self.vocabulary.lock().unwrap_or_else(|p| p.into_inner());
            slot.get_or_insert_with(|| {
                let tokens = model.token_bytes().as_ref().clone();
                Arc::new(
                    TokenVocabulary::new(tokens, model.eos()).with_special(model.control_tokens()),
                )
            })
            .clone()
        };
        let key = (
            request.columns.clone(),
            request.fixed.clone(),
            request.decimals.clone(),
        );
        let grammar = {
            let mut grammars = self.grammars.lock().unwrap_or_else(|p| p.into_inner());
            match grammars.get(&key) {
                Some(g) => g.clone(),
                None => {
                    let g = Arc::new(
                        RowGrammar::build_with_precision(
                            schema,
                            &request.columns,
                            &request.fixed,
                            RowFormat::Csv,
                            DEFAULT_DECIMALS,
                            &request.decimals,
                        )
                        .map_err(|e| e.to_string())?,
                    );
                    grammars.insert(key, g.clone());
                    g
                }
            }
        };
        Ok(ConstrainedDecoder::new(grammar, vocabulary, request.rows))
    }
}
