/* Galaxies from C: ia_populate and its accessors, ia_simulate, one halos handle shared by
 * threads simulating at once, and the error paths. Run from the repository root. */
#include "iaemu.h"
#include "check.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { NB = 20, OUT = 3 * NB, THREADS = 4 };
/* The -20 point of Zheng et al. (2007) Table 1 with mu_cen = mu_sat = 0.8. */
static const double PARAMS[7] = {0.8, 0.8, 12.02, 0.26, 11.38, 13.31, 1.06};

struct job {
    const IaHalos *halos;
    double mean[OUT], var[OUT];
    int status;
};

static void *simulate_job(void *arg) {
    struct job *j = arg;
    IaSimulateOptions o;
    ia_simulate_options_default(&o);
    o.n_threads = 1;
    j->status = ia_simulate(j->halos, PARAMS, 2, 99, &o, j->mean, j->var, OUT);
    return NULL;
}

int main(void) {
    IaSyntheticOptions so;
    ia_synthetic_options_default(&so);
    so.box_size = 100.0;
    so.grid = 32;
    so.seed = 5;
    IaHalos *h = NULL;
    CHECK(ia_halos_synthetic(&so, &h) == IA_OK, "synthetic: %s", ia_last_error_message());

    /* Populate: sizes, ranges, unit axes, centrals first in each host, determinism. */
    IaGalaxies *g = NULL, *g2 = NULL, *g3 = NULL;
    CHECK(ia_populate(h, PARAMS, 7, &g) == IA_OK, "populate: %s", ia_last_error_message());
    size_t n = 0;
    CHECK(ia_galaxies_count(g, &n) == IA_OK && n > 100, "count %zu", n);
    double *pos = malloc(3 * n * sizeof *pos), *ori = malloc(3 * n * sizeof *ori), *pos2 = malloc(3 * n * sizeof *pos2);
    unsigned char *central = malloc(n);
    int64_t *host = malloc(n * sizeof *host);
    CHECK(ia_galaxies_get(g, IA_GAL_POSITIONS, pos, 3 * n) == IA_OK, "positions");
    CHECK(ia_galaxies_get(g, IA_GAL_ORIENTATIONS, ori, 3 * n) == IA_OK, "orientations");
    CHECK(ia_galaxies_kind(g, central, host, n) == IA_OK, "kind: %s", ia_last_error_message());
    size_t n_cen = 0;
    for (size_t i = 0; i < n; i++) {
        double len2 = ori[3 * i] * ori[3 * i] + ori[3 * i + 1] * ori[3 * i + 1] + ori[3 * i + 2] * ori[3 * i + 2];
        CHECK(fabs(len2 - 1.0) < 1e-12, "axis %zu has length^2 %g", i, len2);
        for (int k = 0; k < 3; k++) CHECK(pos[3 * i + k] >= 0 && pos[3 * i + k] < 100.0, "position %zu", i);
        n_cen += central[i];
        CHECK(central[i] <= 1 && host[i] >= 0, "kind %zu", i);
    }
    CHECK(n_cen > 0 && n_cen < n, "centrals %zu of %zu", n_cen, n);
    CHECK(ia_populate(h, PARAMS, 7, &g2) == IA_OK, "populate again");
    size_t n2 = 0;
    ia_galaxies_count(g2, &n2);
    CHECK(n2 == n, "same seed, same count");
    if (n2 == n) {
        ia_galaxies_get(g2, IA_GAL_POSITIONS, pos2, 3 * n);
        CHECK(memcmp(pos, pos2, 3 * n * sizeof *pos) == 0, "same seed, same positions");
    }
    CHECK(ia_populate(h, PARAMS, 8, &g3) == IA_OK, "populate other seed");
    size_t n3 = 0;
    ia_galaxies_count(g3, &n3);
    CHECK(n3 != n || (ia_galaxies_get(g3, IA_GAL_POSITIONS, pos2, 3 * n) == IA_OK &&
                      memcmp(pos, pos2, 3 * n * sizeof *pos) != 0),
          "another seed, other galaxies");

    /* The galaxies measured through ia_correlate have the expected signs: mu = 0.8 aligns
     * satellites radially, so omega > 0 on 1-halo scales. */
    IaCorrOptions co;
    ia_corr_options_default(100.0, &co);
    IaCorrResult *res = NULL;
    CHECK(ia_correlate(pos, ori, NULL, n, &co, &res) == IA_OK, "correlate: %s", ia_last_error_message());
    double omega[NB];
    ia_corr_result_get(res, IA_CORR_OMEGA, omega, NB);
    CHECK(omega[5] > 0 && omega[8] > 0, "omega %g %g", omega[5], omega[8]);
    ia_corr_result_free(res);

    /* Simulate: serial reference, then four threads on the same handle at once. */
    struct job ref = {h, {0}, {0}, 0};
    simulate_job(&ref);
    CHECK(ref.status == IA_OK, "simulate: %s", ia_last_error_message());
    for (int k = 0; k < OUT; k++) {
        CHECK(isfinite(ref.mean[k]) && ref.var[k] >= 0, "bin %d: mean %g var %g", k, ref.mean[k], ref.var[k]);
    }
    CHECK(ref.mean[NB + 5] > 0, "omega > 0 on 1-halo scales");
    pthread_t t[THREADS];
    struct job jobs[THREADS];
    for (int k = 0; k < THREADS; k++) {
        jobs[k] = (struct job){h, {0}, {0}, -99};
        pthread_create(&t[k], NULL, simulate_job, &jobs[k]);
    }
    for (int k = 0; k < THREADS; k++) {
        pthread_join(t[k], NULL);
        CHECK(jobs[k].status == IA_OK, "thread %d status %d", k, jobs[k].status);
        CHECK(memcmp(jobs[k].mean, ref.mean, sizeof ref.mean) == 0 && memcmp(jobs[k].var, ref.var, sizeof ref.var) == 0,
              "thread %d differs from the serial result", k);
    }
    /* Custom bins and one realisation: the variance is NaN, not a made-up number. */
    double edges[4] = {1.0, 2.0, 4.0, 8.0}, m9[9], v9[9];
    IaSimulateOptions o;
    ia_simulate_options_default(&o);
    o.r_edges = edges;
    o.n_edges = 4;
    CHECK(ia_simulate(h, PARAMS, 1, 3, &o, m9, v9, 9) == IA_OK, "custom bins: %s", ia_last_error_message());
    CHECK(isfinite(m9[0]) && isnan(v9[0]), "one realisation: mean %g var %g", m9[0], v9[0]);

    /* Error paths. */
    double bad[7];
    double mean[OUT], var[OUT];
    memcpy(bad, PARAMS, sizeof bad);
    bad[0] = NAN;
    CHECK(ia_simulate(h, bad, 2, 1, NULL, mean, var, OUT) == IA_ERR_INVALID_ARGUMENT &&
              strstr(ia_last_error_message(), "mu_cen") != NULL,
          "NaN mu_cen: %s", ia_last_error_message());
    memcpy(bad, PARAMS, sizeof bad);
    bad[1] = 1.5;
    CHECK(ia_populate(h, bad, 1, &g3) == IA_ERR_INVALID_ARGUMENT && strstr(ia_last_error_message(), "mu_sat"),
          "mu_sat > 1: %s", ia_last_error_message());
    memcpy(bad, PARAMS, sizeof bad);
    bad[3] = 0.0;
    CHECK(ia_simulate(h, bad, 2, 1, NULL, mean, var, OUT) == IA_ERR_INVALID_ARGUMENT &&
              strstr(ia_last_error_message(), "sigma_logM") != NULL,
          "sigma_logM = 0: %s", ia_last_error_message());
    double empty[7] = {0, 0, 16.5, 0.1, 16.5, 17, 1};
    CHECK(ia_simulate(h, empty, 2, 1, NULL, mean, var, OUT) == IA_ERR_INVALID_ARGUMENT &&
              strstr(ia_last_error_message(), "at least 2") != NULL,
          "no galaxies: %s", ia_last_error_message());
    CHECK(ia_simulate(h, PARAMS, 0, 1, NULL, mean, var, OUT) == IA_ERR_INVALID_ARGUMENT, "zero realisations");
    CHECK(ia_simulate(h, PARAMS, 2, 1, NULL, mean, var, 59) == IA_ERR_INVALID_ARGUMENT, "wrong out_len");
    CHECK(ia_simulate(h, NULL, 2, 1, NULL, mean, var, OUT) == IA_ERR_INVALID_ARGUMENT, "NULL params");
    CHECK(ia_simulate(h, PARAMS, 2, 1, NULL, NULL, var, OUT) == IA_ERR_INVALID_ARGUMENT, "NULL out_mean");
    CHECK(ia_galaxies_get(g, IA_GAL_POSITIONS, pos, 3 * n - 1) == IA_ERR_INVALID_ARGUMENT, "short buffer");
    CHECK(ia_galaxies_get(g, 7, pos, 3 * n) == IA_ERR_INVALID_ARGUMENT, "unknown quantity");
    CHECK(ia_galaxies_count((const IaGalaxies *)h, &n2) == IA_ERR_INVALID_ARGUMENT, "halos as galaxies");
    CHECK(ia_populate((const IaHalos *)g, PARAMS, 1, &g3) == IA_ERR_INVALID_ARGUMENT, "galaxies as halos");

    ia_galaxies_free(g2);
    ia_galaxies_free(g3);
    CHECK(ia_galaxies_free(g) == IA_OK, "free");
    CHECK(ia_galaxies_count(g, &n2) == IA_ERR_INVALID_ARGUMENT, "use after free");
    CHECK(ia_galaxies_free(NULL) == IA_OK, "free NULL");
    ia_halos_free(h);
    free(pos), free(ori), free(pos2), free(central), free(host);

    if (failures) {
        fprintf(stderr, "test_hod: %d failure(s)\n", failures);
        return 1;
    }
    printf("test_hod: all checks passed\n");
    return 0;
}
