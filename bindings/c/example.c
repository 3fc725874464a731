/* iaemu from C: predict xi, omega and eta with the built-in emulator for a batch of parameter
 * points (mean, aleatoric and epistemic standard deviations), then simulate one point on the
 * synthetic universe. Build and run (from the repository root, after scripts/setup.sh):
 *
 *   cc -std=c11 -Iinclude bindings/c/example.c -Ltarget/release -liaemu \
 *      -Wl,-rpath,"$PWD/target/release" -lm -o target/example_c && target/example_c
 *
 * Every call returns IA_OK or a negative IA_ERR_* status; ia_last_error_message() says why. */
#include "iaemu.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#define TRY(call)                                                                      \
    do {                                                                               \
        if ((call) != IA_OK) {                                                         \
            fprintf(stderr, "%s failed: %s\n", #call, ia_last_error_message());        \
            exit(1);                                                                   \
        }                                                                              \
    } while (0)

enum { N = 2, NB = 20, OUT = IA_N_STATISTICS * NB };

int main(void) {
    /* Two points, IA_N_PARAMS values each, in the order of ia_param_name: the -20 point of
     * Zheng et al. (2007) with mu_cen = mu_sat = 0.8, and one with weaker alignments. */
    const double params[N * IA_N_PARAMS] = {
        0.8, 0.8, 12.02, 0.26, 11.38, 13.31, 1.06,
        0.3, -0.2, 12.5, 0.4, 12.0, 13.6, 1.0,
    };
    IaEmulator *emu = NULL;
    TRY(ia_emulator_load(NULL, "auto", &emu)); /* NULL: the built-in model */
    IaEmulatorInfo info;
    TRY(ia_emulator_info(emu, &info));
    double edges[NB + 1];
    TRY(ia_emulator_r_edges(emu, edges, NB + 1));

    /* n x 3 x n_bins, row-major: [(i * 3 + statistic) * NB + bin] */
    static double mean[N * OUT], ale[N * OUT], epi[N * OUT];
    uint32_t flags[N];
    TRY(ia_predict_batch(emu, params, N, 20, 42, mean, ale, epi, flags));
    for (int i = 0; i < N; i++) {
        printf("point %d (domain flags %u)\n", i, flags[i]);
        printf("%9s %12s %10s %10s %12s %10s %10s %12s %10s %10s\n", "r_mid", "xi", "sd_ale", "sd_epi",
               "omega", "sd_ale", "sd_epi", "eta", "sd_ale", "sd_epi");
        for (int b = 0; b < NB; b++) {
            printf("%9.4f", 0.5 * (edges[b] + edges[b + 1]));
            for (int s = 0; s < IA_N_STATISTICS; s++) {
                int k = (i * IA_N_STATISTICS + s) * NB + b;
                printf(" %12.5e %10.3e %10.3e", mean[k], sqrt(ale[k]), sqrt(epi[k]));
            }
            printf("\n");
        }
    }
    TRY(ia_emulator_free(emu));

    /* The truth the emulator replaces: 2 realisations of the first point on the synthetic
     * universe with its default settings (250 Mpc/h; a few seconds to make). */
    IaHalos *halos = NULL;
    TRY(ia_halos_synthetic(NULL, &halos));
    double sim_mean[OUT], sim_var[OUT];
    TRY(ia_simulate(halos, params, 2, 1, NULL, sim_mean, sim_var, OUT));
    printf("simulated, point 0\n%9s %12s %12s %12s\n", "r_mid", "xi", "omega", "eta");
    for (int b = 0; b < NB; b++)
        printf("%9.4f %12.5e %12.5e %12.5e\n", 0.5 * (edges[b] + edges[b + 1]), sim_mean[b], sim_mean[NB + b],
               sim_mean[2 * NB + b]);
    TRY(ia_halos_free(halos));
    return 0;
}
