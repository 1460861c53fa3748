//! [`LocalModel`]: a GGUF model loaded once, and the batched decoding loop. Many sequences
//! continue one prompt together ([`LocalModel::generate_batch`]): the prompt is read once and its
//! keys and values are shared; each sequence has its own [`TokenConstraint`] (the schema grammar,
//! or [`Unconstrained`]) and its own seeded [`Sampler`]. At every step each sequence's grammar
//! says which tokens may come next and only their logits are sampled; a token the grammar forces
//! (the only one allowed) is taken without sampling, and a run of them is fed in one chunk.
//! A sampled token is taken back and drawn again when, once read, the model mostly wants to go
//! on with tokens the grammar refuses (a one-step correction of masking's bias; see
//! `review_probation`), and each answer counts how much of the model's probability the grammar
//! refused ([`GrammarPressure`]).
//! A sequence's tokens depend only on its prompt, grammar and seed: not on the batch size, the
//! other sequences or the thread count.
//!
//! The prompt's state is kept: a new prompt that starts like the previous one (same template,
//! schema and statistics, new example rows) reads only the part that differs.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use crate::LocalError;
use crate::chat::{ChatTemplate, Message};
use crate::gguf::{self, GgufInfo, token_type};
use crate::sample::Sampler;
use crate::tokenizer::PromptTokenizer;
use crate::transformer::{KvCache, Prefix, Transformer};

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
    /// The fixed text every answer starts with, if the constraint has one (a CSV header).
    fn header(&self) -> Option<String> {
        None
    }
    /// Remembers the current state for [`TokenConstraint::rewind`]; false when the constraint
    /// cannot go back (its tokens are then never reconsidered).
    fn mark(&mut self) -> bool {
        false
    }
    /// Returns to the last mark, forgetting the tokens accepted since; false without one.
    fn rewind(&mut self) -> bool {
        false
    }
}

impl<T: TokenConstraint + ?Sized> TokenConstraint for &mut T {
    fn allowed(&mut self, mask: &mut [bool]) {
        (**self).allowed(mask)
    }
    fn accept(&mut self, token: u32) -> Result<(), String> {
        (**self).accept(token)
    }
    fn is_finished(&self) -> bool {
        (**self).is_finished()
    }
    fn text(&self) -> String {
        (**self).text()
    }
    fn header(&self) -> Option<String> {
        (**self).header()
    }
    fn mark(&mut self) -> bool {
        (**self).mark()
    }
    fn rewind(&mut self) -> bool {
        (**self).rewind()
    }
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
    /// How the grammar bent the model's choices (see [`GrammarPressure`]).
    pub pressure: GrammarPressure,
}

/// How much of the model's own probability the grammar refused over one answer, counted at
/// the tokens that were sampled (forced tokens are not choices). A grammar that often refuses
/// the model's favourite token pushes its mass onto whatever is left, which is how constrained
/// values collapse; these counts tell that apart from a model that simply writes poor values.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct GrammarPressure {
    /// Tokens sampled.
    pub sampled: usize,
    /// Sum over them of the probability the grammar refused (0 = none, 1 = all).
    pub refused_mass: f64,
    /// Sampled tokens at which the model's most likely token was refused.
    pub top_refused: usize,
    /// Sampled tokens taken back because the model then mostly wanted what the grammar
    /// refuses (see [`LocalModel::generate_batch`]).
    pub reconsidered: usize,
}

impl GrammarPressure {
    /// Mean refused probability per sampled token.
    pub fn mean_refused(&self) -> f64 {
        if self.sampled == 0 {
            0.0
        } else {
            self.refused_mass / self.sampled as f64
        }
    }

    /// Adds another answer's counts.
    pub fn add(&mut self, other: &GrammarPressure) {
        self.sampled += other.sampled;
        self.refused_mass += other.refused_mass;
        self.top_refused += other.top_refused;
        self.reconsidered += other.reconsidered;
    }
}

