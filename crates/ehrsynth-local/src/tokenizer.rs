//! Prompt tokenization from the GGUF's own vocabulary and merges, matching llama.cpp token for
//! token (tests compare against ids that llama.cpp's server produced for the same file).
//!
//! The BPE model and the special (control) tokens come from candle's GGUF tokenizer builder; the
//! pre-tokenizer is set here by `tokenizer.ggml.pre`, because llama.cpp's pre-tokenizers differ
//! from the GPT-2 default (SmolLM splits every digit; none of them adds a prefix space).

use candle_core::quantized::gguf_file::Content;
use candle_core::quantized::tokenizer::TokenizerFromGguf;
use tokenizers::Tokenizer;
use tokenizers::pre_tokenizers::PreTokenizerWrapper;
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::pre_tokenizers::digits::Digits;
use tokenizers::pre_tokenizers::sequence::Sequence;

use crate::LocalError;
use crate::gguf::GgufInfo;

/// Turns prompt text (special tokens such as `<|im_start|>` included) into token ids.
pub struct PromptTokenizer {
    inner: Tokenizer,
}

impl std::fmt::Debug for PromptTokenizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PromptTokenizer").finish_non_exhaustive()
    }
}

impl PromptTokenizer {
    /// The tokenizer described by a GGUF header.
    pub fn from_gguf(content: &Content, info: &GgufInfo) -> Result<Self, LocalError> {
        if info.tokenizer_model != "gpt2" {
            return Err(LocalError::Unsupported(format!(
                "the model's tokenizer is '{}'; only byte-level BPE ('gpt2') tokenizers are supported",
                info.tokenizer_model
            )));
        }
        let mut inner = Tokenizer::from_gguf(content)
            .map_err(|e| LocalError::Unsupported(format!("building the tokenizer: {e}")))?;
        let no_prefix_space = ByteLevel::new(false, true, true);
        match info.pre_tokenizer.as_str() {
            // llama.cpp's `smollm`: each digit alone, then the GPT-2 pattern.
            "smollm" => {
                let steps: Vec<PreTokenizerWrapper> =
                    vec![Digits::new(true).into(), no_prefix_space.into()];
                inner.with_pre_tokenizer(Some(Sequence::new(steps)));
            }
            "gpt2" | "gpt-2" | "starcoder" | "phi-2" | "default" => {
                inner.with_pre_tokenizer(Some(no_prefix_space));
            }
            // candle's builder implements these as llama.cpp does.
            "qwen2" | "llama3" | "smaug-bpe" | "lfm2" => {}
            other => {
                return Err(LocalError::Unsupported(format!(
                    "the model's pre-tokenizer '{other}' is not supported (supported: smollm, gpt2, \
                     starcoder, qwen2, llama3); prompts would be tokenized differently from training"
                )));
            }
        }
        Ok(Self { inner })
    }

    /// The ids of `text`, with special tokens written in it recognised, and no BOS added.
    pub fn encode(&self, text: &str) -> Result<Vec<u32>, LocalError> {
        let encoding = self
            .inner
            .encode(text, false)
            .map_err(|e| LocalError::Inference(format!("tokenizing the prompt: {e}")))?;
        Ok(encoding.get_ids().to_vec())
    }
}
