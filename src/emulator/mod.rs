//! The neural-network emulator (LibTorch through `tch`). Built with the `emulator` feature.
//! For now: the LibTorch back end the emulator will run on.

/// What the LibTorch back end offers on this machine.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Backend {
    /// LibTorch version this build links (read from the LibTorch install at build time).
    pub libtorch_version: &'static str,
    /// Directory of the LibTorch libraries found by the build (also the rpath).
    pub libtorch_lib: &'static str,
    /// CUDA devices LibTorch sees.
    pub cuda_devices: usize,
    /// Whether cuDNN is available.
    pub cudnn: bool,
    /// The device "auto" picks: "cuda" when a CUDA device is present, else "cpu".
    pub auto_device: &'static str,
    /// LibTorch intra-op threads.
    pub torch_threads: i32,
}

/// Queries LibTorch.
pub fn backend() -> Backend {
    let cuda_devices = tch::Cuda::device_count().max(0) as usize;
    Backend {
        libtorch_version: env!("IAEMU_LIBTORCH_VERSION"),
        libtorch_lib: env!("IAEMU_LIBTORCH_LIB"),
        cuda_devices,
        cudnn: tch::Cuda::cudnn_is_available(),
        auto_device: if cuda_devices > 0 { "cuda" } else { "cpu" },
        torch_threads: tch::get_num_threads(),
    }
}
