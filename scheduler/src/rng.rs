//! The seeded generator behind the reproducible orders: the `ManualScheduler`'s shuffle
//! of newly ready jobs, the timers' order of equal deadlines, and the local system's
//! ready order (`zeta::local`). One generator, so that a seed means the same stream
//! everywhere; it is xorshift64, fast and reproducible, not for anything that needs
//! unpredictability.
//!
//! The `ManualScheduler` and the local system keep this generator of their own, rather
//! than a crate's, so that a seed gives a stable stream: the same seed replays the same
//! order whatever the dependencies' versions. The benches, examples and tests outside
//! the schedulers draw their numbers from `fastrand` instead.

/// A xorshift64 state for `seed`: splitmix64's finaliser, a bijection, so distinct seeds
/// give distinct states (a plain `| 1` would merge seeds that differ in the lowest bit);
/// never 0, which xorshift cannot leave (and which callers use for "unseeded").
pub fn state_for(seed: u64) -> u64 {
    let mut state = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
    state = (state ^ (state >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    state = (state ^ (state >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    state ^= state >> 31;
    if state == 0 {
        1
    } else {
        state
    }
}

/// The next number of the stream, advancing `state` (which must not be 0: start from
/// [`state_for`]).
#[inline]
pub fn next(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

/// Shuffles `items` (Fisher-Yates with xorshift64): the order depends only on the state,
/// which it advances.
pub fn shuffle<T>(items: &mut [T], state: &mut u64) {
    for i in (1..items.len()).rev() {
        let draw = next(state);
        items.swap(i, (draw % (i as u64 + 1)) as usize);
    }
}
