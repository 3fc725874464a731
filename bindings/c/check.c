/* The C binding's check against the Rust command line: every function family (version, last
 * error, halos, galaxies, correlation, simulation, emulator, memory budget, tables and expected
 * correlations) on the inputs of bindings/reference.sh and bindings/reference-expect.sh, whose
 * outputs (one number per line, C order) are read from the folder given as argv[1] (both
 * scripts write there). Prints how many numbers agreed; exits 1 at the first disagreement.
 *   bash bindings/c/test.sh   (builds and runs this after the two reference scripts) */
#include "iaemu.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *ref_dir;
static long n_checked;

static void fail(const char *what) {
    fprintf(stderr, "bindings/c check: %s (last error: \"%s\")\n", what, ia_last_error_message());
    exit(1);
}

static void ok(int status, const char *call) {
    if (status != IA_OK) {
        fprintf(stderr, "bindings/c check: %s returned %d: %s\n", call, status, ia_last_error_message());
        exit(1);
    }
}

/* Reads ref_dir/name, one number per line, into a new array; *n gets the count. */
static double *read_ref(const char *name, size_t *n) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", ref_dir, name);
    FILE *f = fopen(path, "r");
    if (!f) fail(path);
    size_t cap = 64, len = 0;
    double *v = malloc(cap * sizeof *v), x;
    while (fscanf(f, "%lf", &x) == 1) {
        if (len == cap) v = realloc(v, (cap *= 2) * sizeof *v);
        v[len++] = x;
    }
    fclose(f);
    *n = len;
    return v;
}

/* The value of a "name value" line of ref_dir/file (counts.txt, expect_counts.txt). */
static long read_count_in(const char *file, const char *key) {
    char path[4096], name[64];
    long value;
    snprintf(path, sizeof path, "%s/%s", ref_dir, file);
    FILE *f = fopen(path, "r");
    if (!f) fail(path);
    while (fscanf(f, "%63s %ld", name, &value) == 2) {
        if (strcmp(name, key) == 0) {
            fclose(f);
            return value;
        }
    }
    fail(key);
    return -1;
}

static long read_count(const char *key) { return read_count_in("counts.txt", key); }

/* got[i] against the reference file, relative 1e-9 of the file's largest value plus 1e-300. */
static void compare(const char *what, const double *got, size_t n, const char *ref_name) {
    size_t n_ref;
    double *ref = read_ref(ref_name, &n_ref), scale = 0;
    if (n_ref != n) {
        fprintf(stderr, "bindings/c check: %s: %zu values, %s has %zu\n", what, n, ref_name, n_ref);
        exit(1);
    }
    for (size_t i = 0; i < n; i++) scale = fmax(scale, fabs(ref[i]));
    for (size_t i = 0; i < n; i++) {
        if (!(fabs(got[i] - ref[i]) <= 1e-9 * scale + 1e-300)) {
            fprintf(stderr, "bindings/c check: %s[%zu] = %.17g, Rust gives %.17g\n", what, i, got[i], ref[i]);
            exit(1);
        }
    }
    n_checked += (long)n;
    free(ref);
}

/* got[i] bitwise equal to the reference file's (NaN equal to NaN): tables and expected
 * correlations, which the command line computes with the same code from the same table. */
static void compare_exact(const char *what, const double *got, size_t n, const char *ref_name) {
    size_t n_ref;
    double *ref = read_ref(ref_name, &n_ref);
    if (n_ref != n) {
        fprintf(stderr, "bindings/c check: %s: %zu values, %s has %zu\n", what, n, ref_name, n_ref);
        exit(1);
    }
    for (size_t i = 0; i < n; i++) {
        if (!(got[i] == ref[i] || (isnan(got[i]) && isnan(ref[i])))) {
            fprintf(stderr, "bindings/c check: %s[%zu] = %.17g, Rust gives %.17g (bitwise)\n", what, i, got[i],
                    ref[i]);
            exit(1);
        }
    }
    n_checked += (long)n;
    free(ref);
}

/* Tables and expected correlations: the command line's table (bindings/reference-expect.sh: a
 * 50 Mpc/h universe, 3 bins) at the two reference points, default options and
 * n-n-minus1 + satellites-times-centrals; the error paths. */
