//! A llama-family transformer of our own, built for batches: every weight matrix is held in
//! 8-bit blocks ([`crate::kernels::MatrixQ8`]) and multiplied with all the activation rows of a
//! step at once, so that a batch of sequences costs little more memory traffic than one.
//!
//! A forward step takes *chunks*: for each sequence, the tokens it has not fed yet (one sampled
//! token, a run of grammar-forced tokens, or a whole prompt). Each sequence has its own
//! [`KvCache`], which may sit on a shared [`Prefix`] (the prompt's keys and values, computed once
//! and used by every sequence of the batch).
//!
//! Layers follow llama.cpp's `llama` architecture as candle's quantized llama does (RMS norm,
//! interleaved rotary embedding, grouped-query attention, SwiGLU feed-forward, tied output).
//! Not here: tokenization, sampling, the decoding loop ([`crate::batch`]).

use std::io::{Read, Seek};
use std::sync::Arc;

use candle_core::Device;
use candle_core::quantized::gguf_file::Content;
use rayon::prelude::*;

use crate::LocalError;
use crate::kernels::{MatrixQ8, QueryRow, attend_rows, quantize_rows};

/// The hyper-parameters read from the GGUF metadata.
#[derive(Debug, Clone, PartialEq)]
pub struct Shape {
    /// Layers.
    pub layers: usize,
    /// Hidden size.
    pub hidden: usize,
    /// Attention heads.
    pub heads: usize,
    /// Key/value heads (grouped-query attention).
    pub kv_heads: usize,
    /// Feed-forward size.
    pub ffn: usize,
    /// Vocabulary size.
    pub vocabulary: usize,
    /// RMS norm epsilon.
    pub norm_eps: f32,
    /// Rotary base frequency.
    pub rope_base: f32,
    /// Largest position the rotary table covers.
    pub max_positions: usize,
}

impl Shape {
    fn head_dim(&self) -> usize {
        self.hidden / self.heads
    }

    fn kv_width(&self) -> usize {
        self.kv_heads * self.head_dim()
    }

    /// Parameters in the weight matrices (what a step reads).
    pub fn parameters(&self) -> usize {
        let attention =
            self.hidden * (self.hidden + 2 * self.kv_width()) + self.hidden * self.hidden;
        let ffn = 3 * self.hidden * self.ffn;
        self.layers * (attention + ffn) + self.vocabulary * self.hidden
    }
}

struct Layer {
    attention_norm: Vec<f32>,
    /// q, k and v stacked: `hidden + 2 * kv_width` rows.
    qkv: MatrixQ8,
    output: MatrixQ8,
    ffn_norm: Vec<f32>,
    /// gate and up stacked: `2 * ffn` rows.
    gate_up: MatrixQ8,
    down: MatrixQ8,
}

/// The model's weights.
pub struct Transformer {
    shape: Shape,
    layers: Vec<Layer>,
    output_norm: Vec<f32>,
    /// The token embedding, also the output projection when the file has none of its own.
    embedding: MatrixQ8,
    output: Option<MatrixQ8>,
    /// cos and sin of every (position, pair), `max_positions * head_dim / 2` each.
    rope_cos: Vec<f32>,
    rope_sin: Vec<f32>,
}

/// Keys and values of a prompt, shared by the sequences that continue it.
#[derive(Debug, Default)]
pub struct Prefix {
    /// Per layer: positions × kv_width keys, then values.
    keys: Vec<Vec<f32>>,
    values: Vec<Vec<f32>>,
    len: usize,
}

impl Prefix {
    /// Positions held.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether it holds nothing.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The first `len` positions (all of them when `len` is larger).
    pub fn truncated(&self, len: usize) -> Prefix {
        let len = len.min(self.len);
        let keep = |layers: &[Vec<f32>]| -> Vec<Vec<f32>> {
            layers
                .iter()
                .map(|l| l[..len * (l.len() / self.len.max(1))].to_vec())
                .collect()
        };
        Prefix {
            keys: keep(&self.keys),
            values: keep(&self.values),
            len,
        }
    }
}

/// One sequence's keys and values: a shared prefix, then its own positions.
#[derive(Debug)]
pub struct KvCache {
    prefix: Arc<Prefix>,
    keys: Vec<Vec<f32>>,
    values: Vec<Vec<f32>>,
    own: usize,
}

