/* Test helper for bindings/fortran/test.sh: prints the size and every field offset of the C
 * structs that iaemu.f90 mirrors as bind(C) types, one "struct.field offset" line each, for the
 * test program to compare with the Fortran layout. */
#include "iaemu.h"

#include <stddef.h>
#include <stdio.h>

#define F(S, f) printf("%s.%s %zu\n", #S, #f, offsetof(S, f))
#define SZ(S) printf("%s.sizeof %zu\n", #S, sizeof(S))

int main(void) {
    SZ(IaCorrOptions);
    F(IaCorrOptions, box_size); F(IaCorrOptions, r_edges); F(IaCorrOptions, n_edges);
    F(IaCorrOptions, xi_normalization); F(IaCorrOptions, jackknife_side);
    F(IaCorrOptions, covariance); F(IaCorrOptions, n_threads);
    SZ(IaEmulatorInfo);
    F(IaEmulatorInfo, n_params); F(IaEmulatorInfo, n_statistics); F(IaEmulatorInfo, n_bins);
    F(IaEmulatorInfo, domain_min); F(IaEmulatorInfo, domain_max); F(IaEmulatorInfo, log_xi);
    F(IaEmulatorInfo, on_cuda); F(IaEmulatorInfo, n_weights); F(IaEmulatorInfo, n_train);
    F(IaEmulatorInfo, epochs); F(IaEmulatorInfo, pcc_mean); F(IaEmulatorInfo, frac_err_median);
    F(IaEmulatorInfo, coverage_1sigma); F(IaEmulatorInfo, coverage_2sigma);
    SZ(IaHalosLoadOptions);
    F(IaHalosLoadOptions, box_size); F(IaHalosLoadOptions, particle_mass);
    F(IaHalosLoadOptions, redshift); F(IaHalosLoadOptions, force);
    SZ(IaSyntheticOptions);
    F(IaSyntheticOptions, box_size); F(IaSyntheticOptions, seed); F(IaSyntheticOptions, min_host_mass);
    F(IaSyntheticOptions, particle_mass); F(IaSyntheticOptions, grid); F(IaSyntheticOptions, subhalos);
    F(IaSyntheticOptions, subhalo_survival); F(IaSyntheticOptions, axis_scatter);
    F(IaSyntheticOptions, tidal_smoothing); F(IaSyntheticOptions, omega_m); F(IaSyntheticOptions, omega_b);
    F(IaSyntheticOptions, h); F(IaSyntheticOptions, n_s); F(IaSyntheticOptions, sigma8);
    F(IaSyntheticOptions, n_threads);
    SZ(IaHalosInfo);
    F(IaHalosInfo, n_halos); F(IaHalosInfo, n_hosts); F(IaHalosInfo, n_subhalos);
    F(IaHalosInfo, n_central_hosts); F(IaHalosInfo, box_size); F(IaHalosInfo, particle_mass);
    F(IaHalosInfo, redshift); F(IaHalosInfo, mvir_min); F(IaHalosInfo, mvir_max);
    F(IaHalosInfo, rows_read); F(IaHalosInfo, dropped_orphans); F(IaHalosInfo, wrapped_positions);
    F(IaHalosInfo, zero_axis_hosts);
    SZ(IaSimulateOptions);
    F(IaSimulateOptions, r_edges); F(IaSimulateOptions, n_edges); F(IaSimulateOptions, xi_normalization);
    F(IaSimulateOptions, satellites); F(IaSimulateOptions, satellites_times_centrals);
    F(IaSimulateOptions, min_host_particles); F(IaSimulateOptions, n_threads);
    return 0;
}
