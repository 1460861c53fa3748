//! The built-in reference cohort: a **simulated**, eICU-shaped ICU table with exactly the 83
//! columns of [`eicu_schema`], in that order. It is the offline default that quickstart and most
//! tests use, because the real eICU database needs credentials. No row comes from a real patient;
//! every value is drawn from the hand-written generative model below, seeded, so the same
//! [`ReferenceConfig`] always gives the same table.
//!
//! # Generative story
//!
//! **Hospitals.** Each of `hospitals` sites gets an eICU-like integer `hospitalid` from a fixed
//! list, a size weight `exp(N(0, 0.9²))` (so sizes are unequal, a few large sites and a long
//! tail; every site has at least one stay) and random effects: a severity-mix shift `N(0, 0.3²)`,
//! a baseline-mortality shift on the logit scale `N(0, 0.3²)`, an elective-surgery share shift,
//! race proportions that vary around eICU's, measurement-practice shifts for lactate, blood gases,
//! INR and the liver panel (logit scale), and lab calibration offsets (creatinine and glucose
//! multiplicative, sodium additive, lactate multiplicative). The severity, mortality and
//! practice shifts are centred on their size-weighted mean, so hospitals differ from one another
//! while the cohort-wide death and missing rates stay near their targets for every seed.
//!
//! **Stays.** Rows are in `patientunitstayid` order, which starts near 100000 and rises by
//! irregular gaps of 1 to 40; hospitals are interleaved.
//! Per stay (z = standard normal, `za = (age - 63) / 17`):
//! - demographics: female with p = 0.45; race African American 11%, Hispanic 4%, Asian 1.6%,
//!   unknown (all four flags 0) 3%, other (Caucasian included) the rest, varied per hospital;
//!   age `N(64, 16.5²)` truncated to [16, 89], whole years, with a point mass of 3% at 90
//!   (eICU's "> 89"); elective surgery 15% (varied per hospital).
//! - latents: comorbidity `C = 0.6 za + 0.8 z`; severity
//!   `S = hospital shift + 0.3 C - 0.9 elective + z`; renal `R = 0.5 C + 0.35 S + 0.8 z`;
//!   liver `L = 0.3 S + z`; inflammation `I = 0.5 S + 0.9 z`; respiratory `P = 0.6 S + 0.8 z`;
//!   shock `K = 0.7 S + 0.7 z`.
//! - ventilation: Bernoulli(`sigmoid(-1.15 + 1.1 P + 0.9 elective)`); `ventdays` is missing for
//!   stays never ventilated, else a whole number (0-1 after elective surgery, otherwise
//!   lognormal with median about 2 rising with `P`), never more than the hospital stay.
//! - vitals: a per-stay level driven by the latents (heart rate up with `K` and `I`, blood
//!   pressure down with `K`, respiratory rate up and SpO2 down with `P`, temperature with `I`
//!   and hypothermia in deep shock) plus a within-day spread; `first` and `last` are drawn around
//!   the level and `min`/`max` lie beyond both, so `min <= first, last <= max` always. Diastolic
//!   is capped 12 mmHg below systolic and mean = (sys + 2 dias) / 3 + a small per-stay offset,
//!   so `sysbp > meanbp > diasbp` for every summary.
//! - labs: log-normal or normal around physiological centres moved by the latents (BUN and
//!   creatinine share `R`, both rising with comorbidity and so with age; albumin falls with `C`,
//!   `S`, `L`; lactate rises with `K`; WBC and bands with `I`; bilirubin and INR with `L`, 5% of
//!   INRs raised as if anticoagulated);
//!   hematocrit = 3 × hemoglobin + N(0, 1.2²). `last_early` moves 20% of the way back to normal
//!   with correlated noise; a quarter of measured panels have a single measurement, so
//!   `last_early == first_early`. Blood gases are built consistently: FiO2 (0.21 on room air,
//!   0.3-1.0 when ventilated), a P/F latent falling with `P`, `pao2 = PF × FiO2` (clipped),
//!   `pao2fio2ratio = pao2 / FiO2`, `paco2` from a respiratory component plus metabolic
//!   compensation, `pH` by Henderson–Hasselbalch from bicarbonate and paCO2 (so pH and paCO2 move
//!   against each other), base excess from bicarbonate and pH (so it moves with bicarbonate).
//! - outcome: the risk model below, then `death ~ Bernoulli(p)`.
//! - hospital length of stay: lognormal, median about 5 days, longer with `S` and ventilation;
//!   stays ending in death are shortened by a factor `exp(N(-0.7, 0.5²))`; clipped to [0.05, 365].
//! - urine output: lognormal around 1700 mL, lower with `R` and `K`.
//!
//! Every value is clipped to a physiological range and then to the schema's valid range, and
//! rounded to a realistic resolution; both steps keep the vital-sign ordering.
//!
//! # Risk model
//!
//! `p = sigmoid(lp)`, with (values before missingness is applied; `x⁺ = max(x, 0)`)
//!
//! ```text
//! lp = -3.3 + 0.75 S + 0.2 C + 0.02 (age - 65)
//!      + 0.45 ln(lactate_first / 1.5) + 0.35 ln(bun_first / 18)
//!      + 0.025 (90 - sysbp_min)⁺ + 0.45 ventilated - 0.7 electivesurgery
//!      + 0.4 (3.3 - albumin_first)⁺ + 0.5 (|tempc_first - 37| - 1)⁺
//!      + 0.15 ln(bilirubin_first / 0.7)⁺ + hospital mortality shift
//! ```
//!
//! The probability of every row is returned in [`ReferenceCohort::true_risk`]. At 20 000 rows
//! with the default seed the death rate is about 9% and the AUROC of `true_risk` against the
//! drawn labels about 0.85 (the module's tests hold them to [0.08, 0.10] and [0.80, 0.90]).
//!
//! # Missingness (approximate day-1 rates, like eICU's)
//!
//! Vitals: all four summaries missing together; heart rate 1%, blood pressures 1.5% (together),
//! respiratory rate 2%, SpO2 1.5%, temperature 5%. Labs: `first_early` and `last_early` always
//! missing together; the chemistry panel (BUN, creatinine, sodium, potassium, glucose) about 6%,
//! bicarbonate and calcium about 10%, the blood count (hemoglobin, hematocrit, WBC, platelets)
//! about 7%, INR about 50%, bilirubin and albumin about 55% (together), lactate about 65%,
//! bands about 85%, blood gases about 60% (all five together). Sicker stays are measured more
//! often (lactate, blood gases, bands, INR, liver panel), and hospitals differ in lactate, gas,
//! INR and liver-panel practice. Urine output 15%, age 0.2%, `ventdays` about 70% (= never
//! ventilated). `hosp_los`, ids, `death` and the binary and group columns are never missing.
//!
//! # Known limits
//!
//! - The dependence structure is hand-written and far simpler than real ICU data: latents are
//!   Gaussian, most relations linear on a log or raw scale, no diagnoses, no time series.
//! - Missingness depends on severity and hospital but is otherwise random; real eICU missingness
//!   is richer (unit type, interfaces, charting habits).
//! - The risk model uses latents that are not in the table, so the AUROC a model can reach from
//!   the columns is below that of `true_risk`.
//! - `hosp_los` and `ventdays` depend on the outcome, as in eICU (the schema flags them as known
//!   only after the outcome).
//! - Proportions and coefficients were tuned by eye to published eICU summaries, not fitted.