impl KvCache {
    /// An empty cache continuing `prefix`.
    pub fn after(prefix: Arc<Prefix>, layers: usize) -> Self {
        Self {
            prefix,
            keys: vec![Vec::new(); layers],
            values: vec![Vec::new(); layers],
            own: 0,
        }
    }

    /// Positions held (prefix and own).
    pub fn len(&self) -> usize {
        self.prefix.len + self.own
    }

    /// Whether it holds nothing.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Forgets its last `n` own positions (tokens taken back).
    pub fn forget_last(&mut self, n: usize) {
        let n = n.min(self.own);
        if n == 0 {
            return;
        }
        let keep = self.own - n;
        for layer in self.keys.iter_mut().chain(self.values.iter_mut()) {
            let stride = layer.len() / self.own;
            layer.truncate(keep * stride);
        }
        self.own = keep;
    }

    /// This cache as a prefix for others (its own positions appended to its prefix's).
    pub fn into_prefix(self) -> Prefix {
        let KvCache {
            prefix,
            keys,
            values,
            own,
        } = self;
        let join = |shared: &[Vec<f32>], mine: Vec<Vec<f32>>| -> Vec<Vec<f32>> {
            mine.into_iter()
                .enumerate()
                .map(|(l, m)| {
                    let mut all = shared.get(l).cloned().unwrap_or_default();
                    all.extend(m);
                    all
                })
                .collect()
        };
        Prefix {
            keys: join(&prefix.keys, keys),
            values: join(&prefix.values, values),
            len: prefix.len + own,
        }
    }
}

fn metadata_u32(content: &Content, key: &str) -> Result<usize, String> {
    content
        .metadata
        .get(key)
        .ok_or_else(|| format!("the file has no {key}"))?
        .to_u32()
        .map(|v| v as usize)
        .map_err(|e| format!("{key}: {e}"))
}

fn metadata_f32(content: &Content, key: &str) -> Option<f32> {
    content.metadata.get(key).and_then(|v| v.to_f32().ok())
}

impl Shape {
    fn from_gguf(content: &Content, context: usize) -> Result<Self, String> {
        let hidden = metadata_u32(content, "llama.embedding_length")?;
        let heads = metadata_u32(content, "llama.attention.head_count")?;
        let kv_heads = metadata_u32(content, "llama.attention.head_count_kv").unwrap_or(heads);
        if heads == 0 || kv_heads == 0 || hidden % heads != 0 || heads % kv_heads != 0 {
            return Err(format!(
                "{heads} attention heads, {kv_heads} key/value heads and hidden size {hidden} do not fit together"
            ));
        }
        let head_dim = hidden / heads;
        if let Ok(rope) = metadata_u32(content, "llama.rope.dimension_count")
            && rope != head_dim
        {
            return Err(format!(
                "partial rotary embeddings ({rope} of {head_dim} dimensions) are not supported"
            ));
        }
        if head_dim % 2 != 0 {
            return Err(format!("head size {head_dim} is odd"));
        }
        Ok(Self {
            layers: metadata_u32(content, "llama.block_count")?,
            hidden,
            heads,
            kv_heads,
            ffn: metadata_u32(content, "llama.feed_forward_length")?,
            vocabulary: 0,
            norm_eps: metadata_f32(content, "llama.attention.layer_norm_rms_epsilon")
                .unwrap_or(1e-5),
            rope_base: metadata_f32(content, "llama.rope.freq_base").unwrap_or(10_000.0),
            max_positions: context.max(1),
        })
    }
}

/// Reads one tensor as f32 values with its (rows, cols) shape.
fn read_tensor<R: Read + Seek>(
    content: &Content,
    reader: &mut R,
    name: &str,
) -> Result<(Vec<f32>, usize, usize), String> {
    let tensor = content
        .tensor(reader, name, &Device::Cpu)
        .map_err(|e| format!("tensor {name}: {e}"))?;
    let dims = tensor.shape().dims().to_vec();
    let dense = tensor
        .dequantize(&Device::Cpu)
        .and_then(|t| t.flatten_all())
        .and_then(|t| t.to_vec1::<f32>())
        .map_err(|e| format!("tensor {name}: {e}"))?;
    let (rows, cols) = match dims.as_slice() {
        [n] => (1, *n),
        [rows, cols] => (*rows, *cols),
        other => return Err(format!("tensor {name} has shape {other:?}")),
    };
    Ok((dense, rows, cols))
}

