//! The hash that names cached kernels and checks their files.

/// 128-bit FNV-1a: stable across Rust versions, unlike `DefaultHasher`, so cache names
/// stay valid between builds.
pub(crate) fn fnv128(parts: &[&[u8]]) -> u128 {
    const OFFSET: u128 = 0x6c62272e07bb014262b821756295c58d;
    const PRIME: u128 = 0x0000000001000000000000000000013b;
    let mut h = OFFSET;
    for part in parts {
        for &b in part.iter() {
            h ^= u128::from(b);
            h = h.wrapping_mul(PRIME);
        }
        // Separate the parts, so ("ab", "c") and ("a", "bc") differ.
        h ^= 0xff;
        h = h.wrapping_mul(PRIME);
    }
    h
}

#[cfg(test)]
mod tests {
    use super::fnv128;

    #[test]
    fn hash_separates_parts() {
        assert_ne!(fnv128(&[b"ab", b"c"]), fnv128(&[b"a", b"bc"]));
        assert_eq!(fnv128(&[b"x"]), fnv128(&[b"x"]));
    }

    /// The published 128-bit FNV-1a offset basis hashes nothing to itself; a part adds
    /// its separator, so the empty part list and one empty part differ.
    #[test]
    fn empty_input_is_the_offset_basis() {
        assert_eq!(fnv128(&[]), 0x6c62272e07bb014262b821756295c58d);
        assert_ne!(fnv128(&[]), fnv128(&[b""]));
    }
}
