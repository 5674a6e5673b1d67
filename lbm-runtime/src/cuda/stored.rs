//! Element types of populations kept on the GPU: the simulation's real type, or one of
//! the 16-bit formats of [`Storage`].

use cudarc::driver::{DeviceRepr, ValidAsZeroBits};

use crate::storage::Storage;

/// A type a state's populations are kept in on the device.
pub(crate) trait GpuStore:
    DeviceRepr + ValidAsZeroBits + bytemuck::Pod + Send + Sync + Unpin + 'static
{
    /// The format, as the kernels and the host conversions name it. Only the real types
    /// themselves are [`Storage::Compute`].
    const STORAGE: Storage;
}

impl GpuStore for f32 {
    const STORAGE: Storage = Storage::Compute;
}

impl GpuStore for f64 {
    const STORAGE: Storage = Storage::Compute;
}

/// The bits of a binary16 deviation `f - w_i` (see [`crate::storage`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[repr(transparent)]
pub(crate) struct F16Bits(pub u16);

/// The bits of a bfloat16 deviation `f - w_i` (see [`crate::storage`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[repr(transparent)]
pub(crate) struct Bf16Bits(pub u16);

macro_rules! sixteen_bit_store {
    ($t:ty, $storage:expr) => {
        // SAFETY: a `repr(transparent)` `u16`: no padding, every bit pattern valid.
        unsafe impl bytemuck::Zeroable for $t {}
        // SAFETY: as above; `Copy` and `'static`.
        unsafe impl bytemuck::Pod for $t {}
        // SAFETY: passed to kernels as the `unsigned short` it wraps.
        unsafe impl DeviceRepr for $t {}
        // SAFETY: all-zero bits are the deviation +0.0, a population equal to its weight.
        unsafe impl ValidAsZeroBits for $t {}

        impl GpuStore for $t {
            const STORAGE: Storage = $storage;
        }

        impl From<u16> for $t {
            fn from(bits: u16) -> Self {
                Self(bits)
            }
        }

        impl From<$t> for u16 {
            fn from(v: $t) -> u16 {
                v.0
            }
        }
    };
}

sixteen_bit_store!(F16Bits, Storage::F16);
sixteen_bit_store!(Bf16Bits, Storage::BF16);
