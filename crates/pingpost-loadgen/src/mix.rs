//! Which consumer each ping carries. The choice is a pure function of the run's seed and
//! the ping's sequence number, so it needs no shared state between in-flight requests and
//! a run can be replayed.

use serde::{Deserialize, Serialize};

/// How far back a repeat may reach for its earlier consumer. Far enough back that the
/// original has usually been answered, near enough to stay inside any dedup window.
const REPEAT_WINDOW: u64 = 1000;
/// How many earlier pings a repeat inspects to find a fresh one before giving up.
const REPEAT_PROBES: u64 = 64;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Consumer {
    /// A consumer never seen before, named by the sequence number that introduced it.
    Fresh(u64),
    /// The consumer introduced by an earlier fresh ping: the engine answers
    /// `vertical_duplicate` (to whichever of the two arrives second).
    Repeat(u64),
    /// Entry `k` of the suppression list.
    Suppressed(u64),
}

#[derive(Clone, Copy, Debug)]
pub struct Mix {
    pub repeat_share: f64,
    pub suppressed_share: f64,
    pub suppressed_list: u64,
    pub seed: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Fresh,
    Repeat,
    Suppressed,
}

impl Mix {
    /// Checks the shares: each in 0..=1 and together at most 1.
    pub fn new(repeat_share: f64, suppressed_share: f64, suppressed_list: u64, seed: u64) -> Result<Self, String> {
        for (name, v) in [("repeat share", repeat_share), ("suppressed share", suppressed_share)] {
            if !(0.0..=1.0).contains(&v) {
                return Err(format!("{name} {v} is not between 0 and 1"));
            }
        }
        if repeat_share + suppressed_share > 1.0 {
            return Err(format!("repeat share {repeat_share} + suppressed share {suppressed_share} exceed 1"));
        }
        if suppressed_share > 0.0 && suppressed_list == 0 {
            return Err("a suppressed share needs a suppression list of at least one consumer".into());
        }
        Ok(Mix { repeat_share, suppressed_share, suppressed_list, seed })
    }

    /// Only fresh consumers (the echo server, or a store without suppression).
    pub fn without_suppressed(self) -> Self {
        Mix { suppressed_share: 0.0, ..self }
    }

    fn draw(&self, seq: u64, salt: u64) -> u64 {
        splitmix64(self.seed ^ seq.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ salt)
    }

    fn kind(&self, seq: u64) -> Kind {
        let u = (self.draw(seq, 1) >> 11) as f64 / (1u64 << 53) as f64;
        if u < self.suppressed_share {
            Kind::Suppressed
        } else if u < self.suppressed_share + self.repeat_share {
            Kind::Repeat
        } else {
            Kind::Fresh
        }
    }

    pub fn consumer(&self, seq: u64) -> Consumer {
        match self.kind(seq) {
            Kind::Fresh => Consumer::Fresh(seq),
            Kind::Suppressed => Consumer::Suppressed(self.draw(seq, 2) % self.suppressed_list.max(1)),
            Kind::Repeat => {
                if seq == 0 {
                    return Consumer::Fresh(seq);
                }
                let back = 1 + self.draw(seq, 3) % seq.min(REPEAT_WINDOW);
                let mut j = seq - back;
                for _ in 0..REPEAT_PROBES {
                    if self.kind(j) == Kind::Fresh {
                        return Consumer::Repeat(j);
                    }
                    if j == 0 {
                        break;
                    }
                    j -= 1;
                }
                // Nothing fresh to repeat (the very start of a run, or absurd shares).
                Consumer::Fresh(seq)
            }
        }
    }
}

/// The counts of each kind of consumer sent.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MixCounts {
    pub fresh: u64,
    pub repeat: u64,
    pub suppressed: u64,
}

impl MixCounts {
    pub fn add(&mut self, c: Consumer) {
        match c {
            Consumer::Fresh(_) => self.fresh += 1,
            Consumer::Repeat(_) => self.repeat += 1,
            Consumer::Suppressed(_) => self.suppressed += 1,
        }
    }
}

/// The email of a consumer; `run` keeps consumers of different runs on one store apart.
pub fn email(run: &str, c: Consumer) -> String {
    match c {
        Consumer::Fresh(i) | Consumer::Repeat(i) => format!("lg-{run}-{i}@loadgen.example"),
        Consumer::Suppressed(k) => suppressed_email(run, k),
    }
}

