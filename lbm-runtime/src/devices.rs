//! A set of CUDA device ordinals, for a simulation split over several GPUs of one host.

use std::fmt;

use crate::error::{LbmError, Result};

/// The environment variable listing the GPUs one simulation is split over (`0,1`).
pub const DEVICES_ENV: &str = "LBM_CUDA_DEVICES";

/// Device ordinals `0..64`, in increasing order: the GPUs a split simulation uses, the
/// lowest ordinal holding the first slab.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Devices(u64);

impl Devices {
    /// The first `n` devices, `0..n`.
    pub fn first(n: usize) -> Result<Devices> {
        Devices::list(&(0..n).collect::<Vec<_>>())
    }

    /// The devices of `ordinals`, each at most once, at least one.
    pub fn list(ordinals: &[usize]) -> Result<Devices> {
        let mut bits = 0u64;
        for &d in ordinals {
            if d >= 64 {
                return Err(LbmError::BackendUnavailable(format!(
                    "device ordinal {d} is beyond the 64 a split may use"
                )));
            }
            if bits & (1 << d) != 0 {
                return Err(LbmError::BackendUnavailable(format!(
                    "device {d} is listed twice"
                )));
            }
            bits |= 1 << d;
        }
        if bits == 0 {
            return Err(LbmError::BackendUnavailable("an empty device list".into()));
        }
        Ok(Devices(bits))
    }

    /// Parses a comma-separated list such as `0,1`.
    pub fn parse(text: &str) -> Result<Devices> {
        let ordinals = text
            .split(',')
            .map(|s| {
                s.trim().parse::<usize>().map_err(|_| {
                    LbmError::BackendUnavailable(format!(
                        "{DEVICES_ENV}={text}: `{}` is not a device ordinal",
                        s.trim()
                    ))
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Devices::list(&ordinals)
    }

    /// Number of devices.
    pub fn len(self) -> usize {
        self.0.count_ones() as usize
    }

    /// Always false: a device set has at least one device.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The ordinals, in increasing order.
    pub fn iter(self) -> impl Iterator<Item = usize> {
        (0..64).filter(move |d| self.0 & (1 << d) != 0)
    }
}

impl fmt::Debug for Devices {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

impl fmt::Display for Devices {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let list: Vec<String> = self.iter().map(|d| d.to_string()).collect();
        f.write_str(&list.join(","))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_parse_in_order_and_refuse_repeats() {
        let d = Devices::parse("2, 0").unwrap();
        assert_eq!(d.iter().collect::<Vec<_>>(), vec![0, 2]);
        assert_eq!(d.len(), 2);
        assert_eq!(d.to_string(), "0,2");
        assert_eq!(Devices::first(3).unwrap().to_string(), "0,1,2");
        for bad in ["", "0,0", "a", "64", "1,,2"] {
            assert!(Devices::parse(bad).is_err(), "{bad}");
        }
    }
}