static void check_tables(const double *params) {
    char path[4096];
    snprintf(path, sizeof path, "%s/table.npz", ref_dir);
    IaTable *table = NULL;
    ok(ia_table_load(path, &table), "ia_table_load");
    IaTableInfo info;
    ok(ia_table_info(table, &info), "ia_table_info");
    if ((long)info.n_bins != read_count_in("expect_counts.txt", "n_bins") ||
        (long)info.n_hosts != read_count_in("expect_counts.txt", "n_hosts") ||
        (long)info.n_subhalos != read_count_in("expect_counts.txt", "n_subhalos"))
        fail("table counts differ from expect_counts.txt");
    if (info.satellites != IA_SATELLITES_SUBHALOS || info.box_size[0] != 50 || info.size_bytes == 0)
        fail("table info: satellites, box or size");
    n_checked += 3;
    const size_t nb = info.n_bins, n = 2;
    double edges[16];
    if (nb + 1 > sizeof edges / sizeof edges[0]) fail("more bins than expected");
    ok(ia_table_r_edges(table, edges, nb + 1), "ia_table_r_edges");
    compare_exact("ia_table_r_edges", edges, nb + 1, "expect_r_edges.txt");

    double *mean = malloc(n * 3 * nb * sizeof *mean), n_gal[2];
    double *parts = malloc(n * IA_N_PARTS * 3 * nb * sizeof *parts);
    double *jac = malloc(n * 3 * nb * IA_N_PARAMS * sizeof *jac);
    ok(ia_expect_batch(table, params, n, NULL, mean, n * 3 * nb, n_gal), "ia_expect_batch");
    compare_exact("ia_expect_batch mean", mean, n * 3 * nb, "expect_mean.txt");
    compare_exact("ia_expect_batch n_galaxies", n_gal, n, "expect_n_galaxies.txt");
    ok(ia_expect_parts(table, params, n, NULL, parts, n * IA_N_PARTS * 3 * nb), "ia_expect_parts");
    compare_exact("ia_expect_parts", parts, n * IA_N_PARTS * 3 * nb, "expect_parts.txt");
    ok(ia_expect_jacobian(table, params, n, NULL, jac, n * 3 * nb * IA_N_PARAMS), "ia_expect_jacobian");
    compare_exact("ia_expect_jacobian", jac, n * 3 * nb * IA_N_PARAMS, "expect_jacobian.txt");

    IaExpectOptions eo;
    ok(ia_expect_options_default(&eo), "ia_expect_options_default");
    if (eo.xi_normalization != IA_XI_N_SQUARED || eo.satellites_times_centrals != 0 || eo.n_threads != 0)
        fail("ia_expect_options_default");
    eo.xi_normalization = IA_XI_N_N_MINUS_1;
    eo.satellites_times_centrals = 1;
    ok(ia_expect_batch(table, params, n, &eo, mean, n * 3 * nb, n_gal), "ia_expect_batch with options");
    compare_exact("ia_expect_batch mean with options", mean, n * 3 * nb, "expect_options_mean.txt");
    compare_exact("ia_expect_batch n_galaxies with options", n_gal, n, "expect_options_n_galaxies.txt");

    /* Errors: a NaN parameter (row 1), an output of the wrong size, a missing file. */
    double bad[2 * IA_N_PARAMS];
    memcpy(bad, params, sizeof bad);
    bad[IA_N_PARAMS + 1] = NAN;
    if (ia_expect_batch(table, bad, n, NULL, mean, n * 3 * nb, NULL) != IA_ERR_INVALID_ARGUMENT) fail("expect: NaN accepted");
    if (!strstr(ia_last_error_message(), "row 1") || !strstr(ia_last_error_message(), "mu_sat"))
        fail("the expect NaN error does not name row 1 and mu_sat");
    if (ia_expect_batch(table, params, n, NULL, mean, n * 3 * nb - 1, NULL) != IA_ERR_INVALID_ARGUMENT)
        fail("expect: a short output was accepted");
    if (!strstr(ia_last_error_message(), "out_len")) fail("the wrong-size error does not name out_len");
    snprintf(path, sizeof path, "%s/no-such-table.npz", ref_dir);
    IaTable *missing = NULL;
    if (ia_table_load(path, &missing) != IA_ERR_IO || missing != NULL) fail("a missing table was not IA_ERR_IO");
    if (!strstr(ia_last_error_message(), "no-such-table.npz")) fail("the missing-table error does not name the file");

    ok(ia_table_free(table), "ia_table_free");
    if (ia_table_info(table, &info) != IA_ERR_INVALID_ARGUMENT) fail("a freed table was accepted");
    free(mean), free(parts), free(jac);
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: check REFERENCE_DIR (made by bindings/reference.sh)\n");
        return 2;
    }
    ref_dir = argv[1];
    if (strcmp(ia_version(), IAEMU_VERSION) != 0) fail("ia_version differs from the header's IAEMU_VERSION");
    size_t n_params_ref;
    double *params = read_ref("params.txt", &n_params_ref);
    if (n_params_ref != 2 * IA_N_PARAMS) fail("params.txt is not 2 x 7");

    /* Halos and galaxies. */
    char halos_path[4096];
    snprintf(halos_path, sizeof halos_path, "%s/halos.hdf5", ref_dir);
    IaHalos *halos = NULL;
    ok(ia_halos_load(halos_path, &halos), "ia_halos_load");
    IaHalosInfo info;
    ok(ia_halos_info(halos, &info), "ia_halos_info");
    if ((long)info.n_halos != read_count("n_halos") || (long)info.n_hosts != read_count("n_hosts")) fail("halo counts differ");
    double *mvir = malloc(info.n_halos * sizeof *mvir);
    ok(ia_halos_column_f64(halos, "halo_mvir", mvir, info.n_halos), "ia_halos_column_f64");
    for (size_t i = 0; i < info.n_halos; i++) {
        if (!(mvir[i] >= info.mvir_min && mvir[i] <= info.mvir_max)) fail("halo_mvir outside [mvir_min, mvir_max]");
    }
    n_checked += 4;
    /* The shape: axis ratios, NaN where unknown, else 0 < c/a <= b/a <= 1. */
    double *ba = malloc(info.n_halos * sizeof *ba), *ca = malloc(info.n_halos * sizeof *ca);
    ok(ia_halos_column_f64(halos, "halo_b_to_a", ba, info.n_halos), "ia_halos_column_f64 halo_b_to_a");
    ok(ia_halos_column_f64(halos, "halo_c_to_a", ca, info.n_halos), "ia_halos_column_f64 halo_c_to_a");
    for (size_t i = 0; i < info.n_halos; i++) {
        if (!(isnan(ba[i]) || isnan(ca[i]) || (ca[i] > 0 && ca[i] <= ba[i] + 1e-6 && ba[i] <= 1)))
            fail("halo_b_to_a, halo_c_to_a neither NaN nor 0 < c/a <= b/a <= 1");
    }
    free(ba);
    free(ca);
    IaGalaxies *gals = NULL;
    ok(ia_populate(halos, params, 1, &gals), "ia_populate");
    size_t n_gal;
    ok(ia_galaxies_count(gals, &n_gal), "ia_galaxies_count");
    uint8_t *central = malloc(n_gal);
    int64_t *host = malloc(n_gal * sizeof *host);
    ok(ia_galaxies_kind(gals, central, host, n_gal), "ia_galaxies_kind");
    long n_cen = 0;
    for (size_t i = 0; i < n_gal; i++) n_cen += central[i];
    if ((long)n_gal != read_count("n_galaxies") || n_cen != read_count("n_centrals")) fail("galaxy counts differ");
    n_checked += 2;

    /* Correlation of those galaxies. */
    double *pos = malloc(3 * n_gal * sizeof *pos), *ori = malloc(3 * n_gal * sizeof *ori);
    ok(ia_galaxies_get(gals, IA_GAL_POSITIONS, pos, 3 * n_gal), "ia_galaxies_get positions");
    ok(ia_galaxies_get(gals, IA_GAL_ORIENTATIONS, ori, 3 * n_gal), "ia_galaxies_get orientations");
    IaCorrOptions copt;
    ok(ia_corr_options_default(info.box_size[0], &copt), "ia_corr_options_default");
    IaCorrResult *corr = NULL;
    ok(ia_correlate(pos, ori, NULL, n_gal, &copt, &corr), "ia_correlate");
    size_t nb;
    ok(ia_corr_result_n_bins(corr, &nb), "ia_corr_result_n_bins");
    double *stats = malloc(3 * nb * sizeof *stats);
    ok(ia_corr_result_get(corr, IA_CORR_XI, stats, nb), "ia_corr_result_get xi");
    ok(ia_corr_result_get(corr, IA_CORR_OMEGA, stats + nb, nb), "ia_corr_result_get omega");
    ok(ia_corr_result_get(corr, IA_CORR_ETA, stats + 2 * nb, nb), "ia_corr_result_get eta");
    compare("ia_correlate xi, omega, eta", stats, 3 * nb, "correlate.txt");
    ok(ia_corr_result_free(corr), "ia_corr_result_free");

    /* Simulation on the loaded halos. */
    double sim_mean[3 * 20], sim_var[3 * 20];
    ok(ia_simulate(halos, params, 2, 1, NULL, sim_mean, sim_var, 3 * 20), "ia_simulate");
    compare("ia_simulate mean", sim_mean, 60, "simulate_mean.txt");
    compare("ia_simulate var", sim_var, 60, "simulate_var.txt");

    /* The built-in emulator. */
    IaEmulator *emu = NULL;
    ok(ia_emulator_load(NULL, "cpu", &emu), "ia_emulator_load");
    IaEmulatorInfo einfo;
    ok(ia_emulator_info(emu, &einfo), "ia_emulator_info");
    if (einfo.n_params != IA_N_PARAMS || einfo.n_statistics != IA_N_STATISTICS) fail("emulator sizes");
    size_t ne = einfo.n_bins + 1, n_out = 2 * 3 * einfo.n_bins;
    double *edges = malloc(ne * sizeof *edges);
    ok(ia_emulator_r_edges(emu, edges, ne), "ia_emulator_r_edges");
    compare("ia_emulator_r_edges", edges, ne, "r_edges.txt");
    double *mean = malloc(n_out * sizeof *mean), *ale = malloc(n_out * sizeof *ale), *epi = malloc(n_out * sizeof *epi);
    double *jac = malloc(n_out * IA_N_PARAMS * sizeof *jac);
    uint32_t flags[2];
    ok(ia_predict_batch(emu, params, 2, 20, 42, mean, ale, epi, flags), "ia_predict_batch");
    compare("ia_predict_batch mean", mean, n_out, "predict_mean.txt");
    compare("ia_predict_batch aleatoric", ale, n_out, "predict_aleatoric_var.txt");
    compare("ia_predict_batch epistemic", epi, n_out, "predict_epistemic_var.txt");
    ok(ia_predict_jacobian(emu, params, 2, mean, jac, flags), "ia_predict_jacobian");
    compare("ia_predict_jacobian mean", mean, n_out, "predict_plain_mean.txt");
    compare("ia_predict_jacobian", jac, n_out * IA_N_PARAMS, "jacobian.txt");

    /* The error path: NaN in a parameter is refused with the library's message. */
    double bad[IA_N_PARAMS];
    memcpy(bad, params, sizeof bad);
    bad[2] = NAN;
    if (ia_predict_batch(emu, bad, 1, 1, 0, mean, NULL, NULL, NULL) != IA_ERR_INVALID_ARGUMENT) fail("NaN accepted");
    if (!strstr(ia_last_error_message(), "logMmin")) fail("the NaN error does not name logMmin");

    /* The memory budget: under 64 MiB is refused; 20000 passes of one point do not fit in 64 MiB and
     * are refused before they start; 0 restores the default. The budget is restored before any
     * failure is reported, so nothing after this runs under it. */
    if (ia_set_memory_budget(1) != IA_ERR_INVALID_ARGUMENT) fail("a memory budget of 1 byte was accepted");
    if (!strstr(ia_last_error_message(), "ia_set_memory_budget")) fail("the budget error does not name ia_set_memory_budget");
    ok(ia_set_memory_budget((uint64_t)64 << 20), "ia_set_memory_budget(64 MiB)");
    int oom = ia_predict_batch(emu, params, 1, 20000, 42, mean, NULL, NULL, NULL);
    char oom_message[1024];
    snprintf(oom_message, sizeof oom_message, "%s", ia_last_error_message());
    ok(ia_set_memory_budget(0), "ia_set_memory_budget(0)");
    if (oom != IA_ERR_OUT_OF_MEMORY || IA_ERR_OUT_OF_MEMORY != -6 || !strstr(oom_message, "memory budget")) {
        fprintf(stderr, "bindings/c check: 20000 passes under a 64 MiB budget returned %d (\"%s\"), "
                "not IA_ERR_OUT_OF_MEMORY with a message on the memory budget\n", oom, oom_message);
        exit(1);
    }
    ok(ia_predict_batch(emu, params, 1, 1, 0, mean, NULL, NULL, NULL), "ia_predict_batch after the budget is restored");
    ok(ia_emulator_free(emu), "ia_emulator_free");
    if (ia_emulator_info(emu, &einfo) != IA_ERR_INVALID_ARGUMENT) fail("a freed emulator was accepted");

    check_tables(params);

    ok(ia_galaxies_free(gals), "ia_galaxies_free");
    ok(ia_halos_free(halos), "ia_halos_free");
    free(params), free(mvir), free(central), free(host), free(pos), free(ori), free(stats);
    free(edges), free(mean), free(ale), free(epi), free(jac);
    printf("bindings/c: every function family agrees with the Rust command line (%ld numbers)\n", n_checked);
    return 0;
}
