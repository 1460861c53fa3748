//! [`LocalModel`]: a GGUF model loaded once, and the decoding loop. At every step a
//! [`TokenConstraint`] (the schema grammar, or [`Unconstrained`]) says which tokens may come
//! next; their logits alone are sampled. The model state after a prompt is kept, so a request
//! with the same prompt as the previous one (the usual case: a strategy repeats its prompt with a
//! new seed) starts decoding at once instead of reading the prompt again.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use candle_core::{Device, Tensor};
use candle_transformers::models::quantized_llama::ModelWeights;

use crate::LocalError;
use crate::chat::{ChatTemplate, Message};
use crate::gguf::{self, GgufInfo, token_type};
use crate::sample::Sampler;
use crate::tokenizer::PromptTokenizer;

/// Decides which tokens may come next (the schema grammar implements it).
pub trait TokenConstraint: Send {
    /// Sets `mask[id]` to whether token `id` may come next (the mask arrives all `true`).
    fn allowed(&mut self, mask: &mut [bool]);
    /// Takes the chosen token; an error means it was not allowed.
    fn accept(&mut self, token: u32) -> Result<(), String>;
    /// Whether the output is complete (the end token was accepted).
    fn is_finished(&self) -> bool;
    /// The text so far.
    fn text(&self) -> String;
}

/// No constraint: any text token, until the end-of-sequence token.
#[derive(Debug, Clone)]
pub struct Unconstrained {
    token_bytes: Arc<Vec<Vec<u8>>>,
    eos: u32,
    bytes: Vec<u8>,
    finished: bool,
}

impl Unconstrained {
    /// Free decoding over `model`'s vocabulary.
    pub fn new(model: &LocalModel) -> Self {
        Self {
            token_bytes: model.token_bytes.clone(),
            eos: model.eos,
            bytes: Vec::new(),
            finished: false,
        }
    }
}

impl TokenConstraint for Unconstrained {
    fn allowed(&mut self, _mask: &mut [bool]) {}

    fn accept(&mut self, token: u32) -> Result<(), String> {
        if token == self.eos {
            self.finished = true;
        } else {
            let bytes = self
                .token_bytes
                .get(token as usize)
                .ok_or_else(|| format!("token {token} is outside the vocabulary"))?;
            self.bytes.extend_from_slice(bytes);
        }
        Ok(())
    }

    fn is_finished(&self) -> bool {
        self.finished
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.bytes).into_owned()
    }
}

/// Why decoding stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FinishReason {
    /// The answer is complete.
    Stop,
    /// The token limit (or the context window) was reached.
    Length,
}

/// One decoded answer.
#[derive(Debug, Clone, PartialEq)]
pub struct Generation {
    /// The answer text.
    pub text: String,
    /// Tokens in the prompt.
    pub prompt_tokens: usize,
    /// Tokens decoded.
    pub completion_tokens: usize,
    /// Why it stopped.
    pub finish: FinishReason,
    /// Seconds spent reading the prompt (0 when its state was reused).
    pub prompt_seconds: f64,
    /// Seconds spent decoding.
    pub decode_seconds: f64,
}

/// The model after a prompt: reused when the next prompt is identical.
#[derive(Clone)]
struct PromptState {
    ids: Vec<u32>,
    model: ModelWeights,
    logits: Vec<f32>,
}

/// A GGUF model in memory with its tokenizer and chat template.
pub struct LocalModel {
    path: PathBuf,
    weights: ModelWeights,
    tokenizer: PromptTokenizer,
    template: ChatTemplate,
    token_bytes: Arc<Vec<Vec<u8>>>,
    /// Tokens that may ever be sampled: text tokens and the end token, not control tokens.
    usable: Vec<bool>,
    eos: u32,
    context_length: usize,
    pool: Arc<rayon::ThreadPool>,
    last_prompt: Option<PromptState>,
}

impl std::fmt::Debug for LocalModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalModel")
            .field("path", &self.path)
            .field("vocabulary", &self.token_bytes.len())
            .finish_non_exhaustive()
    }
}

impl LocalModel {
    /// Loads the GGUF at `path` to run on `threads` CPU threads (0: all cores).
    pub fn load(path: &Path, threads: usize) -> Result<Self, LocalError> {
        let (content, mut reader) = gguf::open(path)?;
        let info = GgufInfo::from_content(&content, path)?;
        if info.architecture != "llama" {
            return Err(LocalError::Unsupported(format!(
                "{}: architecture '{}' is not supported; the local provider runs llama-family \
                 GGUF models (SmolLM2, Llama, Mistral, TinyLlama …)",
                path.display(),
                info.architecture
            )));
        }
        let tokenizer = PromptTokenizer::from_gguf(&content, &info)?;
        let template = ChatTemplate::from_jinja(info.chat_template.as_deref())?;
        let token_bytes = Arc::new(info.token_bytes());
        let usable = info
            .token_types
            .iter()
            .enumerate()
            .map(|(id, kind)| id as u32 == info.eos || *kind != token_type::CONTROL)
            .collect();
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .map_err(|e| LocalError::Inference(format!("starting {threads} threads: {e}")))?;
        let weights = pool
            .install(|| ModelWeights::from_gguf(content, &mut reader, &Device::Cpu))
            .map_err(|e| LocalError::Model {
                path: path.display().to_string(),
                message: format!("loading the weights: {e}"),
            })?;
        Ok(Self {
            path: path.to_path_buf(),
            weights,
            tokenizer,
            template,
            token_bytes,
            usable,
            eos: info.eos,
            context_length: info.context_length,
            pool: Arc::new(pool),
            last_prompt: None,
        })
    }