use ehrsynth_table::{Column, ColumnData, ColumnKind, Table, TableError, Validity};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::features::{LABS, VITALS, eicu_schema};

/// Most rows one call builds (10 million rows already take several GB); larger requests fail.
pub const MAX_ROWS: usize = 10_000_000;

/// How big a reference cohort to simulate, and from which seed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReferenceConfig {
    /// Number of ICU stays (rows).
    pub rows: usize,
    /// Number of hospitals; each gets at least one stay.
    pub hospitals: usize,
    /// Seed of the ChaCha8 generator; the same config always gives the same table.
    pub seed: u64,
}

impl Default for ReferenceConfig {
    /// 10 000 rows from 20 hospitals, seed 42.
    fn default() -> Self {
        Self {
            rows: 10_000,
            hospitals: 20,
            seed: 42,
        }
    }
}

/// A simulated cohort: the 83-column table and the model's death probability per row.
#[derive(Debug, Clone)]
pub struct ReferenceCohort {
    /// The table, with the columns of [`eicu_schema`] in order.
    pub table: Table,
    /// The risk model's death probability for each row (the label is Bernoulli of it).
    pub true_risk: Vec<f64>,
}

/// Why a reference cohort could not be built.
#[derive(Debug, thiserror::Error)]
pub enum ReferenceError {
    /// `rows` was 0.
    #[error("the reference cohort needs at least one row (rows = 0)")]
    NoRows,
    /// `hospitals` was 0.
    #[error("the reference cohort needs at least one hospital (hospitals = 0)")]
    NoHospitals,
    /// More hospitals than rows: some hospital would have no stay.
    #[error(
        "{hospitals} hospitals cannot each have a stay among {rows} rows; use at most as many hospitals as rows"
    )]
    MoreHospitalsThanRows {
        /// Requested rows.
        rows: usize,
        /// Requested hospitals.
        hospitals: usize,
    },
    /// More rows than [`MAX_ROWS`].
    #[error(
        "{rows} rows is more than the reference cohort's limit of {max}; build several smaller cohorts with different seeds"
    )]
    TooManyRows {
        /// Requested rows.
        rows: usize,
        /// The limit.
        max: usize,
    },
    /// The columns could not be assembled into a table (a bug in this module).
    #[error("could not assemble the reference table: {0}")]
    Table(#[from] TableError),
}