pub fn suppressed_email(run: &str, k: u64) -> String {
    format!("lg-{run}-sup-{k}@loadgen.example")
}

/// The body of a ping. Only the email varies; qualifying fields are fixed so every contract
/// of the benchmark offer is a candidate.
pub fn ping_body(offer: &str, email: &str) -> String {
    serde_json::json!({
        "offer": offer,
        "lead": {"email": email, "state": "CA", "zip": "90210", "age": 34},
    })
    .to_string()
}

fn splitmix64(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counts(mix: &Mix, n: u64) -> MixCounts {
        let mut c = MixCounts::default();
        for seq in 0..n {
            c.add(mix.consumer(seq));
        }
        c
    }

    #[test]
    fn shares_are_honoured_within_a_percent() {
        let mix = Mix::new(0.2, 0.05, 100, 42).unwrap();
        let c = counts(&mix, 100_000);
        assert_eq!(c.fresh + c.repeat + c.suppressed, 100_000);
        assert!((c.repeat as f64 / 1e5 - 0.2).abs() < 0.01, "{c:?}");
        assert!((c.suppressed as f64 / 1e5 - 0.05).abs() < 0.01, "{c:?}");
    }

    #[test]
    fn zero_shares_give_only_fresh_consumers_each_once() {
        let mix = Mix::new(0.0, 0.0, 0, 7).unwrap();
        for seq in 0..10_000 {
            assert_eq!(mix.consumer(seq), Consumer::Fresh(seq));
        }
    }

    #[test]
    fn a_repeat_reuses_an_earlier_fresh_consumer() {
        let mix = Mix::new(0.5, 0.1, 10, 3).unwrap();
        let mut repeats = 0;
        for seq in 0..20_000 {
            match mix.consumer(seq) {
                Consumer::Repeat(j) => {
                    repeats += 1;
                    assert!(j < seq && seq - j <= REPEAT_WINDOW + REPEAT_PROBES);
                    assert_eq!(mix.consumer(j), Consumer::Fresh(j), "ping {seq} repeats {j}");
                    assert_eq!(email("r", Consumer::Repeat(j)), email("r", Consumer::Fresh(j)));
                }
                Consumer::Suppressed(k) => assert!(k < 10),
                Consumer::Fresh(i) => assert_eq!(i, seq),
            }
        }
        assert!(repeats > 9_000);
        assert_eq!(mix.consumer(0), Consumer::Fresh(0), "nothing to repeat yet");
    }

    #[test]
    fn the_mix_is_a_function_of_seed_and_sequence() {
        let a = Mix::new(0.2, 0.05, 100, 1).unwrap();
        let b = Mix::new(0.2, 0.05, 100, 1).unwrap();
        let c = Mix::new(0.2, 0.05, 100, 2).unwrap();
        let pick = |m: &Mix| (0..1000).map(|s| m.consumer(s)).collect::<Vec<_>>();
        assert_eq!(pick(&a), pick(&b));
        assert_ne!(pick(&a), pick(&c));
    }

    #[test]
    fn without_suppressed_moves_that_share_to_fresh() {
        let mix = Mix::new(0.2, 0.3, 100, 9).unwrap().without_suppressed();
        let c = counts(&mix, 50_000);
        assert_eq!(c.suppressed, 0);
        assert!((c.repeat as f64 / 5e4 - 0.2).abs() < 0.01, "{c:?}");
    }

    #[test]
    fn bad_shares_are_refused() {
        assert!(Mix::new(1.2, 0.0, 1, 0).is_err());
        assert!(Mix::new(0.7, 0.4, 1, 0).is_err());
        assert!(Mix::new(0.0, -0.1, 1, 0).is_err());
        assert!(Mix::new(0.0, 0.1, 0, 0).is_err());
    }

    #[test]
    fn the_body_is_a_ping() {
        let body: serde_json::Value = serde_json::from_str(&ping_body("auto-excl", "a@b.example")).unwrap();
        assert_eq!(body["offer"], "auto-excl");
        assert_eq!(body["lead"]["email"], "a@b.example");
    }
}