/// The model after a prompt: reused in whole or in part by the next prompt.
struct PromptState {
    ids: Vec<u32>,
    prefix: Arc<Prefix>,
    logits: Vec<f32>,
}

/// One sequence of a batch: its grammar and its sampler.
pub struct Sequence<'a> {
    /// What the sequence may write.
    pub constraint: Box<dyn TokenConstraint + 'a>,
    /// Its own seeded sampler.
    pub sampler: Sampler,
}

/// What one batch call did.
#[derive(Debug)]
pub struct BatchOutcome {
    /// One result per sequence, in order.
    pub sequences: Vec<Result<Generation, LocalError>>,
    /// Prompt tokens read (0 when the whole prompt's state was reused).
    pub prompt_tokens_read: usize,
    /// Seconds spent reading the prompt.
    pub prompt_seconds: f64,
    /// Seconds spent decoding all sequences.
    pub decode_seconds: f64,
    /// Of those, seconds in the model's forward steps (the rest: grammar masks and sampling).
    pub forward_seconds: f64,
    /// Forward steps taken and token rows they fed.
    pub steps: usize,
    /// Token rows fed in the forward steps (sampled and forced tokens).
    pub fed_tokens: usize,
}

/// Most grammar-forced tokens fed in one chunk.
const MAX_FORCED_RUN: usize = 64;

/// Most times a sampled token at one position is taken back (see `review_probation`);
/// `EHRSYNTH_LOCAL_RECONSIDER` overrides it (0 turns the correction off, to measure it).
const MAX_RECONSIDER: u32 = 3;

/// How many sequences decode together by default: enough to reuse each weight block across a
/// batch (SmolLM2-135M on two cores: 214 tokens/s at 16, 273 at 32), fewer for large models
/// whose per-step activations and caches grow with the batch.
pub fn default_batch_size(parameters: usize) -> usize {
    match parameters {
        p if p < 1_000_000_000 => 32,
        p if p < 4_000_000_000 => 8,
        _ => 4,
    }
}

/// A GGUF model in memory with its tokenizer and chat template.
pub struct LocalModel {
    path: PathBuf,
    weights: Transformer,
    tokenizer: PromptTokenizer,
    template: ChatTemplate,
    token_bytes: Arc<Vec<Vec<u8>>>,
    /// Tokens that may ever be sampled: text tokens and the end token, not control tokens.
    usable: Vec<bool>,
    eos: u32,
    context_length: usize,
    batch_size: usize,
    /// Most reconsiderations of one position ([`MAX_RECONSIDER`] unless overridden).
    max_reconsider: u32,
    pool: Arc<rayon::ThreadPool>,
    last_prompt: Option<PromptState>,
}

impl std::fmt::Debug for LocalModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalModel")
            .field("path", &self.path)
            .field("vocabulary", &self.token_bytes.len())
            .field("batch_size", &self.batch_size)
            .finish_non_exhaustive()
    }
}

/// A sequence being decoded.
struct Live<'a> {
    index: usize,
    sequence: Sequence<'a>,
    cache: KvCache,
    logits: Vec<f32>,
    produced: usize,
    started: Instant,
    pressure: GrammarPressure,
    /// The last chunk began with a sampled token that may still be taken back.
    probation: Option<Probation>,
    /// Times the token at the current position was taken back.
    retries: u32,
}

/// A sampled token (and the forced ones fed with it) that is taken back when the model, having
/// read it, mostly wants to go on with tokens the grammar refuses.
struct Probation {
    /// The logits it was sampled from.
    logits: Vec<f32>,
    /// Tokens fed in its chunk.
    fed: usize,
    /// Tokens produced before it.
    produced: usize,
}