// Positions of the vitals in `VITALS` and of the labs in `LABS` (checked by a test).
const HR: usize = 0;
const SYS: usize = 1;
const DIA: usize = 2;
const MBP: usize = 3;
const RR: usize = 4;
const TEMP: usize = 5;
const SPO2: usize = 6;

const ALB: usize = 0;
const BANDS: usize = 1;
const HCO3: usize = 2;
const BILI: usize = 3;
const BUN: usize = 4;
const CA: usize = 5;
const CREAT: usize = 6;
const GLU: usize = 7;
const HCT: usize = 8;
const HGB: usize = 9;
const INR: usize = 10;
const LAC: usize = 11;
const PLT: usize = 12;
const K: usize = 13;
const NA: usize = 14;
const WBC: usize = 15;
const PAO2: usize = 16;
const PACO2: usize = 17;
const PF: usize = 18;
const PH: usize = 19;
const BE: usize = 20;

// Column positions in `eicu_schema()` order (checked by a test).
const COL_ID: usize = 0;
const COL_HOSPITAL: usize = 1;
const COL_DEATH: usize = 2;
const COL_LOS: usize = 3;
const COL_VENTDAYS: usize = 4;
const VITAL_BASE: usize = 5;
const LAB_BASE: usize = VITAL_BASE + 4 * VITALS.len();
const COL_URINE: usize = LAB_BASE + 2 * LABS.len();
const COL_FEMALE: usize = COL_URINE + 1;
const COL_AGE: usize = COL_FEMALE + 1;
const COL_RACE: usize = COL_AGE + 1;
const COL_ELECTIVE: usize = COL_RACE + 4;
const N_COLS: usize = COL_ELECTIVE + 1;

/// Column of summary `s` (0 first, 1 last, 2 min, 3 max) of vital `v`.
const fn vital_col(v: usize, s: usize) -> usize {
    VITAL_BASE + s * VITALS.len() + v
}

/// Column of summary `s` (0 first_early, 1 last_early) of lab `l`.
const fn lab_col(l: usize, s: usize) -> usize {
    LAB_BASE + s * LABS.len() + l
}

/// eICU-like hospital identifiers; sites beyond the list get 1000 + their index.
const HOSPITAL_IDS: [i64; 60] = [
    73, 264, 420, 243, 338, 443, 199, 458, 300, 188, 252, 167, 122, 208, 449, 307, 416, 413, 394,
    345, 176, 281, 110, 142, 154, 183, 197, 248, 279, 280, 283, 365, 382, 411, 417, 424, 435, 440,
    79, 92, 95, 131, 141, 148, 157, 165, 171, 180, 181, 195, 202, 206, 226, 227, 244, 259, 268,
    269, 271, 301,
];

/// eICU race proportions: African American, Hispanic, Asian, unknown (all flags 0); the rest is
/// "other" (Caucasian included).
const RACE_BASE: [f64; 4] = [0.11, 0.04, 0.016, 0.03];

/// A seeded generator with Box–Muller normals (the spare of each pair is kept).
struct Sampler {
    rng: ChaCha8Rng,
    spare: Option<f64>,
}

impl Sampler {
    fn new(seed: u64) -> Self {
        Self {
            rng: ChaCha8Rng::seed_from_u64(seed),
            spare: None,
        }
    }

    /// Uniform on [0, 1).
    fn uniform(&mut self) -> f64 {
        self.rng.random::<f64>()
    }

    /// Standard normal.
    fn normal(&mut self) -> f64 {
        if let Some(z) = self.spare.take() {
            return z;
        }
        // 1 - u lies in (0, 1], so the logarithm is finite.
        let u1 = 1.0 - self.uniform();
        let u2 = self.uniform();
        let r = (-2.0 * u1.ln()).sqrt();
        let (sin, cos) = (std::f64::consts::TAU * u2).sin_cos();
        self.spare = Some(r * sin);
        r * cos
    }

    /// True with probability `p`.
    fn bernoulli(&mut self, p: f64) -> bool {
        self.uniform() < p
    }

    /// exp(N(mu, sigma²)).
    fn lognormal(&mut self, mu: f64, sigma: f64) -> f64 {
        (mu + sigma * self.normal()).exp()
    }
}

