//! `iaemu info`: the build, the threads and the LibTorch back end.

use iaemu::Result;

pub fn run() -> Result<()> {
    println!("iaemu {}", iaemu::VERSION);
    println!(
        "threads: {} (set with --threads or {})",
        iaemu::threads::num_threads()?,
        iaemu::threads::THREADS_ENV
    );
    println!(
        "logical cores: {}",
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
    let widest = iaemu::corr::Isa::widest().name();
    match iaemu::corr::Isa::selected() {
        Ok(isa) => println!(
            "correlation kernel: {} (widest this CPU runs: {widest}; force one with {}=baseline|avx2|avx512)",
            isa.name(),
            iaemu::corr::ISA_ENV
        ),
        Err(e) => println!("correlation kernel: {e}"),
    }
    #[cfg(feature = "emulator")]
    {
        let b = iaemu::emulator::backend();
        println!(
            "emulator: built (LibTorch {} at {})",
            b.libtorch_version, b.libtorch_lib
        );
        println!("  CUDA devices: {}  cuDNN: {}", b.cuda_devices, b.cudnn);
        println!("  device 'auto' -> {}", b.auto_device);
        println!("  LibTorch threads: {}", b.torch_threads);
        let emu = iaemu::emulator::Emulator::builtin("cpu")?;
        let m = emu.meta();
        let t = &m.training;
        println!(
            "  built-in model: {} weights, {} training rows, {} epochs, log(xi) {}",
            t.n_weights, t.n_train, t.epochs, m.config.log_xi
        );
        if let Some(mm) = &m.metrics {
            let pcc = mm.by_statistic().map(|s| format!("{:.3}", s.pcc_mean));
            println!(
                "  test PCC xi / omega / eta: {} (stored at the end of training)",
                pcc.join(" / ")
            );
        }
    }
    #[cfg(not(feature = "emulator"))]
    println!(
        "emulator: not built (lite build without LibTorch; build with the default features for it)"
    );
    Ok(())
}