fn read_matrix<R: Read + Seek>(
    content: &Content,
    reader: &mut R,
    name: &str,
    rows: usize,
    cols: usize,
) -> Result<MatrixQ8, String> {
    let (values, r, c) = read_tensor(content, reader, name)?;
    if (r, c) != (rows, cols) {
        return Err(format!(
            "tensor {name} is {r} x {c}; the metadata says {rows} x {cols}"
        ));
    }
    MatrixQ8::from_f32(&values, rows, cols).map_err(|e| format!("tensor {name}: {e}"))
}

fn read_vector<R: Read + Seek>(
    content: &Content,
    reader: &mut R,
    name: &str,
    len: usize,
) -> Result<Vec<f32>, String> {
    let (values, _, _) = read_tensor(content, reader, name)?;
    if values.len() != len {
        return Err(format!(
            "tensor {name} has {} values, not {len}",
            values.len()
        ));
    }
    Ok(values)
}

impl Transformer {
    /// Loads the weights of a llama-family GGUF (any tensor type candle can dequantise),
    /// re-quantised to 8-bit blocks. `context` bounds the positions.
    pub fn from_gguf<R: Read + Seek>(
        content: &Content,
        reader: &mut R,
        context: usize,
    ) -> Result<Self, LocalError> {
        Self::load(content, reader, context).map_err(LocalError::Unsupported)
    }

    fn load<R: Read + Seek>(
        content: &Content,
        reader: &mut R,
        context: usize,
    ) -> Result<Self, String> {
        let mut shape = Shape::from_gguf(content, context)?;
        let (embedding, vocabulary, hidden) = read_tensor(content, reader, "token_embd.weight")?;
        if hidden != shape.hidden {
            return Err(format!(
                "the token embedding is {hidden} wide; the metadata says {}",
                shape.hidden
            ));
        }
        shape.vocabulary = vocabulary;
        let embedding = MatrixQ8::from_f32(&embedding, vocabulary, hidden)
            .map_err(|e| format!("tensor token_embd.weight: {e}"))?;
        let output = if content.tensor_infos.contains_key("output.weight") {
            Some(read_matrix(
                content,
                reader,
                "output.weight",
                vocabulary,
                hidden,
            )?)
        } else {
            None
        };
        let (h, kv, ffn) = (shape.hidden, shape.kv_width(), shape.ffn);
        let mut layers = Vec::with_capacity(shape.layers);
        for l in 0..shape.layers {
            let name = |part: &str| format!("blk.{l}.{part}.weight");
            let q = read_matrix(content, reader, &name("attn_q"), h, h)?;
            let k = read_matrix(content, reader, &name("attn_k"), kv, h)?;
            let v = read_matrix(content, reader, &name("attn_v"), kv, h)?;
            let gate = read_matrix(content, reader, &name("ffn_gate"), ffn, h)?;
            let up = read_matrix(content, reader, &name("ffn_up"), ffn, h)?;
            layers.push(Layer {
                attention_norm: read_vector(content, reader, &name("attn_norm"), h)?,
                qkv: MatrixQ8::stack(&[q, k, v]),
                output: read_matrix(content, reader, &name("attn_output"), h, h)?,
                ffn_norm: read_vector(content, reader, &name("ffn_norm"), h)?,
                gate_up: MatrixQ8::stack(&[gate, up]),
                down: read_matrix(content, reader, &name("ffn_down"), h, ffn)?,
            });
        }
        let output_norm = read_vector(content, reader, "output_norm.weight", h)?;
        let (rope_cos, rope_sin) = rope_tables(&shape);
        Ok(Self {
            shape,
            layers,
            output_norm,
            embedding,
            output,
            rope_cos,
            rope_sin,
        })
    }

    /// The hyper-parameters.
    pub fn shape(&self) -> &Shape {
        &self.shape
    }

