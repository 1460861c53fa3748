//! Seeded sampling of the next token from logits, restricted to the tokens a mask allows:
//! greedy at temperature 0, else softmax at the temperature, cut to the smallest set whose
//! probability reaches top-p (nucleus), drawn with ChaCha8 so that a seed replays exactly.

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

    /// The next token among those with `allowed[id]`; `None` when the mask allows none.
    pub fn sample(&mut self, logits: &[f32], allowed: &[bool]) -> Option<u32> {
        let mut candidates: Vec<(u32, f32)> = logits
            .iter()
            .zip(allowed)
            .enumerate()
            .filter(|(_, (logit, ok))| **ok && logit.is_finite())
            .map(|(id, (logit, _))| (id as u32, *logit))
            .collect();
        if candidates.is_empty() {
            // Every allowed token has a non-finite logit: fall back to the first allowed one.
            return allowed.iter().position(|ok| *ok).map(|id| id as u32);
        }
        // Highest logit first; ties broken by id so the order never depends on the input order.
        candidates.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        if self.temperature <= 0.0 || candidates.len() == 1 {
            return Some(candidates[0].0);
        }
        let top = f64::from(candidates[0].1);
        let weights: Vec<f64> = candidates
            .iter()
            .map(|(_, logit)| ((f64::from(*logit) - top) / self.temperature).exp())
            .collect();
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
        let mass: f64 = weights[..cut].iter().sum();
        let mut draw = self.rng.random_range(0.0..mass);
        for (i, w) in weights[..cut].iter().enumerate() {
            if draw < *w {
                return Some(candidates[i].0);
            }
            draw -= w;
        }
        Some(candidates[cut - 1].0)
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
