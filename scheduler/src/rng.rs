//! The seeded generator behind the reproducible orders: the `ManualScheduler`'s shuffle
//! of newly ready jobs and the timers' order of equal deadlines.

/// A xorshift64 state for `seed`: splitmix64's finaliser, a bijection, so distinct seeds
/// give distinct states (a plain `| 1` would merge seeds that differ in the lowest bit);
/// never 0, which xorshift cannot leave (and which callers use for "unseeded").
pub(crate) fn state_for(seed: u64) -> u64 {
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

/// Shuffles `items` (Fisher-Yates with xorshift64): the order depends only on the state,
/// which it advances.
pub(crate) fn shuffle<T>(items: &mut [T], state: &mut u64) {
    for i in (1..items.len()).rev() {
        *state ^= *state << 13;
        *state ^= *state >> 7;
        *state ^= *state << 17;
        items.swap(i, (*state % (i as u64 + 1)) as usize);
    }
}