    /// A cache with nothing in it.
    pub fn empty_cache(&self) -> KvCache {
        KvCache::after(Arc::new(Prefix::default()), self.shape.layers)
    }

    /// Feeds `chunks[i]` to `caches[i]` (appending to it) and returns, for each chunk, the
    /// logits after its last token. Chunks must not be empty.
    pub fn forward(
        &self,
        chunks: &[&[u32]],
        caches: &mut [&mut KvCache],
    ) -> Result<Vec<Vec<f32>>, LocalError> {
        let s = &self.shape;
        // Row r of the step belongs to sequence `owner[r]` at position `position[r]`.
        let mut owner = Vec::new();
        let mut position = Vec::new();
        for (i, (chunk, cache)) in chunks.iter().zip(caches.iter()).enumerate() {
            if chunk.is_empty() {
                return Err(LocalError::Inference("an empty chunk".into()));
            }
            for (j, token) in chunk.iter().enumerate() {
                if *token as usize >= s.vocabulary {
                    return Err(LocalError::Inference(format!(
                        "token {token} is outside the vocabulary"
                    )));
                }
                let p = cache.len() + j;
                if p >= s.max_positions {
                    return Err(LocalError::Inference(format!(
                        "position {p} is beyond the model's context of {}",
                        s.max_positions
                    )));
                }
                owner.push(i);
                position.push(p);
            }
        }
        let n = owner.len();
        let tokens: Vec<u32> = chunks.iter().flat_map(|c| c.iter().copied()).collect();
        let mut x = vec![0.0f32; n * s.hidden];
        x.par_chunks_mut(s.hidden)
            .zip(tokens.par_iter())
            .for_each(|(row, &t)| self.embedding.dequantize_row(t as usize, row));
        for (l, layer) in self.layers.iter().enumerate() {
            self.attention_block(layer, l, &mut x, &owner, &position, caches);
            self.ffn_block(layer, &mut x, n);
        }
        for (cache, chunk) in caches.iter_mut().zip(chunks) {
            cache.own += chunk.len();
        }
        // Logits only for the last row of each chunk.
        let mut last = Vec::with_capacity(chunks.len());
        let mut end = 0;
        for chunk in chunks {
            end += chunk.len();
            last.extend_from_slice(&x[(end - 1) * s.hidden..end * s.hidden]);
        }
        let m = chunks.len();
        rms_norm_rows(&mut last, &self.output_norm, s.norm_eps);
        let lq = quantize_rows(&last, m);
        let head = self.output.as_ref().unwrap_or(&self.embedding);
        let mut logits = vec![0.0f32; m * s.vocabulary];
        head.matmul(&lq, m, &mut logits);
        Ok(logits.chunks(s.vocabulary).map(<[f32]>::to_vec).collect())
    }

    fn attention_block(
        &self,
        layer: &Layer,
        l: usize,
        x: &mut [f32],
        owner: &[usize],
        position: &[usize],
        caches: &mut [&mut KvCache],
    ) {
        let s = &self.shape;
        let n = owner.len();
        let (h, kv) = (s.hidden, s.kv_width());
        let qkv_width = h + 2 * kv;
        let mut normed = x.to_vec();
        rms_norm_rows(&mut normed, &layer.attention_norm, s.norm_eps);
        let nq = quantize_rows(&normed, n);
        let mut qkv = vec![0.0f32; n * qkv_width];
        layer.qkv.matmul(&nq, n, &mut qkv);
        qkv.par_chunks_mut(qkv_width)
            .zip(position.par_iter())
            .for_each(|(row, &p)| {
                self.rope(&mut row[..h + kv], p);
            });
        // Append each row's key and value to its sequence's cache, in order.
        for (r, &i) in owner.iter().enumerate() {
            let row = &qkv[r * qkv_width..(r + 1) * qkv_width];
            caches[i].keys[l].extend_from_slice(&row[h..h + kv]);
            caches[i].values[l].extend_from_slice(&row[h + kv..]);
        }
        // Attention: row r sees its sequence's positions up to its own.
        let caches_view: Vec<&KvCache> = caches.iter().map(|c| &**c).collect();
        let rows: Vec<QueryRow<'_>> = (0..n)
            .map(|r| {
                let cache = caches_view[owner[r]];
                let prefix = &cache.prefix;
                QueryRow {
                    q: &qkv[r * qkv_width..r * qkv_width + h],
                    keys: [
                        prefix.keys.get(l).map_or(&[][..], Vec::as_slice),
                        &cache.keys[l],
                    ],
                    values: [
                        prefix.values.get(l).map_or(&[][..], Vec::as_slice),
                        &cache.values[l],
                    ],
                    lens: [prefix.len, cache.keys[l].len() / kv],
                    seen: position[r] + 1,
                }
            })
            .collect();
        // Rows in a few tasks per thread: each task reads the shared keys and values once.
        let per_task = n.div_ceil(4 * rayon::current_num_threads().max(1)).max(1);
        let mut attended = vec![0.0f32; n * h];
        attended
            .par_chunks_mut(per_task * h)
            .zip(rows.par_chunks(per_task))
            .for_each(|(out, rows)| attend_rows(rows, s.head_dim(), s.kv_heads, kv, out));
        let aq = quantize_rows(&attended, n);
        let mut projected = vec![0.0f32; n * h];
        layer.output.matmul(&aq, n, &mut projected);
        x.iter_mut().zip(&projected).for_each(|(a, b)| *a += b);
    }