/// What a live sequence does in the next step.
enum Step {
    /// Feed these tokens (a sampled one and/or forced ones).
    Feed(Vec<u32>),
    /// The sequence is over.
    Done(FinishReason),
    /// It failed.
    Failed(LocalError),
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
            .install(|| Transformer::from_gguf(&content, &mut reader, info.context_length))
            .map_err(|e| LocalError::Model {
                path: path.display().to_string(),
                message: format!("loading the weights: {e}"),
            })?;
        if weights.shape().vocabulary != token_bytes.len() {
            return Err(LocalError::Model {
                path: path.display().to_string(),
                message: format!(
                    "the embedding has {} tokens but the vocabulary {}",
                    weights.shape().vocabulary,
                    token_bytes.len()
                ),
            });
        }
        let batch_size = match std::env::var("EHRSYNTH_LOCAL_BATCH") {
            Ok(text) => text.trim().parse::<usize>().ok().filter(|b| *b > 0).ok_or_else(|| {
                LocalError::Unsupported(format!(
                    "EHRSYNTH_LOCAL_BATCH={text:?}: give the number of sequences to decode together (at least 1)"
                ))
            })?,
            Err(_) => default_batch_size(weights.shape().parameters()),
        };
        let max_reconsider = match std::env::var("EHRSYNTH_LOCAL_RECONSIDER") {
            Ok(text) => text.trim().parse::<u32>().map_err(|_| {
                LocalError::Unsupported(format!(
                    "EHRSYNTH_LOCAL_RECONSIDER={text:?}: give how often a sampled token may be \
                     taken back at one position (0: never)"
                ))
            })?,
            Err(_) => MAX_RECONSIDER,
        };
        Ok(Self {
            path: path.to_path_buf(),
            weights,
            tokenizer,
            template,
            token_bytes,
            usable,
            eos: info.eos,
            context_length: info.context_length,
            batch_size,
            max_reconsider,
            pool: Arc::new(pool),
            last_prompt: None,
        })
    }

    /// The model file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Sequences decoded together.
    pub fn batch_size(&self) -> usize {
        self.batch_size
    }

    /// Sets how many sequences decode together (at least 1).
    pub fn set_batch_size(&mut self, batch: usize) {
        self.batch_size = batch.max(1);
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

    /// Decodes one answer to `prompt` (token ids) under `constraint`, at most `max_tokens` tokens.
    pub fn generate(
        &mut self,
        prompt: &[u32],
        constraint: &mut dyn TokenConstraint,
        sampler: &mut Sampler,
        max_tokens: usize,
    ) -> Result<Generation, LocalError> {
        let sequence = Sequence {
            constraint: Box::new(constraint),
            sampler: sampler.clone(),
        };
        let mut outcome = self.generate_batch(prompt, vec![sequence], max_tokens)?;
        let mut generation = outcome.sequences.remove(0)?;
        generation.prompt_seconds = outcome.prompt_seconds;
        Ok(generation)
    }

    /// Decodes every sequence as a continuation of `prompt`, [`Self::batch_size`] at a time
    /// (a finished sequence's place goes to the next one), each at most `max_tokens` tokens.
    /// A sequence that fails (its grammar reaches a dead end) is reported as such; the others
    /// go on.
    pub fn generate_batch(
        &mut self,
        prompt: &[u32],
        sequences: Vec<Sequence<'_>>,
        max_tokens: usize,
    ) -> Result<BatchOutcome, LocalError> {
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
        pool.install(|| self.decode_batch(prompt, sequences, max_tokens))
    }

    /// The prompt's shared state: reused whole when the prompt repeats, in part when it starts
    /// like the previous one.
    fn read_prompt(
        &mut self,
        prompt: &[u32],
    ) -> Result<(Arc<Prefix>, Vec<f32>, usize), LocalError> {
        if let Some(state) = &self.last_prompt
            && state.ids == prompt
        {
            return Ok((state.prefix.clone(), state.logits.clone(), 0));
        }
        let (mut cache, start) = match &self.last_prompt {
            Some(state) => {
                let common = state
                    .ids
                    .iter()
                    .zip(prompt)
                    .take_while(|(a, b)| a == b)
                    .count()
                    .min(prompt.len() - 1);
                let shared = Arc::new(state.prefix.truncated(common));
                (KvCache::after(shared, self.weights.shape().layers), common)
            }
            None => (self.weights.empty_cache(), 0),
        };
        let logits = self
            .weights
            .forward(&[&prompt[start..]], &mut [&mut cache])?
            .remove(0);
        let prefix = Arc::new(cache.into_prefix());
        self.last_prompt = Some(PromptState {
            ids: prompt.to_vec(),
            prefix: prefix.clone(),
            logits: logits.clone(),
        });
        Ok((prefix, logits, prompt.len() - start))
    }

    fn decode_batch(
        &mut self,
        prompt: &[u32],
        sequences: Vec<Sequence<'_>>,
        max_tokens: usize,
    ) -> Result<BatchOutcome, LocalError> {
        let started = Instant::now();
        let (prefix, prompt_logits, read) = self.read_prompt(prompt)?;
        let prompt_seconds = started.elapsed().as_secs_f64();
        let decoding = Instant::now();
        let limit = max_tokens.min(self.context_length - prompt.len());
        let layers = self.weights.shape().layers;
        let mut results: Vec<Option<Result<Generation, LocalError>>> =
            (0..sequences.len()).map(|_| None).collect();
        let mut waiting = sequences.into_iter().enumerate();
        let mut live: Vec<Live> = Vec::new();
        let mut mask = vec![true; self.usable.len()];
        let (mut forward_seconds, mut steps, mut fed_tokens) = (0.0, 0, 0);
        loop {
            while live.len() < self.batch_size {
                let Some((index, sequence)) = waiting.next() else {
                    break;
                };
                live.push(Live {
                    index,
                    sequence,
                    cache: KvCache::after(prefix.clone(), layers),
                    logits: prompt_logits.clone(),
                    produced: 0,
                    started: Instant::now(),
                    pressure: GrammarPressure::default(),
                    probation: None,
                    retries: 0,
                });
            }
            if live.is_empty() {
                break;
            }
            let mut feeding: Vec<(Live, Vec<u32>)> = Vec::new();
            for mut seq in std::mem::take(&mut live) {
                match self.next_tokens(&mut seq, &mut mask, limit) {
                    Step::Feed(tokens) => feeding.push((seq, tokens)),
                    Step::Done(finish) => {
                        results[seq.index] = Some(Ok(self.finished(&seq, prompt.len(), finish)));
                    }
                    Step::Failed(e) => results[seq.index] = Some(Err(e)),
                }
            }
            if feeding.is_empty() {
                continue;
            }
            let (mut seqs, chunks): (Vec<Live>, Vec<Vec<u32>>) = feeding.into_iter().unzip();
            let chunk_refs: Vec<&[u32]> = chunks.iter().map(Vec::as_slice).collect();
            let mut caches: Vec<&mut KvCache> = seqs.iter_mut().map(|seq| &mut seq.cache).collect();
            let forward_started = Instant::now();
            let logits = self.weights.forward(&chunk_refs, &mut caches)?;
            forward_seconds += forward_started.elapsed().as_secs_f64();
            steps += 1;
            fed_tokens += chunk_refs.iter().map(|c| c.len()).sum::<usize>();
            for (mut seq, logits) in seqs.into_iter().zip(logits) {
                let previous = std::mem::replace(&mut seq.logits, logits);
                if let Some(probation) = seq.probation.as_mut() {
                    probation.logits = previous;
                }
                live.push(seq);
            }
        }
        Ok(BatchOutcome {
            sequences: results
                .into_iter()
                .map(|r| r.unwrap_or_else(|| Err(LocalError::Inference("not decoded".into()))))
                .collect(),
            prompt_tokens_read: read,
            prompt_seconds,
            decode_seconds: decoding.elapsed().as_secs_f64(),
            forward_seconds,
            steps,
            fed_tokens,
        })
    }

    /// The tokens a sequence feeds next: a sampled token (from its current logits) and/or the
    /// tokens its grammar forces after it.
    fn next_tokens(&self, seq: &mut Live<'_>, mask: &mut [bool], limit: usize) -> Step {
        self.review_probation(seq, mask);
        let mut tokens = Vec::new();
        let mut pending = None;
        loop {
            let constraint = seq.sequence.constraint.as_mut();
            if constraint.is_finished() {
                return Step::Done(FinishReason::Stop);
            }
            if seq.produced >= limit {
                return Step::Done(FinishReason::Length);
            }
            self.allowed_now(constraint, mask);
            let forced = only_allowed(mask);
            let token = match forced {
                Some(t) => t,
                None if tokens.is_empty() => match seq.sequence.sampler.sample(&seq.logits, mask) {
                    Some(t) => {
                        let text = || constraint.text();
                        self.weigh_refusal(&seq.logits, mask, t, &mut seq.pressure, &text);
                        let sampled = seq.sequence.sampler.temperature() > 0.0;
                        if sampled && seq.retries < self.max_reconsider && constraint.mark() {
                            pending = Some(Probation {
                                logits: Vec::new(),
                                fed: 0,
                                produced: seq.produced,
                            });
                        }
                        t
                    }
                    None => {
                        return Step::Failed(LocalError::Constraint(format!(
                            "no token may follow {:?}",
                            tail(&constraint.text(), 60)
                        )));
                    }
                },
                // The next choice needs the logits after the tokens gathered so far.
                None => return feed(seq, tokens, pending),
            };
            if let Err(e) = constraint.accept(token) {
                return Step::Failed(LocalError::Constraint(e));
            }
            seq.produced += 1;
            if token == self.eos || constraint.is_finished() {
                return Step::Done(FinishReason::Stop);
            }
            tokens.push(token);
            if tokens.len() >= MAX_FORCED_RUN || seq.produced >= limit {
                return feed(seq, tokens, pending);
            }
        }
    }

    /// `mask` set to the tokens `constraint` allows now (and the model may ever write).
    fn allowed_now(&self, constraint: &mut dyn TokenConstraint, mask: &mut [bool]) {
        mask.copy_from_slice(&self.usable);
        constraint.allowed(mask);
        mask.iter_mut()
            .zip(&self.usable)
            .for_each(|(m, usable)| *m &= *usable);
    }

    /// Decides on a sampled token still on probation, now that its logits are known. Masking
    /// alone moves the probability of every refused token onto the allowed ones, so a token
    /// that leads where the model mostly wants to write something the grammar refuses (a "1"
    /// begun as a 0/1 flag where an age of 16 to 90 must follow) is drawn far more often than
    /// the model's own distribution over valid answers gives. Keeping it with probability
    /// equal to the share of the model's next-token probability the grammar allows, and else
    /// taking it back and drawing again, weights each token by that share: a one-step
    /// lookahead correction. After [`MAX_RECONSIDER`] draws at one position the token stays.
    fn review_probation(&self, seq: &mut Live<'_>, mask: &mut [bool]) {
        let Some(probation) = seq.probation.take() else {
            return;
        };
        let constraint = seq.sequence.constraint.as_mut();
        self.allowed_now(constraint, mask);
        let temperature = seq.sequence.sampler.temperature();
        let kept = next_token_share(&seq.logits, &self.usable, mask, temperature)
            .map_or(1.0, |share| share.allowed);
        if seq.sequence.sampler.uniform() < kept || !constraint.rewind() {
            seq.retries = 0;
            return;
        }
        seq.cache.forget_last(probation.fed);
        seq.logits = probation.logits;
        seq.produced = probation.produced;
        seq.retries += 1;
        seq.pressure.reconsidered += 1;
    }

    /// Counts what the grammar refused at a step that sampled `chosen`; with
    /// `EHRSYNTH_LOCAL_TRACE` set, says on stderr each step whose favourite token was refused
    /// (a debugging aid).
    fn weigh_refusal(
        &self,
        logits: &[f32],
        mask: &[bool],
        chosen: u32,
        pressure: &mut GrammarPressure,
        text: &dyn Fn() -> String,
    ) {
        // Nothing refused (free decoding): no pass over the vocabulary's probabilities.
        if mask == self.usable.as_slice() {
            pressure.sampled += 1;
            return;
        }
        let Some(share) = next_token_share(logits, &self.usable, mask, 1.0) else {
            return;
        };
        let refused = 1.0 - share.allowed;
        let (top_id, top, total) = (share.favourite, logits[share.favourite], share.total);
        pressure.sampled += 1;
        pressure.refused_mass += refused;
        if mask[top_id] {
            return;
        }
        pressure.top_refused += 1;
        if std::env::var_os("EHRSYNTH_LOCAL_TRACE").is_some() {
            let show = |id: usize| {
                String::from_utf8_lossy(self.token_bytes.get(id).map_or(&[][..], Vec::as_slice))
                    .into_owned()
            };
            let mut ranked: Vec<(usize, f32)> = logits
                .iter()
                .enumerate()
                .filter(|(id, l)| self.usable[*id] && l.is_finite())
                .map(|(id, l)| (id, *l))
                .collect();
            ranked.sort_by(|a, b| b.1.total_cmp(&a.1));
            let favourites: Vec<String> = ranked
                .iter()
                .take(5)
                .map(|(id, l)| {
                    let p = f64::from(l - top).exp() / total;
                    let mark = if mask[*id] { "" } else { "x" };
                    format!("{mark}{:?} {p:.2}", show(*id))
                })
                .collect();
            eprintln!(
                "refused mass {refused:.2} after {:?}: {}; took {:?}",
                tail(&text(), 40),
                favourites.join(", "),
                show(chosen as usize)
            );
        }
    }

    fn finished(&self, seq: &Live<'_>, prompt_tokens: usize, finish: FinishReason) -> Generation {
        Generation {
            text: seq.sequence.constraint.text(),
            prompt_tokens,
            completion_tokens: seq.produced,
            finish,
            prompt_seconds: 0.0,
            decode_seconds: seq.started.elapsed().as_secs_f64(),
            pressure: seq.pressure,
        }
    }
}