    /// The model file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Each token's bytes, by id.
    pub fn token_bytes(&self) -> Arc<Vec<Vec<u8>>> {
        self.token_bytes.clone()
    }

    /// Control tokens (never sampled): everything not usable as text except the end token.
    pub fn control_tokens(&self) -> Vec<u32> {
        (0..self.usable.len() as u32)
            .filter(|&id| !self.usable[id as usize])
            .collect()
    }

    /// The end-of-sequence token.
    pub fn eos(&self) -> u32 {
        self.eos
    }

    /// `messages` rendered with the model's chat template.
    pub fn chat_prompt(&self, messages: &[Message]) -> String {
        self.template.render(messages)
    }

    /// Token ids of `text`, as llama.cpp would tokenize it.
    pub fn encode(&self, text: &str) -> Result<Vec<u32>, LocalError> {
        self.tokenizer.encode(text)
    }

    /// Decodes an answer to `prompt` (token ids) under `constraint`, at most `max_tokens` tokens.
    pub fn generate(
        &mut self,
        prompt: &[u32],
        constraint: &mut dyn TokenConstraint,
        sampler: &mut Sampler,
        max_tokens: usize,
    ) -> Result<Generation, LocalError> {
        if prompt.is_empty() {
            return Err(LocalError::Inference("the prompt is empty".into()));
        }
        if prompt.len() >= self.context_length {
            return Err(LocalError::Inference(format!(
                "the prompt has {} tokens; the model's context holds {}",
                prompt.len(),
                self.context_length
            )));
        }
        let pool = self.pool.clone();
        pool.install(|| self.decode(prompt, constraint, sampler, max_tokens))
    }

    fn decode(
        &mut self,
        prompt: &[u32],
        constraint: &mut dyn TokenConstraint,
        sampler: &mut Sampler,
        max_tokens: usize,
    ) -> Result<Generation, LocalError> {
        let started = Instant::now();
        let state = match &self.last_prompt {
            Some(state) if state.ids == prompt => state.clone(),
            _ => {
                let mut model = self.weights.clone();
                let logits = forward(&mut model, prompt, 0)?;
                let state = PromptState {
                    ids: prompt.to_vec(),
                    model,
                    logits,
                };
                self.last_prompt = Some(state.clone());
                state
            }
        };
        let prompt_seconds = started.elapsed().as_secs_f64();
        let PromptState {
            mut model,
            mut logits,
            ..
        } = state;
        let decoding = Instant::now();
        let room = self.context_length - prompt.len();
        let mut mask = vec![true; self.usable.len()];
        let mut produced = 0;
        let finish = loop {
            if constraint.is_finished() {
                break FinishReason::Stop;
            }
            if produced >= max_tokens.min(room) {
                break FinishReason::Length;
            }
            mask.copy_from_slice(&self.usable);
            constraint.allowed(&mut mask);
            mask.iter_mut()
                .zip(&self.usable)
                .for_each(|(m, usable)| *m &= *usable);
            let token = sampler.sample(&logits, &mask).ok_or_else(|| {
                LocalError::Constraint(format!(
                    "no token may follow {:?}",
                    tail(&constraint.text(), 60)
                ))
            })?;
            constraint.accept(token).map_err(LocalError::Constraint)?;
            produced += 1;
            if token == self.eos || constraint.is_finished() {
                break FinishReason::Stop;
            }
            logits = forward(&mut model, &[token], prompt.len() + produced - 1)?;
        };
        Ok(Generation {
            text: constraint.text(),
            prompt_tokens: prompt.len(),
            completion_tokens: produced,
            finish,
            prompt_seconds,
            decode_seconds: decoding.elapsed().as_secs_f64(),
        })
    }
}

/// Runs `tokens` at positions from `position` and returns the last position's logits.
fn forward(
    model: &mut ModelWeights,
    tokens: &[u32],
    position: usize,
) -> Result<Vec<f32>, LocalError> {
    let input = Tensor::new(tokens, &Device::Cpu)?.unsqueeze(0)?;
    let logits = model.forward(&input, position)?;
    Ok(logits
        .squeeze(0)?
        .to_dtype(candle_core::DType::F32)?
        .to_vec1::<f32>()?)
}

fn tail(text: &str, chars: usize) -> String {
    let n = text.chars().count();
    text.chars().skip(n.saturating_sub(chars)).collect()
}
