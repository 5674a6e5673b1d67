//! Memory a run will need, checked against what the machine has before anything is
//! allocated: a request that cannot fit is a typed error naming both sizes and what would
//! fit, never an abort of the process.

pub use crate::bytes::format_bytes;
use crate::error::{LbmError, Result};

/// Bytes of host memory available to new allocations without swapping (Linux's
/// `MemAvailable`), or `None` where the system does not say.
pub fn host_available() -> Option<usize> {
    let info = std::fs::read_to_string("/proc/meminfo").ok()?;
    parse_meminfo(&info)
}

/// `MemAvailable` of a `/proc/meminfo` text, in bytes.
fn parse_meminfo(info: &str) -> Option<usize> {
    let line = info.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kib: usize = line.split_whitespace().nth(1)?.parse().ok()?;
    kib.checked_mul(1024)
}

/// `count` values of `size` bytes, or an error naming `what` when the product overflows.
pub(crate) fn bytes_of(what: &str, count: usize, size: usize) -> Result<usize> {
    count
        .checked_mul(size)
        .ok_or_else(|| LbmError::OutOfMemory {
            what: what.to_string(),
            needed: usize::MAX,
            available: None,
            hint: format!("{count} values of {size} bytes overflow the address space"),
        })
}

/// An error if `bytes` for `what` exceed the host memory available, checked before
/// allocating: an allocation the system grants lazily could otherwise end the process
/// when it is first touched.
pub(crate) fn check_host_fits(what: &str, bytes: usize) -> Result<()> {
    match host_available() {
        Some(available) if bytes > available => Err(LbmError::OutOfMemory {
            what: what.to_string(),
            needed: bytes,
            available: Some(available),
            hint: "use a smaller grid, f32, or the GPU".into(),
        }),
        _ => Ok(()),
    }
}

/// A vector of `len` default values, or [`LbmError::OutOfMemory`] when the allocator
/// refuses, instead of the abort `vec!` would give.
pub(crate) fn try_filled<T: Clone + Default>(what: &str, len: usize) -> Result<Vec<T>> {
    let bytes = bytes_of(what, len, std::mem::size_of::<T>())?;
    let mut v = Vec::new();
    v.try_reserve_exact(len)
        .map_err(|_| LbmError::OutOfMemory {
            what: what.to_string(),
            needed: bytes,
            available: host_available(),
            hint: "the allocator refused it".into(),
        })?;
    v.resize(len, T::default());
    Ok(v)
}

/// [`try_filled`] for types whose zero is all zero bytes, from the allocator's zeroed
/// memory: a large block comes from the system already zeroed, so no pass over it is
/// made before its first use (a store-all gradient allocates a state per step, and
/// writing zeros into it cost as much as a third of the step).
pub(crate) fn try_zeroed<T: bytemuck::Zeroable>(what: &str, len: usize) -> Result<Vec<T>> {
    let needed = bytes_of(what, len, std::mem::size_of::<T>())?;
    let refused = || LbmError::OutOfMemory {
        what: what.to_string(),
        needed,
        available: host_available(),
        hint: "the allocator refused it".into(),
    };
    let layout = std::alloc::Layout::array::<T>(len).map_err(|_| refused())?;
    if layout.size() == 0 {
        return Ok((0..len).map(|_| T::zeroed()).collect());
    }
    // SAFETY: the layout's size is not zero.
    let ptr = unsafe { std::alloc::alloc_zeroed(layout) }.cast::<T>();
    if ptr.is_null() {
        return Err(refused());
    }
    // SAFETY: `ptr` comes from the global allocator with the layout of an array of `len`
    // values of `T` (so its alignment, and `len` values' size as the capacity), and all
    // its bytes are zero, a valid `T` (`Zeroable`), so all `len` values are initialised.
    Ok(unsafe { Vec::from_raw_parts(ptr, len, len) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn meminfo_gives_mem_available_in_bytes() {
        let text = "MemTotal:       24000000 kB\nMemFree:  100 kB\nMemAvailable:   2048 kB\n";
        assert_eq!(parse_meminfo(text), Some(2048 * 1024));
        assert_eq!(parse_meminfo("MemTotal: 5 kB\n"), None);
    }

    #[test]
    fn zeroed_vectors_hold_zeros() {
        for len in [0, 1, 1000, 1 << 22] {
            let v = try_zeroed::<f32>("a state", len).unwrap();
            assert_eq!(v.len(), len);
            assert!(v.iter().all(|x| x.to_bits() == 0));
        }
        assert_eq!(try_zeroed::<()>("nothing", 3).unwrap().len(), 3);
    }

    #[test]
    fn sizes_that_overflow_are_errors() {
        assert!(bytes_of("states", usize::MAX, 8).is_err());
        assert_eq!(bytes_of("states", 4, 8).unwrap(), 32);
        let err = try_filled::<f64>("a state", usize::MAX / 4).unwrap_err();
        assert!(matches!(err, LbmError::OutOfMemory { .. }), "{err}");
        for len in [usize::MAX / 4, usize::MAX / 16] {
            let err = try_zeroed::<f64>("a state", len).unwrap_err();
            assert!(matches!(err, LbmError::OutOfMemory { .. }), "{err}");
        }
    }
}
