// iaemu from C++: predict xi, omega and eta with the built-in emulator for a batch of parameter
// points (mean, aleatoric and epistemic standard deviations), then simulate one point on a
// synthetic universe. Build and run (from the repository root):
//
//   g++ -std=c++17 -Iinclude -Ibindings/cpp bindings/cpp/example.cpp -Ltarget/release -liaemu
//       -Wl,-rpath,"$PWD/target/release" -o target/example_cpp && target/example_cpp
//
// Every failing call throws iaemu::Error (a std::runtime_error) with the library's message.
#include "iaemu.hpp"

#include <cmath>
#include <cstdio>
#include <iostream>
#include <vector>

int main() try {
    std::cout << "iaemu " << iaemu::version() << "\n";
    // Two points, 7 values each (n x 7, row-major) in the order of iaemu::param_names(): the -20
    // point of Zheng et al. (2007) with mu_cen = mu_sat = 0.8, and one with weaker alignments.
    const std::vector<double> params = {
        0.8, 0.8, 12.02, 0.26, 11.38, 13.31, 1.06,  //
        0.3, -0.2, 12.5, 0.4, 12.0, 13.6, 1.0,      //
    };
    const iaemu::Emulator emu = iaemu::Emulator::builtin();  // the model compiled into the library
    const std::vector<double> edges = emu.r_edges();
    const std::size_t nb = emu.n_bins();

    // 20 Monte Carlo dropout passes, seed 42: mean, aleatoric and epistemic variances, each
    // n x 3 x n_bins row-major; pred.mean(i, s, b) is point i, statistic s, bin b.
    const iaemu::Prediction pred = emu.predict_batch(params, 20, 42);
    for (std::size_t i = 0; i < pred.n(); i++) {
        std::printf("point %zu (domain flags %u)\n", i, pred.flags(i));
        std::printf("%9s %12s %10s %10s %12s %10s %10s %12s %10s %10s\n", "r_mid", "xi", "sd_ale", "sd_epi",
                    "omega", "sd_ale", "sd_epi", "eta", "sd_ale", "sd_epi");
        for (std::size_t b = 0; b < nb; b++) {
            std::printf("%9.4f", std::sqrt(edges[b] * edges[b + 1]));
            for (std::size_t s = 0; s < iaemu::n_statistics; s++)
                std::printf(" %12.5e %10.3e %10.3e", pred.mean(i, s, b), std::sqrt(pred.aleatoric_var(i, s, b)),
                            std::sqrt(pred.epistemic_var(i, s, b)));
            std::printf("\n");
        }
    }

    // The truth the emulator replaces: 2 realisations of the first point on the synthetic
    // universe (defaults but a 120 Mpc/h box and a 64-cell grid, to be quick).
    iaemu::SyntheticOptions opt;
    opt.box_size = 120;
    opt.grid = 64;
    const iaemu::Halos halos = iaemu::Halos::synthetic(opt);
    const iaemu::SimulateResult sim = halos.simulate(iaemu::View<double>(params.data(), 7), 2, 1);
    std::printf("simulated, point 0 (%zu halos)\n%9s %12s %12s %12s\n", halos.info().n_halos, "r_mid", "xi",
                "omega", "eta");
    for (std::size_t b = 0; b < sim.n_bins(); b++)
        std::printf("%9.4f %12.5e %12.5e %12.5e\n", std::sqrt(edges[b] * edges[b + 1]), sim.mean(0, b),
                    sim.mean(1, b), sim.mean(2, b));

    // A failing call throws: a point outside the training domain.
    try {
        emu.predict_batch(iaemu::Params{0.8, 0.8, 20.0, 0.26, 11.38, 13.31, 1.06}, 1, 0);
    } catch (const iaemu::OutOfDomainError &e) {
        std::printf("as expected: %s (flags %u)\n", e.what(), e.flags()[0]);
    }
    return 0;
} catch (const iaemu::Error &e) {
    std::cerr << "iaemu error " << e.code() << ": " << e.what() << "\n";
    return 1;
}
