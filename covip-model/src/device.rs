//! Device selection: `cpu` (burn's Flex backend) always; `wgpu` / `cuda` behind features.
use std::str::FromStr;

use burn::tensor::backend::Backend;

use crate::error::{ModelError, Result};

pub type Cpu = burn::backend::Flex;
#[cfg(feature = "wgpu")]
pub type Wgpu = burn::backend::Wgpu;
#[cfg(feature = "cuda")]
pub type Cuda = burn::backend::Cuda;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeviceKind {
    Cpu,
    Wgpu,
    Cuda,
}

impl FromStr for DeviceKind {
    type Err = ModelError;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "cpu" => Ok(Self::Cpu),
            "wgpu" => Ok(Self::Wgpu),
            "cuda" => Ok(Self::Cuda),
            other => Err(ModelError::Input(format!(
                "unknown device {other:?} (cpu, wgpu or cuda)"
            ))),
        }
    }
}

/// Work generic over the backend, run by [`dispatch`] on the chosen device.
pub trait OnDevice {
    type Output;
    fn run<B: Backend>(self, device: B::Device) -> Self::Output;
}

/// Runs `job` on the backend named by `kind`; an error when that backend was not compiled in.
pub fn dispatch<J: OnDevice>(kind: DeviceKind, job: J) -> Result<J::Output> {
    match kind {
        DeviceKind::Cpu => Ok(job.run::<Cpu>(Default::default())),
        #[cfg(feature = "wgpu")]
        DeviceKind::Wgpu => Ok(job.run::<Wgpu>(Default::default())),
        #[cfg(feature = "cuda")]
        DeviceKind::Cuda => Ok(job.run::<Cuda>(Default::default())),
        #[allow(unreachable_patterns)]
        other => Err(ModelError::Input(format!(
            "device {other:?} is not compiled in: rebuild with `--features {}`",
            format!("{other:?}").to_lowercase()
        ))),
    }
}
