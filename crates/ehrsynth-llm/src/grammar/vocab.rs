//! The model's tokens as bytes and the flattened byte trie the mask walks.

/// The model's tokens as raw bytes, with a byte trie for fast masking.
pub struct TokenVocabulary {
    pub(super) tokens: Vec<Vec<u8>>,
    pub(super) end_of_text: u32,
    pub(super) special: Vec<bool>,
    pub(super) trie: FlatTrie,
}

/// A byte trie in depth-first order. Node `i` (the root is implicit) has byte `bytes[i]`, depth
/// `depth[i]` (1 for a token's first byte), its subtree is `i..end[i]`, and the tokens ending at
/// it are `ids[first_id[i]..first_id[i + 1]]`.
#[derive(Default)]
pub(super) struct FlatTrie {
    pub(super) bytes: Vec<u8>,
    pub(super) depth: Vec<u16>,
    pub(super) end: Vec<u32>,
    pub(super) first_id: Vec<u32>,
    pub(super) ids: Vec<u32>,
    pub(super) max_depth: usize,
}

/// A trie node while building: children sorted by byte.
#[derive(Default)]
pub(super) struct BuildNode {
    pub(super) children: Vec<(u8, u32)>,
    pub(super) ids: Vec<u32>,
}

impl FlatTrie {
    pub(super) fn build(tokens: &[Vec<u8>], usable: impl Fn(usize) -> bool) -> Self {
        let mut nodes = vec![BuildNode::default()];
        for (id, bytes) in tokens.iter().enumerate() {
            if bytes.is_empty() || !usable(id) {
                continue;
            }
            let mut at = 0usize;
            for &b in bytes {
                at = match nodes[at].children.binary_search_by_key(&b, |c| c.0) {
                    Ok(k) => nodes[at].children[k].1 as usize,
                    Err(k) => {
                        let new = nodes.len() as u32;
                        nodes[at].children.insert(k, (b, new));
                        nodes.push(BuildNode::default());
                        new as usize
                    }
                };
            }
            nodes[at].ids.push(id as u32);
        }
        let mut flat = FlatTrie::default();
        // Iterative pre-order walk: (node, byte, depth, index in flat when entered or None).
        let mut stack: Vec<(usize, u8, u16, Option<usize>)> = nodes[0]
            .children
            .iter()
            .rev()
            .map(|&(b, n)| (n as usize, b, 1, None))
            .collect();
        while let Some((node, byte, depth, entered)) = stack.pop() {
            if let Some(index) = entered {
                flat.end[index] = flat.bytes.len() as u32;
                continue;
            }
            let index = flat.bytes.len();
            flat.bytes.push(byte);
            flat.depth.push(depth);
            flat.end.push(0);
            flat.first_id.push(flat.ids.len() as u32);
            flat.ids.extend_from_slice(&nodes[node].ids);
            flat.max_depth = flat.max_depth.max(depth as usize);
            stack.push((node, byte, depth, Some(index)));
            for &(b, child) in nodes[node].children.iter().rev() {
                stack.push((child as usize, b, depth + 1, None));
            }
        }
        flat.first_id.push(flat.ids.len() as u32);
        flat
    }

    /// Calls `allow(id)` for every token whose bytes `step` accepts one by one from `start`.
    pub(super) fn walk<S: Copy>(
        &self,
        start: S,
        mut step: impl FnMut(&S, u8) -> Option<S>,
        mut allow: impl FnMut(u32),
    ) {
        let mut states = vec![start; self.max_depth + 1];
        let n = self.bytes.len();
        let mut i = 0;
        while i < n {
            let depth = self.depth[i] as usize;
            match step(&states[depth - 1], self.bytes[i]) {
                None => i = self.end[i] as usize,
                Some(next) => {
                    states[depth] = next;
                    let ids = &self.ids[self.first_id[i] as usize..self.first_id[i + 1] as usize];
                    for &id in ids {
                        allow(id);
                    }
                    i += 1;
                }
            }
        }
    }
}

/// GPT-2's byte-to-character table, inverted: printable Latin-1 bytes stand for themselves,
/// the other 68 bytes for U+0100 onwards in byte order.
pub(super) fn byte_level_decoder() -> std::collections::HashMap<char, u8> {
    let printable = |b: u8| matches!(b, b'!'..=b'~' | 0xA1..=0xAC | 0xAE..=0xFF);
    let mut next = 256u32;
    (0..=255u8)
        .map(|b| {
            let c = if printable(b) {
                char::from(b)
            } else {
                next += 1;
                char::from_u32(next - 1).unwrap_or('\u{FFFD}')
            };
            (c, b)
        })
        .collect()
}

