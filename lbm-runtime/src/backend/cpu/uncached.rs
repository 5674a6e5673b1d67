//! When a forward step writes its outputs past the caches.
//!
//! An ordinary store brings the line it writes into the cache first (a read for
//! ownership), so a step whose states do not fit in the cache reads its input once and its
//! output once and writes its output once: a third more traffic than the bytes it means to
//! move. A non-temporal store skips the read and does not keep the line, which is what a
//! state larger than the cache wants, since its lines leave the cache before the next step
//! reads them. On a state that fits, it would send to memory what the next step could have
//! read from the cache, so the choice depends on the state's size against the last-level
//! cache's.
//!
//! `LBM_CPU_UNCACHED_STORES=1` asks for non-temporal stores whatever the size, `=0` never
//! (to compare the two).

use std::sync::OnceLock;

/// The environment variable that overrides the choice.
pub const UNCACHED_STORES_ENV: &str = "LBM_CPU_UNCACHED_STORES";

/// How a forward step stores its outputs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Stores {
    /// Through the caches.
    Cached,
    /// Past the caches, where the output is aligned for it.
    Uncached,
}

/// How a step whose two states take `2 * state_bytes` stores its outputs: past the caches
/// when those are more than the last-level cache holds, or as [`UNCACHED_STORES_ENV`] says.
pub(crate) fn for_state(state_bytes: usize) -> Stores {
    let forced = *FORCED.get_or_init(|| {
        std::env::var(UNCACHED_STORES_ENV)
            .ok()
            .and_then(|v| match v.trim() {
                "1" => Some(Stores::Uncached),
                "0" => Some(Stores::Cached),
                _ => None,
            })
    });
    forced.unwrap_or_else(|| {
        let cache = *LAST_LEVEL_CACHE.get_or_init(last_level_cache_bytes);
        // Without a known cache size, keep the stores that are never much slower.
        match cache {
            Some(cache) if 2 * state_bytes > cache => Stores::Uncached,
            _ => Stores::Cached,
        }
    })
}

static FORCED: OnceLock<Option<Stores>> = OnceLock::new();
static LAST_LEVEL_CACHE: OnceLock<Option<usize>> = OnceLock::new();

/// The size of the first CPU's highest-level cache, from Linux's sysfs.
fn last_level_cache_bytes() -> Option<usize> {
    let dir = std::path::Path::new("/sys/devices/system/cpu/cpu0/cache");
    std::fs::read_dir(dir)
        .ok()?
        .filter_map(|entry| {
            let path = entry.ok()?.path();
            let read = |name: &str| std::fs::read_to_string(path.join(name)).ok();
            let level: u32 = read("level")?.trim().parse().ok()?;
            Some((level, parse_size(&read("size")?)?))
        })
        .max()
        .map(|(_, bytes)| bytes)
}

/// A cache size as sysfs writes it: `"32768K"`, `"300M"`, or bytes.
fn parse_size(text: &str) -> Option<usize> {
    let text = text.trim();
    let (digits, unit) = match text.char_indices().find(|(_, c)| !c.is_ascii_digit()) {
        Some((at, _)) => text.split_at(at),
        None => (text, ""),
    };
    let scale = match unit {
        "" => 1,
        "K" => 1 << 10,
        "M" => 1 << 20,
        "G" => 1 << 30,
        _ => return None,
    };
    digits.parse::<usize>().ok()?.checked_mul(scale)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cache_sizes_read_as_sysfs_writes_them() {
        assert_eq!(parse_size("32768K\n"), Some(32 << 20));
        assert_eq!(parse_size("300M"), Some(300 << 20));
        assert_eq!(parse_size("1G"), Some(1 << 30));
        assert_eq!(parse_size("512"), Some(512));
        assert_eq!(parse_size("12KiB"), None);
        assert_eq!(parse_size(""), None);
    }
}
