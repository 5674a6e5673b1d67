//! Memory a run will need, checked against what the machine has before anything is
//! allocated: a request that cannot fit is a typed error naming both sizes and what would
//! fit, never an abort of the process.

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

/// Human-readable bytes: `1.50 GiB`.
pub fn format_bytes(bytes: usize) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = bytes as f64;
    let mut unit = 0;
    while v >= 1024.0 && unit + 1 < UNITS.len() {
        v /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{v:.2} {}", UNITS[unit])
    }
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
    fn sizes_that_overflow_are_errors() {
        assert!(bytes_of("states", usize::MAX, 8).is_err());
        assert_eq!(bytes_of("states", 4, 8).unwrap(), 32);
        let err = try_filled::<f64>("a state", usize::MAX / 4).unwrap_err();
        assert!(matches!(err, LbmError::OutOfMemory { .. }), "{err}");
        assert_eq!(format_bytes(1536 * 1024 * 1024), "1.50 GiB");
        assert_eq!(format_bytes(12), "12 B");
    }
}
