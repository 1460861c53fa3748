//! Seeded sampling of the next token from logits, restricted to the tokens a mask allows:
//! greedy at temperature 0, else softmax at the temperature, cut to the smallest set whose
//! probability reaches top-p (nucleus), drawn with ChaCha8 so that a seed replays exactly.
//! Only the nucleus is sorted: at top-p 1 the draw walks the allowed tokens in id order, so a
//! step costs one pass over the vocabulary, not a sort of it.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Temperature / top-p sampling with its own random stream.
#[derive(Debug, Clone)]
pub struct Sampler {
    temperature: f64,
    top_p: f64,
    rng: ChaCha8Rng,
}

impl Sampler {
    /// A sampler; `temperature` ≤ 0 means greedy, `top_p` is clamped to (0, 1].
    pub fn new(temperature: f64, top_p: f64, seed: u64) -> Self {
        Self {
            temperature,
            top_p: if top_p > 0.0 { top_p.min(1.0) } else { 1.0 },
            rng: ChaCha8Rng::seed_from_u64(seed),
        }
    }

    /// The sampling temperature (0 or less: greedy).
    pub fn temperature(&self) -> f64 {
        self.temperature
    }

    /// A uniform draw in [0, 1) from this sampler's stream.
    pub fn uniform(&mut self) -> f64 {
        self.rng.random_range(0.0..1.0)
    }

    /// The next token among those with `allowed[id]`; `None` when the mask allows none.
    pub fn sample(&mut self, logits: &[f32], allowed: &[bool]) -> Option<u32> {
        // The allowed tokens with a finite logit, in id order, and the best of them (ties go to
        // the lower id, so the choice never depends on anything but the logits).
        let mut candidates: Vec<(u32, f32)> = Vec::new();
        let mut best: Option<(u32, f32)> = None;
        for (id, (logit, ok)) in logits.iter().zip(allowed).enumerate() {
            if *ok && logit.is_finite() {
                candidates.push((id as u32, *logit));
                if best.is_none_or(|(_, b)| *logit > b) {
                    best = Some((id as u32, *logit));
                }
            }
        }
        let Some((best_id, top)) = best else {
            // Every allowed token has a non-finite logit: fall back to the first allowed one.
            return allowed.iter().position(|ok| *ok).map(|id| id as u32);
        };
        if self.temperature <= 0.0 || candidates.len() == 1 {
            return Some(best_id);
        }
        let top = f64::from(top);
        let weight = |logit: f32| ((f64::from(logit) - top) / self.temperature).exp();
        if self.top_p < 1.0 {
            // The nucleus: highest logits first (ties by id), cut where the mass reaches top-p.
            candidates.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
            let weights: Vec<f64> = candidates.iter().map(|(_, l)| weight(*l)).collect();
            let total: f64 = weights.iter().sum();
            let mut kept = 0.0;
            let mut cut = candidates.len();
            for (i, w) in weights.iter().enumerate() {
                kept += w / total;
                if kept >= self.top_p {
                    cut = i + 1;
                    break;
                }
            }
            candidates.truncate(cut);
        }
        let weights: Vec<f64> = candidates.iter().map(|(_, l)| weight(*l)).collect();
        let mass: f64 = weights.iter().sum();
        let mut draw = self.rng.random_range(0.0..mass);
        for (i, w) in weights.iter().enumerate() {
            if draw < *w {
                return Some(candidates[i].0);
            }
            draw -= w;
        }
        candidates.last().map(|c| c.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masked_tokens_are_never_drawn_and_greedy_takes_the_best_allowed() {
        let logits = [5.0, 1.0, 3.0, 2.0];
        let allowed = [false, true, true, true];
        let mut greedy = Sampler::new(0.0, 1.0, 1);
        assert_eq!(greedy.sample(&logits, &allowed), Some(2));
        let mut hot = Sampler::new(2.0, 1.0, 7);
        for _ in 0..200 {
            assert_ne!(hot.sample(&logits, &allowed), Some(0));
        }
        assert_eq!(hot.sample(&logits, &[false; 4]), None);
    }

    #[test]
    fn top_p_keeps_only_the_nucleus_and_seeds_replay() {
        // Token 0 holds ~0.88 of the mass: top-p 0.5 always picks it.
        let logits = [4.0, 1.0, 1.0, 1.0];
        let allowed = [true; 4];
        let mut nucleus = Sampler::new(1.0, 0.5, 3);
        assert!((0..100).all(|_| nucleus.sample(&logits, &allowed) == Some(0)));
        let draws = |seed| {
            let mut s = Sampler::new(1.5, 1.0, seed);
            (0..50)
                .map(|_| s.sample(&logits, &allowed).unwrap())
                .collect::<Vec<_>>()
        };
        assert_eq!(draws(11), draws(11));
        assert_ne!(draws(11), draws(12));
        assert!(
            draws(11).iter().any(|&t| t != 0),
            "temperature 1.5 explores"
        );
    }
}