    fn ffn_block(&self, layer: &Layer, x: &mut [f32], n: usize) {
        let s = &self.shape;
        let mut normed = x.to_vec();
        rms_norm_rows(&mut normed, &layer.ffn_norm, s.norm_eps);
        let nq = quantize_rows(&normed, n);
        let mut gate_up = vec![0.0f32; n * 2 * s.ffn];
        layer.gate_up.matmul(&nq, n, &mut gate_up);
        let mut hidden = vec![0.0f32; n * s.ffn];
        hidden
            .par_chunks_mut(s.ffn)
            .zip(gate_up.par_chunks(2 * s.ffn))
            .for_each(|(out, gu)| {
                let (gate, up) = gu.split_at(s.ffn);
                for ((o, g), u) in out.iter_mut().zip(gate).zip(up) {
                    *o = g / (1.0 + (-g).exp()) * u;
                }
            });
        let hq = quantize_rows(&hidden, n);
        let mut down = vec![0.0f32; n * s.hidden];
        layer.down.matmul(&hq, n, &mut down);
        x.iter_mut().zip(&down).for_each(|(a, b)| *a += b);
    }

    /// Rotates the query heads and key heads of one row (`row` = q then k) for position `p`.
    fn rope(&self, row: &mut [f32], p: usize) {
        let half = self.shape.head_dim() / 2;
        let cos = &self.rope_cos[p * half..(p + 1) * half];
        let sin = &self.rope_sin[p * half..(p + 1) * half];
        for head in row.chunks_exact_mut(2 * half) {
            for (i, pair) in head.chunks_exact_mut(2).enumerate() {
                let (a, b) = (pair[0], pair[1]);
                pair[0] = a * cos[i] - b * sin[i];
                pair[1] = a * sin[i] + b * cos[i];
            }
        }
    }
}

fn rope_tables(shape: &Shape) -> (Vec<f32>, Vec<f32>) {
    let d = shape.head_dim();
    let theta: Vec<f32> = (0..d)
        .step_by(2)
        .map(|i| 1.0 / shape.rope_base.powf(i as f32 / d as f32))
        .collect();
    let mut cos = Vec::with_capacity(shape.max_positions * theta.len());
    let mut sin = Vec::with_capacity(shape.max_positions * theta.len());
    for p in 0..shape.max_positions {
        for t in &theta {
            let angle = p as f32 * t;
            cos.push(angle.cos());
            sin.push(angle.sin());
        }
    }
    (cos, sin)
}

/// RMS-normalises each row of `x` (rows as wide as `weight`) and scales by `weight`.
fn rms_norm_rows(x: &mut [f32], weight: &[f32], eps: f32) {
    x.par_chunks_mut(weight.len()).for_each(|row| {
        let mean_square = row.iter().map(|v| v * v).sum::<f32>() / row.len() as f32;
        let inverse = 1.0 / (mean_square + eps).sqrt();
        for (v, w) in row.iter_mut().zip(weight) {
            *v *= inverse * w;
        }
    });
}