/// Hands a chunk to the forward step; a sampled token leading it stays on probation.
fn feed(seq: &mut Live<'_>, tokens: Vec<u32>, pending: Option<Probation>) -> Step {
    seq.probation = pending.map(|p| Probation {
        fed: tokens.len(),
        ..p
    });
    Step::Feed(tokens)
}

/// The model's next-token distribution (softmax at a temperature, over the tokens it may ever
/// write) as the grammar sees it.
struct NextTokenShare {
    /// The share `mask` allows.
    allowed: f64,
    /// The most likely token.
    favourite: usize,
    /// The softmax's normaliser, with the favourite's weight 1.
    total: f64,
}

/// [`NextTokenShare`] of `logits` under `mask` (`None` without a finite logit).
fn next_token_share(
    logits: &[f32],
    usable: &[bool],
    mask: &[bool],
    temperature: f64,
) -> Option<NextTokenShare> {
    let mut best: Option<(usize, f32)> = None;
    for (id, (logit, usable)) in logits.iter().zip(usable).enumerate() {
        if *usable && logit.is_finite() && best.is_none_or(|(_, b)| *logit > b) {
            best = Some((id, *logit));
        }
    }
    let (favourite, top) = best?;
    let (mut total, mut allowed) = (0.0f64, 0.0f64);
    for ((logit, usable), ok) in logits.iter().zip(usable).zip(mask) {
        if *usable && logit.is_finite() {
            let weight = (f64::from(logit - top) / temperature.max(1e-6)).exp();
            total += weight;
            if *ok {
                allowed += weight;
            }
        }
    }
    Some(NextTokenShare {
        allowed: allowed / total,
        favourite,
        total,
    })
}

/// The one allowed token, if exactly one is.
fn only_allowed(mask: &[bool]) -> Option<u32> {
    let mut found = None;
    for (id, ok) in mask.iter().enumerate() {
        if *ok {
            if found.is_some() {
                return None;
            }
            found = Some(id as u32);
        }
    }
    found
}

fn tail(text: &str, chars: usize) -> String {
    let n = text.chars().count();
    text.chars().skip(n.saturating_sub(chars)).collect()
}
