/* The C side of the bindings' struct-layout checks (Fortran, Julia, Python): prints the size and
 * every field offset of the ten structs of include/iaemu.h the bindings mirror, one line each,
 *   "IaCorrOptions.sizeof 56", "IaCorrOptions.box_size 0", ...
 * in a fixed order (IaCorrOptions, IaEmulatorInfo, IaHalosLoadOptions, IaSyntheticOptions,
 * IaHalosInfo, IaSimulateOptions, IaTrainEpoch, then the three of tables and expected
 * correlations: IaTableOptions, IaExpectOptions, IaTableInfo); given a halo catalogue, then the
 * field values the library writes into them (the option defaults, ia_halos_info of that
 * catalogue, ia_emulator_info of the built-in model) and, given a table file as well,
 * ia_table_info of that table, one "value T.field[i] x" line each.
 *   layout [HALOS_FILE [TABLE_FILE]]
 * Used by bindings/fortran/test.sh (offsets, compared in this order), bindings/julia/test.sh
 * (offsets and values, keyed) and bindings/python/tests (offsets, keyed). */
#include "iaemu.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TRY(call)                                                                        \
    do {                                                                                 \
        if ((call) != IA_OK) {                                                           \
            fprintf(stderr, "%s failed: %s\n", #call, ia_last_error_message());          \
            exit(1);                                                                     \
        }                                                                                \
    } while (0)
#define SIZE(T) printf("%s.sizeof %zu\n", #T, sizeof(T))
#define OFF(T, f) printf("%s.%s %zu\n", #T, #f, offsetof(T, f))
#define VAL(T, s, f) printf("value %s.%s[0] %.17g\n", #T, #f, (double)(s).f)
#define ARR(T, s, f, n)                                                                  \
    for (int i_ = 0; i_ < (n); i_++) printf("value %s.%s[%d] %.17g\n", #T, #f, i_, (double)(s).f[i_])

int main(int argc, char **argv) {
    if (argc > 3) {
        fprintf(stderr, "usage: layout [HALOS_FILE [TABLE_FILE]]\n");
        return 2;
    }
    SIZE(IaCorrOptions);
    OFF(IaCorrOptions, box_size); OFF(IaCorrOptions, r_edges); OFF(IaCorrOptions, n_edges);
    OFF(IaCorrOptions, xi_normalization); OFF(IaCorrOptions, jackknife_side);
    OFF(IaCorrOptions, covariance); OFF(IaCorrOptions, n_threads);

    SIZE(IaEmulatorInfo);
    OFF(IaEmulatorInfo, n_params); OFF(IaEmulatorInfo, n_statistics); OFF(IaEmulatorInfo, n_bins);
    OFF(IaEmulatorInfo, domain_min); OFF(IaEmulatorInfo, domain_max); OFF(IaEmulatorInfo, log_xi);
    OFF(IaEmulatorInfo, on_cuda); OFF(IaEmulatorInfo, n_weights); OFF(IaEmulatorInfo, n_train);
    OFF(IaEmulatorInfo, epochs); OFF(IaEmulatorInfo, pcc_mean);
    OFF(IaEmulatorInfo, frac_err_median); OFF(IaEmulatorInfo, coverage_1sigma);
    OFF(IaEmulatorInfo, coverage_2sigma);

    SIZE(IaHalosLoadOptions);
    OFF(IaHalosLoadOptions, box_size); OFF(IaHalosLoadOptions, particle_mass);
    OFF(IaHalosLoadOptions, redshift); OFF(IaHalosLoadOptions, force);

    SIZE(IaSyntheticOptions);
    OFF(IaSyntheticOptions, box_size); OFF(IaSyntheticOptions, seed);
    OFF(IaSyntheticOptions, min_host_mass); OFF(IaSyntheticOptions, particle_mass);
    OFF(IaSyntheticOptions, grid); OFF(IaSyntheticOptions, subhalos);
    OFF(IaSyntheticOptions, subhalo_survival); OFF(IaSyntheticOptions, axis_scatter);
    OFF(IaSyntheticOptions, tidal_smoothing); OFF(IaSyntheticOptions, omega_m);
    OFF(IaSyntheticOptions, omega_b); OFF(IaSyntheticOptions, h); OFF(IaSyntheticOptions, n_s);
    OFF(IaSyntheticOptions, sigma8); OFF(IaSyntheticOptions, n_threads);

    SIZE(IaHalosInfo);
    OFF(IaHalosInfo, n_halos); OFF(IaHalosInfo, n_hosts); OFF(IaHalosInfo, n_subhalos);
    OFF(IaHalosInfo, n_central_hosts); OFF(IaHalosInfo, box_size);
    OFF(IaHalosInfo, particle_mass); OFF(IaHalosInfo, redshift); OFF(IaHalosInfo, mvir_min);
    OFF(IaHalosInfo, mvir_max); OFF(IaHalosInfo, rows_read); OFF(IaHalosInfo, dropped_orphans);
    OFF(IaHalosInfo, wrapped_positions); OFF(IaHalosInfo, zero_axis_hosts);

    SIZE(IaSimulateOptions);
    OFF(IaSimulateOptions, r_edges); OFF(IaSimulateOptions, n_edges);
    OFF(IaSimulateOptions, xi_normalization); OFF(IaSimulateOptions, satellites);
    OFF(IaSimulateOptions, satellites_times_centrals);
    OFF(IaSimulateOptions, min_host_particles); OFF(IaSimulateOptions, n_threads);

    SIZE(IaTrainEpoch);
    OFF(IaTrainEpoch, epoch); OFF(IaTrainEpoch, max_epochs); OFF(IaTrainEpoch, train_loss);
    OFF(IaTrainEpoch, validation_loss); OFF(IaTrainEpoch, best_validation_loss);
    OFF(IaTrainEpoch, best_epoch); OFF(IaTrainEpoch, learning_rate); OFF(IaTrainEpoch, seconds);
    OFF(IaTrainEpoch, eta_seconds); OFF(IaTrainEpoch, resumed);

    SIZE(IaTableOptions);
    OFF(IaTableOptions, r_edges); OFF(IaTableOptions, n_edges); OFF(IaTableOptions, satellites);
    OFF(IaTableOptions, min_host_particles); OFF(IaTableOptions, mass_bin_dex);
    OFF(IaTableOptions, draws_per_mass_bin); OFF(IaTableOptions, tracers_two_halo);
    OFF(IaTableOptions, seed); OFF(IaTableOptions, n_threads);

    SIZE(IaExpectOptions);
    OFF(IaExpectOptions, xi_normalization); OFF(IaExpectOptions, satellites_times_centrals);
    OFF(IaExpectOptions, n_threads);

    SIZE(IaTableInfo);
    OFF(IaTableInfo, n_bins); OFF(IaTableInfo, satellites); OFF(IaTableInfo, n_hosts);
    OFF(IaTableInfo, n_subhalos); OFF(IaTableInfo, box_size); OFF(IaTableInfo, size_bytes);

    if (argc < 2) return 0;

    IaCorrOptions co;
    TRY(ia_corr_options_default(60.0, &co));
    ARR(IaCorrOptions, co, box_size, 3);
    VAL(IaCorrOptions, co, n_edges); VAL(IaCorrOptions, co, xi_normalization);
    VAL(IaCorrOptions, co, jackknife_side); VAL(IaCorrOptions, co, covariance);
    VAL(IaCorrOptions, co, n_threads);

    IaSyntheticOptions sy;
    TRY(ia_synthetic_options_default(&sy));
    VAL(IaSyntheticOptions, sy, box_size); VAL(IaSyntheticOptions, sy, seed);
    VAL(IaSyntheticOptions, sy, min_host_mass); VAL(IaSyntheticOptions, sy, particle_mass);
    VAL(IaSyntheticOptions, sy, grid); VAL(IaSyntheticOptions, sy, subhalos);
    VAL(IaSyntheticOptions, sy, subhalo_survival); VAL(IaSyntheticOptions, sy, axis_scatter);
    VAL(IaSyntheticOptions, sy, tidal_smoothing); VAL(IaSyntheticOptions, sy, omega_m);
    VAL(IaSyntheticOptions, sy, omega_b); VAL(IaSyntheticOptions, sy, h);
    VAL(IaSyntheticOptions, sy, n_s); VAL(IaSyntheticOptions, sy, sigma8);
    VAL(IaSyntheticOptions, sy, n_threads);

    IaSimulateOptions so;
    TRY(ia_simulate_options_default(&so));
    VAL(IaSimulateOptions, so, n_edges); VAL(IaSimulateOptions, so, xi_normalization);
    VAL(IaSimulateOptions, so, satellites); VAL(IaSimulateOptions, so, satellites_times_centrals);
    VAL(IaSimulateOptions, so, min_host_particles); VAL(IaSimulateOptions, so, n_threads);

    IaTableOptions to;
    TRY(ia_table_options_default(&to));
    VAL(IaTableOptions, to, n_edges); VAL(IaTableOptions, to, satellites);
    VAL(IaTableOptions, to, min_host_particles); VAL(IaTableOptions, to, mass_bin_dex);
    VAL(IaTableOptions, to, draws_per_mass_bin); VAL(IaTableOptions, to, tracers_two_halo);
    VAL(IaTableOptions, to, seed); VAL(IaTableOptions, to, n_threads);

    IaExpectOptions eo;
    TRY(ia_expect_options_default(&eo));
    VAL(IaExpectOptions, eo, xi_normalization);
    VAL(IaExpectOptions, eo, satellites_times_centrals); VAL(IaExpectOptions, eo, n_threads);

    IaHalos *halos = NULL;
    TRY(ia_halos_load(argv[1], &halos));
    IaHalosInfo hi;
    TRY(ia_halos_info(halos, &hi));
    VAL(IaHalosInfo, hi, n_halos); VAL(IaHalosInfo, hi, n_hosts); VAL(IaHalosInfo, hi, n_subhalos);
    VAL(IaHalosInfo, hi, n_central_hosts); ARR(IaHalosInfo, hi, box_size, 3);
    VAL(IaHalosInfo, hi, particle_mass); VAL(IaHalosInfo, hi, redshift);
    VAL(IaHalosInfo, hi, mvir_min); VAL(IaHalosInfo, hi, mvir_max);
    VAL(IaHalosInfo, hi, rows_read); VAL(IaHalosInfo, hi, dropped_orphans);
    VAL(IaHalosInfo, hi, wrapped_positions); VAL(IaHalosInfo, hi, zero_axis_hosts);
    TRY(ia_halos_free(halos));

    IaEmulator *emu = NULL;
    TRY(ia_emulator_load(NULL, "auto", &emu));
    IaEmulatorInfo ei;
    TRY(ia_emulator_info(emu, &ei));
    VAL(IaEmulatorInfo, ei, n_params); VAL(IaEmulatorInfo, ei, n_statistics);
    VAL(IaEmulatorInfo, ei, n_bins); ARR(IaEmulatorInfo, ei, domain_min, IA_N_PARAMS);
    ARR(IaEmulatorInfo, ei, domain_max, IA_N_PARAMS); VAL(IaEmulatorInfo, ei, log_xi);
    VAL(IaEmulatorInfo, ei, on_cuda); VAL(IaEmulatorInfo, ei, n_weights);
    VAL(IaEmulatorInfo, ei, n_train); VAL(IaEmulatorInfo, ei, epochs);
    ARR(IaEmulatorInfo, ei, pcc_mean, IA_N_STATISTICS);
    ARR(IaEmulatorInfo, ei, frac_err_median, IA_N_STATISTICS);
    ARR(IaEmulatorInfo, ei, coverage_1sigma, IA_N_STATISTICS);
    ARR(IaEmulatorInfo, ei, coverage_2sigma, IA_N_STATISTICS);
    TRY(ia_emulator_free(emu));

    if (argc < 3) return 0;

    IaTable *table = NULL;
    TRY(ia_table_load(argv[2], &table));
    IaTableInfo ti;
    TRY(ia_table_info(table, &ti));
    VAL(IaTableInfo, ti, n_bins); VAL(IaTableInfo, ti, satellites); VAL(IaTableInfo, ti, n_hosts);
    VAL(IaTableInfo, ti, n_subhalos); ARR(IaTableInfo, ti, box_size, 3);
    VAL(IaTableInfo, ti, size_bytes);
    TRY(ia_table_free(table));
    return 0;
}
