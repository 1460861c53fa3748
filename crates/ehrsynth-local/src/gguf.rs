//! Reading a GGUF file: its metadata (vocabulary, special tokens, chat template) and, for tensor
//! types that candle has no SIMD CPU kernel for (Q4_1, Q5_0, Q5_1), a one-time re-quantisation to
//! Q8_0, which candle multiplies about three times faster on x86-64.

use std::fs::File;
use std::io::{BufReader, BufWriter};
use std::path::Path;

use candle_core::Device;
use candle_core::quantized::gguf_file::{self, Content, Value};
use candle_core::quantized::{GgmlDType, QTensor};

use crate::LocalError;

/// Token types of llama.cpp's vocabulary (`tokenizer.ggml.token_type`).
pub mod token_type {
    /// An ordinary token.
    pub const NORMAL: u32 = 1;
    /// A control token such as `<|im_start|>`: never produced as text.
    pub const CONTROL: u32 = 3;
}

/// The tokenizer and chat facts a GGUF carries.
#[derive(Debug, Clone)]
pub struct GgufInfo {
    /// `general.architecture` (e.g. `llama`).
    pub architecture: String,
    /// `tokenizer.ggml.model` (only `gpt2`, byte-level BPE, is supported).
    pub tokenizer_model: String,
    /// `tokenizer.ggml.pre`: which pre-tokenizer (e.g. `smollm`, `llama-bpe`, `gpt2`).
    pub pre_tokenizer: String,
    /// Token texts in the byte-level alphabet, by id.
    pub tokens: Vec<String>,
    /// Token types by id (see [`token_type`]).
    pub token_types: Vec<u32>,
    /// BPE merges, "left right" by rank.
    pub merges: Vec<String>,
    /// End-of-sequence token (ends an answer).
    pub eos: u32,
    /// The Jinja chat template, if the file has one.
    pub chat_template: Option<String>,
    /// Trained context length.
    pub context_length: usize,
}

fn model_error(path: &Path, message: impl Into<String>) -> LocalError {
    LocalError::Model {
        path: path.display().to_string(),
        message: message.into(),
    }
}

/// Opens a GGUF file and reads its header (metadata and tensor table).
pub fn open(path: &Path) -> Result<(Content, BufReader<File>), LocalError> {
    let file = File::open(path).map_err(|e| LocalError::io(path, e))?;
    let length = file.metadata().map_err(|e| LocalError::io(path, e))?.len();
    let mut reader = BufReader::new(file);
    crate::gguf_check::check_header(&mut reader, length)
        .map_err(|e| model_error(path, format!("not a readable GGUF file ({e})")))?;
    let content = Content::read(&mut reader)
        .map_err(|e| model_error(path, format!("not a readable GGUF file ({e})")))?;
    Ok((content, reader))
}

fn string_array(content: &Content, key: &str, path: &Path) -> Result<Vec<String>, LocalError> {
    let value = content
        .metadata
        .get(key)
        .ok_or_else(|| model_error(path, format!("no `{key}` in the metadata")))?;
    let items = value
        .to_vec()
        .map_err(|_| model_error(path, format!("`{key}` is not an array")))?;
    items
        .iter()
        .map(|v| {
            v.to_string()
                .cloned()
                .map_err(|_| model_error(path, format!("`{key}` holds a non-string")))
        })
        .collect()
}

fn as_u32(value: &Value) -> Option<u32> {
    match value {
        Value::U8(v) => Some(u32::from(*v)),
        Value::I8(v) => u32::try_from(*v).ok(),
        Value::U16(v) => Some(u32::from(*v)),
        Value::I16(v) => u32::try_from(*v).ok(),
        Value::U32(v) => Some(*v),
        Value::I32(v) => u32::try_from(*v).ok(),
        Value::U64(v) => u32::try_from(*v).ok(),
        Value::I64(v) => u32::try_from(*v).ok(),
        _ => None,
    }
}

fn text(content: &Content, key: &str) -> Option<String> {
    content
        .metadata
        .get(key)
        .and_then(|v| v.to_string().ok().cloned())
}

impl GgufInfo {
    /// Reads the tokenizer and chat facts of `content` (read from `path`, named in errors).
    pub fn from_content(content: &Content, path: &Path) -> Result<Self, LocalError> {
        let architecture = text(content, "general.architecture").unwrap_or_default();
        let tokens = string_array(content, "tokenizer.ggml.tokens", path)?;
        let token_types = match content.metadata.get("tokenizer.ggml.token_type") {
            Some(Value::Array(values)) => values
                .iter()
                .map(|v| as_u32(v).unwrap_or(token_type::NORMAL))
                .collect(),
            _ => vec![token_type::NORMAL; tokens.len()],
        };
        let eos = content
            .metadata
            .get("tokenizer.ggml.eos_token_id")
            .and_then(as_u32)
            .ok_or_else(|| model_error(path, "no end-of-sequence token id in the metadata"))?;
        let context_length = content
            .metadata
            .get(&format!("{architecture}.context_length"))
            .and_then(as_u32)
            .unwrap_or(2048) as usize;
        Ok(Self {
            tokenizer_model: text(content, "tokenizer.ggml.model").unwrap_or_default(),
            pre_tokenizer: text(content, "tokenizer.ggml.pre").unwrap_or_else(|| "gpt2".into()),
            merges: string_array(content, "tokenizer.ggml.merges", path)?,
            chat_template: text(content, "tokenizer.chat_template"),
            architecture,
            tokens,
            token_types,
            eos,
            context_length,
        })
    }

