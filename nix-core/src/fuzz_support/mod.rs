//! The one setting every property test of untrusted input (`mod fuzz` beside each parser)
//! shares: a fixed seed and a bounded case count, so a CI run is the same run every time and
//! takes seconds; `ATUIN_BOOTSTRAP_FUZZ_CASES` raises the count for a longer run by hand, and
//! `ATUIN_BOOTSTRAP_FUZZ_SEED` picks another seed to explore further.

pub mod nar_trees;

use proptest::test_runner::{Config, RngAlgorithm, RngSeed};

/// Cases per property in CI: a few seconds each on a shared 2-core machine.
const CI_CASES: u32 = 2000;
/// The seed CI uses, fixed so a failure there fails the same way on every machine.
const CI_SEED: u64 = 0x6174_7569_6e5f_6274;

/// The config of every fuzz property; `scale` divides the case count (CI's or the one asked
/// for) for properties whose single case is expensive (megabytes compressed, a file written).
pub fn config(scale: u32) -> Config {
    let from_env = |name: &str| std::env::var(name).ok().and_then(|v| v.parse::<u64>().ok());
    let base =
        from_env("ATUIN_BOOTSTRAP_FUZZ_CASES").map_or(CI_CASES, |n| n.min(u32::MAX as u64) as u32);
    let cases = (base / scale.max(1)).max(1);
    let seed = from_env("ATUIN_BOOTSTRAP_FUZZ_SEED").unwrap_or(CI_SEED);
    Config {
        cases,
        rng_algorithm: RngAlgorithm::ChaCha,
        rng_seed: RngSeed::Fixed(seed),
        // Found cases are kept as plain unit tests beside the fix, not in files proptest writes.
        failure_persistence: None,
        max_shrink_iters: 4096,
        ..Config::default()
    }
}
