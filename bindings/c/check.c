/* The C binding's check against the Rust command line: every function family (version, last
 * error, halos, galaxies, correlation, simulation, emulator, memory budget) on the inputs of
 * bindings/reference.sh, whose outputs (one number per line, C order) are read from the folder
 * given as argv[1]. Prints how many numbers agreed; exits 1 at the first disagreement.
 *   bash bindings/c/test.sh   (builds and runs this after bindings/reference.sh) */
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

static long read_count(const char *key) {
    char path[4096], name[64];
    long value;
    snprintf(path, sizeof path, "%s/counts.txt", ref_dir);
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

    ok(ia_galaxies_free(gals), "ia_galaxies_free");
    ok(ia_halos_free(halos), "ia_halos_free");
    free(params), free(mvir), free(central), free(host), free(pos), free(ori), free(stats);
    free(edges), free(mean), free(ale), free(epi), free(jac);
    printf("bindings/c: every function family agrees with the Rust command line (%ld numbers)\n", n_checked);
    return 0;
}
