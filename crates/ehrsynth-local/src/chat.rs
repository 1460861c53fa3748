//! Chat messages rendered into one prompt with the model's template. ChatML-family templates
//! (`<|im_start|>role\n…<|im_end|>\n`, used by SmolLM2, Qwen and many others) are supported
//! explicitly, including a default system message the template inserts when the chat has none;
//! other templates get a clear error naming the file's template family.

use crate::LocalError;

/// One chat message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// `system`, `user` or `assistant`.
    pub role: String,
    /// The text.
    pub content: String,
}

/// A chat template the runtime can render.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChatTemplate {
    /// The system message added when the chat has none (from the template's own text).
    default_system: Option<String>,
}

const START: &str = "<|im_start|>";
const END: &str = "<|im_end|>";

impl ChatTemplate {
    /// Recognises the GGUF's Jinja template (`tokenizer.chat_template`); a model without one is
    /// assumed to use plain ChatML.
    pub fn from_jinja(template: Option<&str>) -> Result<Self, LocalError> {
        let Some(template) = template else {
            return Ok(Self {
                default_system: None,
            });
        };
        if !template.contains(START) || !template.contains(END) {
            let family = [
                "[INST]",
                "<start_of_turn>",
                "<|start_header_id|>",
                "<|user|>",
            ]
            .into_iter()
            .find(|marker| template.contains(marker))
            .unwrap_or("an unknown family");
            return Err(LocalError::Unsupported(format!(
                "the model's chat template ({family}) is not supported; the local provider renders \
                 ChatML templates (<|im_start|>role … <|im_end|>), as SmolLM2 and Qwen use"
            )));
        }
        Ok(Self {
            default_system: default_system_message(template),
        })
    }

    /// The prompt for `messages`, ending with the opening of the assistant's turn.
    pub fn render(&self, messages: &[Message]) -> String {
        let mut out = String::new();
        if let (Some(system), false) = (
            &self.default_system,
            messages.first().is_some_and(|m| m.role == "system"),
        ) {
            out.push_str(&format!("{START}system\n{system}{END}\n"));
        }
        for m in messages {
            out.push_str(&format!("{START}{}\n{}{END}\n", m.role, m.content));
        }
        out.push_str(&format!("{START}assistant\n"));
        out
    }
}

/// The literal default system text in a template such as SmolLM2's
/// `{{ '<|im_start|>system\nYou are a helpful AI assistant …<|im_end|>\n' }}`.
fn default_system_message(template: &str) -> Option<String> {
    // The template's newline is a Jinja escape (`\\n`) or a real line break.
    let (at, marker) = [format!("{START}system\\n"), format!("{START}system\n")]
        .into_iter()
        .find_map(|m| template.find(&m).map(|at| (at, m)))?;
    let start = at + marker.len();
    let end = start + template[start..].find(END)?;
    let text = &template[start..end];
    // A Jinja expression there (`' + message['content'] + '`) is not a literal default.
    (!text.contains('\'') && !text.contains("{{")).then(|| text.replace("\\n", "\n"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SMOLLM2: &str = "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}{{ '<|im_start|>system\\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\\n' }}{% endif %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";

    fn user(text: &str) -> Message {
        Message {
            role: "user".into(),
            content: text.into(),
        }
    }

    #[test]
    fn smollm2_template_adds_its_default_system_message() {
        let template = ChatTemplate::from_jinja(Some(SMOLLM2)).unwrap();
        assert_eq!(
            template.render(&[user("Hi")]),
            "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"
        );
        let with_system = [
            Message {
                role: "system".into(),
                content: "Be brief.".into(),
            },
            user("Hi"),
        ];
        assert!(
            template
                .render(&with_system)
                .starts_with("<|im_start|>system\nBe brief.<|im_end|>")
        );
    }

    #[test]
    fn other_template_families_are_refused_by_name() {
        let llama3 = "{% for m in messages %}<|start_header_id|>{{ m['role'] }}<|end_header_id|>{% endfor %}";
        let error = ChatTemplate::from_jinja(Some(llama3))
            .unwrap_err()
            .to_string();
        assert!(error.contains("<|start_header_id|>"), "{error}");
        assert!(error.contains("ChatML"), "{error}");
    }
}