fn sigmoid(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

fn logit(p: f64) -> f64 {
    (p / (1.0 - p)).ln()
}

/// `x` rounded to `decimals` places.
fn round_to(x: f64, decimals: i32) -> f64 {
    let scale = 10f64.powi(decimals);
    (x * scale).round() / scale
}

/// Clips to the physiological range `phys`, rounds, then clips to the schema range `valid`.
/// Every step is monotone, so orderings between values survive.
fn finish(x: f64, phys: (f64, f64), decimals: i32, valid: (f64, f64)) -> f64 {
    round_to(x.clamp(phys.0, phys.1), decimals).clamp(valid.0, valid.1)
}

/// One hospital's identifier and random effects.
struct Hospital {
    id: i64,
    weight: f64,
    severity: f64,
    mortality: f64,
    elective_logit: f64,
    race: [f64; 4],
    lactate_practice: f64,
    gas_practice: f64,
    inr_practice: f64,
    liver_practice: f64,
    creatinine_cal: f64,
    glucose_cal: f64,
    sodium_cal: f64,
    lactate_cal: f64,
}

impl Hospital {
    fn draw(s: &mut Sampler, index: usize) -> Self {
        let id = HOSPITAL_IDS
            .get(index)
            .copied()
            .unwrap_or(1000 + index as i64);
        let mut race = [0.0; 4];
        for (r, base) in race.iter_mut().zip(RACE_BASE) {
            // Mean-one multiplicative variation around eICU's proportions.
            *r = base * (0.5 * s.normal() - 0.125).exp();
        }
        Self {
            id,
            weight: s.lognormal(0.0, 0.9),
            severity: 0.3 * s.normal(),
            mortality: 0.3 * s.normal(),
            elective_logit: logit(0.15) + 0.4 * s.normal(),
            race,
            lactate_practice: 0.8 * s.normal(),
            gas_practice: 0.5 * s.normal(),
            inr_practice: 0.5 * s.normal(),
            liver_practice: 0.5 * s.normal(),
            creatinine_cal: 0.06 * s.normal(),
            glucose_cal: 0.04 * s.normal(),
            sodium_cal: 1.5 * s.normal(),
            lactate_cal: 0.08 * s.normal(),
        }
    }
}

/// `first`, `last`, `min`, `max` of a vital around `level`, with a within-day spread of
/// `typical_spread × exp(N(0, 0.3²))`; `first_shift` moves the admission value.
/// min <= first, last <= max by construction.
fn vital_summaries(s: &mut Sampler, level: f64, typical_spread: f64, first_shift: f64) -> [f64; 4] {
    let spread = typical_spread * s.lognormal(0.0, 0.3);
    let first = level + first_shift + spread * s.normal();
    let last = level + 0.8 * spread * s.normal();
    let min = first.min(last) - spread * (0.2 + s.normal().abs());
    let max = first.max(last) + spread * (0.2 + s.normal().abs());
    [first, last, min, max]
}

/// First and last value of a lab on its working scale: `base + dev + sd·e` first, then 20% of
/// the way back to `base` with noise correlated `rho`; identical when `single`.
fn lab_pair(s: &mut Sampler, single: bool, base: f64, dev: f64, sd: f64, rho: f64) -> (f64, f64) {
    let e1 = s.normal();
    let first = base + dev + sd * e1;
    if single {
        return (first, first);
    }
    let e2 = rho * e1 + (1.0 - rho * rho).sqrt() * s.normal();
    (first, base + 0.8 * dev + sd * e2)
}

/// One blood gas: (pao2, paco2, P/F ratio, pH, base excess) from bicarbonate, the respiratory
/// latent and noise, FiO2 and the P/F latent. pao2 = ratio × FiO2 clipped, ratio recomputed.
fn blood_gas(s: &mut Sampler, hco3: f64, resp: f64, fio2: f64, pf_latent: f64) -> [f64; 5] {
    let paco2 = (40.0 + 0.7 * (hco3 - 24.0) + 5.0 * resp + 6.0 * s.normal()).clamp(18.0, 120.0);
    let ph = (6.1 + (hco3 / (0.0307 * paco2)).log10() + 0.02 * s.normal()).clamp(6.8, 7.75);
    let be = 0.93 * (hco3 - 24.4 + 14.8 * (ph - 7.4)) + s.normal();
    let pao2 = round_to((pf_latent * fio2).clamp(35.0, 600.0), 0);
    let ratio = round_to(pao2 / fio2, 2);
    [
        pao2,
        round_to(paco2, 0),
        ratio,
        round_to(ph, 2),
        round_to(be, 1),
    ]
}

/// Checks the configuration.
fn check(config: &ReferenceConfig) -> Result<(), ReferenceError> {
    if config.rows == 0 {
        return Err(ReferenceError::NoRows);
    }
    if config.hospitals == 0 {
        return Err(ReferenceError::NoHospitals);
    }
    if config.hospitals > config.rows {
        return Err(ReferenceError::MoreHospitalsThanRows {
            rows: config.rows,
            hospitals: config.hospitals,
        });
    }
    if config.rows > MAX_ROWS {
        return Err(ReferenceError::TooManyRows {
            rows: config.rows,
            max: MAX_ROWS,
        });
    }
    Ok(())
}

/// Centres the severity, mortality and measurement-practice shifts on their size-weighted
/// means, so that hospitals differ from each other while the cohort's overall death rate and
/// missing rates stay near their targets for any seed.
fn center_effects(hospitals: &mut [Hospital]) {
    let total: f64 = hospitals.iter().map(|h| h.weight).sum();
    if total <= 0.0 || !total.is_finite() {
        return;
    }
    let fields: [fn(&mut Hospital) -> &mut f64; 6] = [
        |h| &mut h.severity,
        |h| &mut h.mortality,
        |h| &mut h.lactate_practice,
        |h| &mut h.gas_practice,
        |h| &mut h.inr_practice,
        |h| &mut h.liver_practice,
    ];
    for field in fields {
        let mean = hospitals
            .iter_mut()
            .map(|h| h.weight * *field(h))
            .sum::<f64>()
            / total;
        for h in hospitals.iter_mut() {
            *field(h) -= mean;
        }
    }
}

/// Hospital index of every row: each hospital once, the rest by size weight, shuffled.
fn assign_hospitals(s: &mut Sampler, hospitals: &[Hospital], rows: usize) -> Vec<usize> {
    let mut cumulative = Vec::with_capacity(hospitals.len());
    let mut total = 0.0;
    for h in hospitals {
        total += h.weight;
        cumulative.push(total);
    }
    let last = hospitals.len().saturating_sub(1);
    let mut assigned: Vec<usize> = (0..hospitals.len()).collect();
    for _ in hospitals.len()..rows {
        let u = s.uniform() * total;
        assigned.push(cumulative.partition_point(|&c| c <= u).min(last));
    }
    for i in (1..assigned.len()).rev() {
        let j = ((s.uniform() * (i + 1) as f64) as usize).min(i);
        assigned.swap(i, j);
    }
    assigned
}

/// Simulates the reference cohort described in the module documentation.
pub fn reference_cohort(config: &ReferenceConfig) -> Result<ReferenceCohort, ReferenceError> {
    check(config)?;
    let schema = eicu_schema();
    let mut s = Sampler::new(config.seed);
    let mut hospitals: Vec<Hospital> = (0..config.hospitals)
        .map(|i| Hospital::draw(&mut s, i))
        .collect();
    center_effects(&mut hospitals);
    let assignment = assign_hospitals(&mut s, &hospitals, config.rows);

    let mut columns: Vec<Vec<f64>> = (0..N_COLS)
        .map(|_| Vec::with_capacity(config.rows))
        .collect();
    let mut true_risk = Vec::with_capacity(config.rows);
    let mut row = [f64::NAN; N_COLS];
    let mut id: i64 = 100_000;
    for &h in &assignment {
        // `assignment` only holds indices below hospitals.len().
        let Some(hospital) = hospitals.get(h) else {
            continue;
        };
        row.fill(f64::NAN);
        id += 1 + (s.uniform() * 40.0) as i64;
        row[COL_ID] = id as f64;
        let risk = simulate_stay(&mut s, hospital, &mut row);
        true_risk.push(risk);
        for (column, &value) in columns.iter_mut().zip(row.iter()) {
            column.push(value);
        }
    }

    let built = schema
        .columns()
        .iter()
        .zip(columns)
        .map(|(spec, values)| to_column(&spec.name, spec.kind, values))
        .collect();
    Ok(ReferenceCohort {
        table: Table::new(built)?,
        true_risk,
    })
}

/// A typed column from values with NaN for missing.
fn to_column(name: &str, kind: ColumnKind, values: Vec<f64>) -> Column {
    let mut validity = Validity::new();
    for v in &values {
        validity.push(!v.is_nan());
    }
    let data = match kind {
        ColumnKind::Integer => ColumnData::Integer(
            values
                .iter()
                .map(|&v| if v.is_nan() { 0 } else { v as i64 })
                .collect(),
        ),
        ColumnKind::Binary => ColumnData::Binary(values.iter().map(|&v| v == 1.0).collect()),
        _ => ColumnData::Continuous(values),
    };
    Column::new(name, data, validity)
}

/// Writes one vital's four summaries, each finished with the vital's ranges.
fn put_vital(row: &mut [f64; N_COLS], v: usize, values: [f64; 4], phys: (f64, f64), decimals: i32) {
    let valid = VITALS[v].range;
    for (k, x) in values.into_iter().enumerate() {
        row[vital_col(v, k)] = finish(x, phys, decimals, valid);
    }
}

/// Writes one lab's first and last value, finished with the lab's ranges.
fn put_lab(row: &mut [f64; N_COLS], l: usize, pair: (f64, f64), phys: (f64, f64), decimals: i32) {
    let valid = LABS[l].range;
    row[lab_col(l, 0)] = finish(pair.0, phys, decimals, valid);
    row[lab_col(l, 1)] = finish(pair.1, phys, decimals, valid);
}

/// Value of lab `l` (first) as written, even if it is later blanked for missingness.
fn lab_first(row: &[f64; N_COLS], l: usize) -> f64 {
    row[lab_col(l, 0)]
}

/// Blanks the summaries of a vital.
fn blank_vital(row: &mut [f64; N_COLS], v: usize) {
    for k in 0..4 {
        row[vital_col(v, k)] = f64::NAN;
    }
}

/// Blanks both values of a lab.
fn blank_lab(row: &mut [f64; N_COLS], l: usize) {
    row[lab_col(l, 0)] = f64::NAN;
    row[lab_col(l, 1)] = f64::NAN;
}

/// Simulates one stay into `row` (the id is already set) and returns its death probability.
fn simulate_stay(s: &mut Sampler, h: &Hospital, row: &mut [f64; N_COLS]) -> f64 {
    row[COL_HOSPITAL] = h.id as f64;

    // Demographics.
    let female = s.bernoulli(0.45);
    // Race: African American, Hispanic, Asian, unknown (no flag) by the hospital's
    // proportions, otherwise race_other.
    let u = s.uniform();
    let mut race = [0.0; 4];
    let mut acc = 0.0;
    let mut drawn = None;
    for (k, p) in h.race.iter().enumerate() {
        acc += p;
        if u < acc {
            drawn = Some(k);
            break;
        }
    }
    match drawn {
        Some(k @ 0..=2) => race[k] = 1.0,
        Some(_) => {}
        None => race[3] = 1.0,
    }
    let age = if s.bernoulli(0.03) {
        90.0
    } else {
        let mut a = 64.0 + 16.5 * s.normal();
        for _ in 0..20 {
            if (16.0..90.0).contains(&a) {
                break;
            }
            a = 64.0 + 16.5 * s.normal();
        }
        a.clamp(16.0, 89.0).floor()
    };
    let elective = s.bernoulli(sigmoid(h.elective_logit));
    let el = if elective { 1.0 } else { 0.0 };
    let za = (age - 63.0) / 17.0;

    // Latents.
    let c = 0.6 * za + 0.8 * s.normal();
    let sev = h.severity + 0.3 * c - 0.9 * el + s.normal();
    let renal = 0.5 * c + 0.35 * sev + 0.8 * s.normal();
    let liver = 0.3 * sev + s.normal();
    let infl = 0.5 * sev + 0.9 * s.normal();
    let resp = 0.6 * sev + 0.8 * s.normal();
    let shock = 0.7 * sev + 0.7 * s.normal();
    let vent = s.bernoulli(sigmoid(-1.15 + 1.1 * resp + 0.9 * el));

    // Vitals.
    let hr_level = 86.0 + 9.0 * shock + 4.0 * infl + 12.0 * s.normal();
    let hr = vital_summaries(s, hr_level, 7.0, 3.0);
    put_vital(row, HR, hr, (30.0, 200.0), 1);

    let sys_level = 124.0 - 11.0 * shock + 5.0 * za + 15.0 * s.normal();
    let mut sys = vital_summaries(s, sys_level, 12.0, 4.0);
    let dia_level = 64.0 - 6.0 * shock - 3.0 * za + 0.25 * (sys_level - 124.0) + 8.0 * s.normal();
    let mut dia = vital_summaries(s, dia_level, 8.0, 2.0);
    for k in 0..4 {
        sys[k] = sys[k].clamp(45.0, 250.0);
        // Pointwise min/max with order-consistent bounds keep min <= first, last <= max.
        dia[k] = dia[k].min(sys[k] - 12.0).max(20.0);
    }
    let offset = (1.5 * s.normal()).clamp(-2.0, 2.0);
    let mbp = [0, 1, 2, 3].map(|k| (sys[k] + 2.0 * dia[k]) / 3.0 + offset);
    put_vital(row, SYS, sys, (45.0, 250.0), 1);
    put_vital(row, DIA, dia, (20.0, 160.0), 1);
    put_vital(row, MBP, mbp, (25.0, 200.0), 1);

    let rr_level = 18.5 + 2.5 * resp + 3.5 * s.normal();
    let rr = vital_summaries(s, rr_level, 3.0, 1.0);
    put_vital(row, RR, rr, (5.0, 55.0), 1);

    let temp_level = 36.85 + 0.3 * infl - 0.6 * (shock - 1.5).max(0.0) + 0.4 * s.normal();
    let temp = vital_summaries(s, temp_level, 0.3, -0.1);
    put_vital(row, TEMP, temp, (31.0, 42.5), 2);

    let spo2_level = 97.3 - 1.4 * resp + 1.5 * s.normal();
    let spo2 = vital_summaries(s, spo2_level, 1.3, -0.5);
    put_vital(row, SPO2, spo2, (60.0, 100.0), 1);

    // Labs: panels measured together, a quarter of them only once.
    let single_chem = s.bernoulli(0.25);
    let single_cbc = s.bernoulli(0.25);
    let single_other = s.bernoulli(0.25);
    let fem = if female { 1.0 } else { 0.0 };

    let creat = lab_pair(
        s,
        single_chem,
        (0.95f64).ln() + h.creatinine_cal - 0.2 * fem,
        0.45 * renal,
        0.2,
        0.8,
    );
    put_lab(row, CREAT, (creat.0.exp(), creat.1.exp()), (0.2, 20.0), 2);
    let bun = lab_pair(
        s,
        single_chem,
        (18.0f64).ln() + 0.08 * za,
        0.5 * renal,
        0.25,
        0.8,
    );
    put_lab(row, BUN, (bun.0.exp(), bun.1.exp()), (2.0, 250.0), 0);
    let na = lab_pair(s, single_chem, 139.0 + h.sodium_cal, -0.6 * shock, 3.8, 0.7);
    put_lab(row, NA, na, (110.0, 175.0), 0);
    let k = lab_pair(s, single_chem, 4.1, 0.18 * renal, 0.5, 0.5);
    put_lab(row, K, k, (2.0, 8.5), 1);
    let glu = lab_pair(
        s,
        single_chem,
        (132.0f64).ln() + h.glucose_cal,
        0.1 * sev,
        0.35,
        0.5,
    );
    put_lab(row, GLU, (glu.0.exp(), glu.1.exp()), (30.0, 1200.0), 0);
    let hco3 = lab_pair(s, single_chem, 24.0, -2.2 * shock - 0.6 * renal, 3.3, 0.7);
    put_lab(row, HCO3, hco3, (5.0, 50.0), 0);

    let alb = lab_pair(
        s,
        single_other,
        3.2,
        -0.2 * c - 0.2 * sev - 0.1 * liver,
        0.45,
        0.8,
    );
    put_lab(row, ALB, alb, (1.0, 5.5), 1);
    let ca = lab_pair(
        s,
        single_chem,
        8.5 + 0.3 * (alb.0 - 3.2),
        -0.2 * sev,
        0.45,
        0.6,
    );
    put_lab(row, CA, ca, (5.0, 13.0), 1);

    let hgb = lab_pair(
        s,
        single_cbc,
        11.6 - 0.8 * fem,
        -0.4 * c - 0.3 * sev,
        1.8,
        0.8,
    );
    put_lab(row, HGB, hgb, (4.0, 20.0), 1);
    let hct_first = 3.0 * row[lab_col(HGB, 0)] + 1.2 * s.normal();
    let hct_last = if single_cbc {
        hct_first
    } else {
        3.0 * row[lab_col(HGB, 1)] + 1.2 * s.normal()
    };
    let hct = (hct_first, hct_last);
    put_lab(row, HCT, hct, (12.0, 60.0), 1);
    let wbc = lab_pair(s, single_cbc, (10.0f64).ln(), 0.3 * infl, 0.4, 0.7);
    put_lab(row, WBC, (wbc.0.exp(), wbc.1.exp()), (0.3, 90.0), 1);
    let plt = lab_pair(
        s,
        single_cbc,
        (210.0f64).ln(),
        -0.15 * sev - 0.1 * liver,
        0.4,
        0.8,
    );
    put_lab(row, PLT, (plt.0.exp(), plt.1.exp()), (5.0, 1200.0), 0);

    let bands = lab_pair(s, single_other, (4.0f64).ln(), 0.5 * infl, 0.8, 0.6);
    put_lab(row, BANDS, (bands.0.exp(), bands.1.exp()), (0.0, 70.0), 0);
    let bili = lab_pair(
        s,
        single_other,
        (0.7f64).ln(),
        0.6 * liver + 0.1 * sev,
        0.5,
        0.8,
    );
    put_lab(row, BILI, (bili.0.exp(), bili.1.exp()), (0.2, 40.0), 1);
    let inr = lab_pair(
        s,
        single_other,
        (1.2f64).ln(),
        0.2 * liver + 0.1 * sev,
        0.2,
        0.8,
    );
    let anticoagulated = if s.bernoulli(0.05) { 0.8 } else { 0.0 };
    put_lab(
        row,
        INR,
        (
            (inr.0 + anticoagulated).exp(),
            (inr.1 + anticoagulated).exp(),
        ),
        (0.8, 12.0),
        1,
    );
    let lac = lab_pair(
        s,
        single_other,
        (1.5f64).ln() + h.lactate_cal,
        0.45 * shock,
        0.35,
        0.7,
    );
    put_lab(row, LAC, (lac.0.exp(), lac.1.exp()), (0.3, 25.0), 1);

    // Blood gases, from the unrounded bicarbonate, FiO2 and the P/F latent.
    let fio2_first = if vent {
        round_to((0.4 + 0.12 * resp + 0.12 * s.normal()).clamp(0.3, 1.0), 2)
    } else if s.bernoulli(0.6) {
        0.21
    } else {
        round_to(
            (0.28 + 0.08 * s.normal().abs() + 0.05 * resp).clamp(0.24, 0.6),
            2,
        )
    };
    let fio2_last = round_to((fio2_first - 0.1 * s.normal().abs()).clamp(0.21, 1.0), 2);
    let pf = lab_pair(s, single_other, (320.0f64).ln(), -0.4 * resp, 0.35, 0.6);
    let hco3_first = hco3.0.clamp(5.0, 50.0);
    let hco3_last = hco3.1.clamp(5.0, 50.0);
    let gas_first = blood_gas(s, hco3_first, resp, fio2_first, pf.0.exp());
    let gas_last = if single_other {
        gas_first
    } else {
        blood_gas(s, hco3_last, 0.8 * resp, fio2_last, pf.1.exp())
    };
    for (k, l) in [PAO2, PACO2, PF, PH, BE].into_iter().enumerate() {
        let valid = LABS[l].range;
        row[lab_col(l, 0)] = gas_first[k].clamp(valid.0, valid.1);
        row[lab_col(l, 1)] = gas_last[k].clamp(valid.0, valid.1);
    }

    // Urine output.
    let urine = if s.bernoulli(0.02) {
        s.uniform() * 50.0
    } else {
        s.lognormal((1700.0f64).ln() - 0.35 * renal - 0.2 * shock, 0.5)
    };
    row[COL_URINE] = finish(urine, (0.0, 9000.0), 0, (0.0, 20000.0));

    // Risk model (see the module documentation), on values before missingness.
    let lactate = lab_first(row, LAC);
    let sys_min = row[vital_col(SYS, 2)];
    let lp = -3.3
        + 0.75 * sev
        + 0.2 * c
        + 0.02 * (age - 65.0)
        + 0.45 * (lactate / 1.5).ln()
        + 0.35 * (lab_first(row, BUN) / 18.0).ln()
        + 0.025 * (90.0 - sys_min).max(0.0)
        + if vent { 0.45 } else { 0.0 }
        - 0.7 * el
        + 0.4 * (3.3 - lab_first(row, ALB)).max(0.0)
        + 0.5 * ((row[vital_col(TEMP, 0)] - 37.0).abs() - 1.0).max(0.0)
        + 0.15 * (lab_first(row, BILI) / 0.7).ln().max(0.0)
        + h.mortality;
    let risk = sigmoid(lp);
    let died = s.bernoulli(risk);

    // Outcome-dependent columns.
    let mut los = s.lognormal(
        (5.2f64).ln() + 0.2 * sev + 0.3 * if vent { 1.0 } else { 0.0 },
        0.75,
    );
    if died {
        los *= s.lognormal(-0.7, 0.5);
    }
    let los = finish(los, (0.05, 365.0), 3, (0.0, 365.0));
    row[COL_DEATH] = if died { 1.0 } else { 0.0 };
    row[COL_LOS] = los;
    row[COL_VENTDAYS] = if !vent {
        f64::NAN
    } else {
        let days = if elective {
            if s.bernoulli(0.6) { 0.0 } else { 1.0 }
        } else {
            s.lognormal((2.0f64).ln() + 0.3 * resp, 0.7).round()
        };
        days.clamp(0.0, 60.0).min(los.ceil())
    };

    row[COL_FEMALE] = fem;
    row[COL_AGE] = if s.bernoulli(0.002) { f64::NAN } else { age };
    row[COL_RACE..COL_RACE + 4].copy_from_slice(&race);
    row[COL_ELECTIVE] = el;

    // Missingness.
    for (v, p) in [(HR, 0.01), (RR, 0.02), (TEMP, 0.05), (SPO2, 0.015)] {
        if s.bernoulli(p) {
            blank_vital(row, v);
        }
    }
    if s.bernoulli(0.015) {
        for v in [SYS, DIA, MBP] {
            blank_vital(row, v);
        }
    }
    if s.bernoulli(sigmoid(logit(0.06) - 0.3 * sev)) {
        for l in [BUN, CREAT, NA, K, GLU, HCO3, CA] {
            blank_lab(row, l);
        }
    }
    for l in [HCO3, CA] {
        if s.bernoulli(0.045) {
            blank_lab(row, l);
        }
    }
    if s.bernoulli(sigmoid(logit(0.07) - 0.3 * sev)) {
        for l in [HGB, HCT, WBC, PLT] {
            blank_lab(row, l);
        }
    }
    if !s.bernoulli(sigmoid(logit(0.5) + 0.4 * sev + h.inr_practice)) {
        blank_lab(row, INR);
    }
    if !s.bernoulli(sigmoid(logit(0.46) + 0.4 * sev + h.liver_practice)) {
        blank_lab(row, BILI);
        blank_lab(row, ALB);
    }
    if !s.bernoulli(sigmoid(logit(0.33) + 0.8 * shock + h.lactate_practice)) {
        blank_lab(row, LAC);
    }
    if !s.bernoulli(sigmoid(logit(0.13) + 0.5 * infl)) {
        blank_lab(row, BANDS);
    }
    if !s.bernoulli(sigmoid(
        logit(0.27) + 0.6 * sev + 2.0 * if vent { 1.0 } else { 0.0 } + h.gas_practice,
    )) {
        for l in [PAO2, PACO2, PF, PH, BE] {
            blank_lab(row, l);
        }
    }
    if s.bernoulli(0.15) {
        row[COL_URINE] = f64::NAN;
    }
    risk
}

#[cfg(test)]
mod tests;