/// A control token such as `<|im_start|>`, `<|endoftext|>` or `<repo_name>`.
pub(super) fn looks_special(bytes: &[u8]) -> bool {
    bytes.len() >= 3
        && bytes[0] == b'<'
        && bytes[bytes.len() - 1] == b'>'
        && bytes[1..bytes.len() - 1]
            .iter()
            .all(|&b| b.is_ascii_alphanumeric() || b == b'_' || b == b'|')
        && (bytes.len() > 4 || bytes[1] == b'|')
}

impl TokenVocabulary {
    /// The vocabulary from each token's raw bytes (index = token id). Tokens that look like
    /// control tokens (`<|...|>`, `<name_with_underscores>`) are special and never allowed, nor
    /// are empty ones; mark others with [`TokenVocabulary::with_special`].
    pub fn new(tokens: Vec<Vec<u8>>, end_of_text: u32) -> Self {
        let special: Vec<bool> = tokens
            .iter()
            .enumerate()
            .map(|(id, t)| id as u32 == end_of_text || looks_special(t))
            .collect();
        Self::build(tokens, end_of_text, special)
    }

    /// The vocabulary from GPT-2 style byte-level token strings (as GGUF files of byte-level BPE
    /// models store them: each byte is one printable character, `Ġ` for a space, `Ċ` for a
    /// newline). Characters outside that alphabet (in control tokens) are kept as UTF-8.
    pub fn from_byte_level(tokens: &[String], end_of_text: u32) -> Self {
        let decode = byte_level_decoder();
        let bytes = tokens
            .iter()
            .map(|t| {
                let mut out = Vec::with_capacity(t.len());
                for c in t.chars() {
                    match decode.get(&c) {
                        Some(&b) => out.push(b),
                        None => out.extend_from_slice(c.encode_utf8(&mut [0; 4]).as_bytes()),
                    }
                }
                out
            })
            .collect();
        Self::new(bytes, end_of_text)
    }

    /// The same vocabulary with tokens `ids` also special (e.g. the GGUF's control tokens).
    pub fn with_special(self, ids: impl IntoIterator<Item = u32>) -> Self {
        let mut special = self.special;
        for id in ids {
            if let Some(s) = special.get_mut(id as usize) {
                *s = true;
            }
        }
        Self::build(self.tokens, self.end_of_text, special)
    }

    pub(super) fn build(tokens: Vec<Vec<u8>>, end_of_text: u32, special: Vec<bool>) -> Self {
        let trie = FlatTrie::build(&tokens, |id| !special[id]);
        Self {
            tokens,
            end_of_text,
            special,
            trie,
        }
    }

    /// Number of tokens.
    pub fn len(&self) -> usize {
        self.tokens.len()
    }

    /// True when there are no tokens.
    pub fn is_empty(&self) -> bool {
        self.tokens.is_empty()
    }

    /// The end-of-text token.
    pub fn end_of_text(&self) -> u32 {
        self.end_of_text
    }

    /// The bytes of token `id`.
    pub fn bytes(&self, id: u32) -> Option<&[u8]> {
        self.tokens.get(id as usize).map(Vec::as_slice)
    }

    /// Whether token `id` is special (never part of an answer's text).
    pub fn is_special(&self, id: u32) -> bool {
        self.special.get(id as usize).copied().unwrap_or(true)
    }

    /// Bytes with no single-byte ordinary token: decoding can get stuck only if some are needed.
    pub fn missing_single_bytes(&self) -> Vec<u8> {
        let mut present = [false; 256];
        for (id, t) in self.tokens.iter().enumerate() {
            if t.len() == 1 && !self.special[id] {
                present[t[0] as usize] = true;
            }
        }
        (0..=255u8).filter(|&b| !present[b as usize]).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_level_strings_decode_to_bytes() {
        let tokens: Vec<String> = ["<|endoftext|>", "Ġthe", "Ċ", ",Ċ", "Ã©", "12"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let vocab = TokenVocabulary::from_byte_level(&tokens, 0);
        assert_eq!(vocab.bytes(1), Some(&b" the"[..]));
        assert_eq!(vocab.bytes(2), Some(&b"\n"[..]));
        assert_eq!(vocab.bytes(3), Some(&b",\n"[..]));
        assert_eq!(vocab.bytes(4), Some("é".as_bytes()));
        assert!(vocab.is_special(0) && !vocab.is_special(5));
        assert_eq!(byte_level_decoder().len(), 256);
    }

    #[test]
    fn special_tokens_are_recognised() {
        assert!(looks_special(b"<|im_start|>"));
        assert!(looks_special(b"<repo_name>"));
        assert!(looks_special(b"<|endoftext|>"));
        assert!(!looks_special(b"<5"));
        assert!(!looks_special(b"<b>"));
        assert!(!looks_special(b"a<b>"));
    }
}