    /// Each token's raw bytes: byte-level BPE tokens mapped back through GPT-2's byte-to-unicode
    /// table. Control tokens keep their literal text (the runtime never lets them be sampled).
    pub fn token_bytes(&self) -> Vec<Vec<u8>> {
        let decode = unicode_to_byte();
        self.tokens
            .iter()
            .zip(&self.token_types)
            .map(|(token, kind)| {
                if *kind == token_type::CONTROL {
                    return token.as_bytes().to_vec();
                }
                let mut bytes = Vec::with_capacity(token.len());
                for c in token.chars() {
                    match decode.get(&c) {
                        Some(b) => bytes.push(*b),
                        // Not in the byte alphabet (user-defined tokens): keep its UTF-8.
                        None => bytes.extend_from_slice(c.encode_utf8(&mut [0; 4]).as_bytes()),
                    }
                }
                bytes
            })
            .collect()
    }
}

/// GPT-2's byte-to-unicode table, inverted: printable bytes stand for themselves, the other 68
/// bytes were shifted to U+0100 and up.
fn unicode_to_byte() -> std::collections::HashMap<char, u8> {
    let printable = |b: u8| matches!(b, b'!'..=b'~' | 0xA1..=0xAC | 0xAE..=0xFF);
    let mut table = std::collections::HashMap::with_capacity(256);
    let mut shifted = 0u32;
    for b in 0..=255u8 {
        let c = if printable(b) {
            char::from(b)
        } else {
            shifted += 1;
            char::from_u32(255 + shifted).unwrap_or(char::REPLACEMENT_CHARACTER)
        };
        table.insert(c, b);
    }
    table
}

/// Tensor types without a fast CPU kernel in candle.
fn is_slow_type(dtype: GgmlDType) -> bool {
    matches!(dtype, GgmlDType::Q4_1 | GgmlDType::Q5_0 | GgmlDType::Q5_1)
}

/// Whether the model holds tensors worth re-quantising (see [`requantize_to_q8`]).
pub fn needs_requantization(content: &Content) -> bool {
    content
        .tensor_infos
        .values()
        .any(|info| is_slow_type(info.ggml_dtype))
}

/// Writes a copy of the GGUF at `source` to `target` with its Q4_1 / Q5_0 / Q5_1 tensors
/// re-quantised to Q8_0 (the others and all metadata unchanged). Q8_0 loses nothing that the
/// 4- and 5-bit formats kept, and candle decodes it about three times faster.
pub fn requantize_to_q8(source: &Path, target: &Path) -> Result<(), LocalError> {
    let (content, mut reader) = open(source)?;
    let mut names: Vec<&String> = content.tensor_infos.keys().collect();
    names.sort();
    let mut tensors: Vec<(String, QTensor)> = Vec::with_capacity(names.len());
    for name in names {
        let tensor = content
            .tensor(&mut reader, name, &Device::Cpu)
            .map_err(|e| model_error(source, format!("tensor {name}: {e}")))?;
        let tensor = if is_slow_type(tensor.dtype()) {
            let dense = tensor.dequantize(&Device::Cpu)?;
            QTensor::quantize(&dense, GgmlDType::Q8_0)?
        } else {
            tensor
        };
        tensors.push((name.clone(), tensor));
    }
    let mut metadata: Vec<(&str, &Value)> = content
        .metadata
        .iter()
        .map(|(k, v)| (k.as_str(), v))
        .collect();
    metadata.sort_by(|a, b| a.0.cmp(b.0));
    let partial = target.with_extension("gguf.partial");
    let file = File::create(&partial).map_err(|e| LocalError::io(&partial, e))?;
    let mut writer = BufWriter::new(file);
    let refs: Vec<(&str, &QTensor)> = tensors.iter().map(|(n, t)| (n.as_str(), t)).collect();
    gguf_file::write(&mut writer, &metadata, &refs)
        .map_err(|e| model_error(target, format!("writing the Q8_0 copy: {e}")))?;
    drop(writer);
    std::fs::rename(&partial, target).map_err(|e| LocalError::io(target, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_alphabet_covers_every_byte_once() {
        let table = unicode_to_byte();
        assert_eq!(table.len(), 256);
        assert_eq!(table[&'Ġ'], b' ');
        assert_eq!(table[&'Ċ'], b'\n');
        assert_eq!(table[&'ĉ'], b'\t');
        assert_eq!(table[&'a'], b'a');
    }
}
