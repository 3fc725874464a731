/* ia_correlate from C: numbers against a brute-force reference written here, and the error
 * paths of the C ABI conventions. Built and run by scripts/test.sh against include/iaemu.h
 * and the built library. */
#include "iaemu.h"
#include "check.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { N = 600, NB = 20 };
static const double L = 40.0;

static unsigned long long rng_state = 12345;
static double uniform01(void) {
    rng_state = rng_state * 6364136223846793005ULL + 1442695040888963407ULL;
    return (double)(rng_state >> 11) / 9007199254740992.0;
}

/* Minimum-image separation, ordered pairs, bins (e_k, e_k+1]. */
static void brute(const double *pos, const double *ori, const double *edges,
                  unsigned long long *pairs, double *xi, double *omega, double *eta) {
    double om[NB] = {0}, et[NB] = {0};
    memset(pairs, 0, NB * sizeof *pairs);
    for (int i = 0; i < N; i++) {
        for (int j = 0; j < N; j++) {
            if (i == j) continue;
            double d[3], r2 = 0;
            for (int k = 0; k < 3; k++) {
                d[k] = pos[3 * j + k] - pos[3 * i + k];
                d[k] -= L * round(d[k] / L);
                r2 += d[k] * d[k];
            }
            for (int b = 0; b < NB; b++) {
                if (r2 > edges[b] * edges[b] && r2 <= edges[b + 1] * edges[b + 1]) {
                    double ni = 0, nj = 0, p = 0, c = 0;
                    for (int k = 0; k < 3; k++) {
                        ni += ori[3 * i + k] * ori[3 * i + k];
                        nj += ori[3 * j + k] * ori[3 * j + k];
                    }
                    for (int k = 0; k < 3; k++) {
                        p += ori[3 * i + k] / sqrt(ni) * d[k];
                        c += ori[3 * i + k] / sqrt(ni) * ori[3 * j + k] / sqrt(nj);
                    }
                    pairs[b]++;
                    om[b] += p * p / r2;
                    et[b] += c * c;
                    break;
                }
            }
        }
    }
    for (int b = 0; b < NB; b++) {
        double dv = 4.0 / 3.0 * M_PI * (pow(edges[b + 1], 3) - pow(edges[b], 3));
        xi[b] = pairs[b] * L * L * L / ((double)N * N * dv) - 1.0;
        omega[b] = pairs[b] ? om[b] / pairs[b] - 1.0 / 3.0 : NAN;
        eta[b] = pairs[b] ? et[b] / pairs[b] - 1.0 / 3.0 : NAN;
    }
}

static int close_or_both_nan(double a, double b, double tol) {
    if (isnan(b)) return isnan(a);
    return fabs(a - b) <= tol;
}

int main(void) {
    static double pos[3 * N], ori[3 * N];
    /* Clustered: half the galaxies in 30 tight groups, orientations pointing to the group. */
    double centre[30][3];
    for (int g = 0; g < 30; g++)
        for (int k = 0; k < 3; k++) centre[g][k] = uniform01() * L;
    for (int i = 0; i < N; i++) {
        for (int k = 0; k < 3; k++) {
            if (i % 2 == 0) {
                double off = (uniform01() - 0.5) * 1.5;
                pos[3 * i + k] = fmod(centre[i % 30][k] + off + L, L);
                ori[3 * i + k] = off + 0.3 * (uniform01() - 0.5);
            } else {
                pos[3 * i + k] = uniform01() * L;
                ori[3 * i + k] = uniform01() - 0.5;
            }
        }
    }

    CHECK(strcmp(ia_version(), IAEMU_VERSION) == 0, "ia_version %s vs header %s", ia_version(), IAEMU_VERSION);

    IaCorrOptions opt;
    CHECK(ia_corr_options_default(L, &opt) == IA_OK, "options_default");
    IaCorrResult *res = NULL;
    int st = ia_correlate(pos, ori, NULL, N, &opt, &res);
    CHECK(st == IA_OK && res != NULL, "ia_correlate: %d %s", st, ia_last_error_message());
    CHECK(strcmp(ia_last_error_message(), "") == 0, "no message after success");

    size_t nb = 0;
    CHECK(ia_corr_result_n_bins(res, &nb) == IA_OK && nb == NB, "n_bins %zu", nb);
    double edges[NB + 1], xi[NB], omega[NB], eta[NB];
    unsigned long long ref_pairs[NB];
    uint64_t pairs[NB];
    double ref_xi[NB], ref_omega[NB], ref_eta[NB];
    CHECK(ia_corr_result_get(res, IA_CORR_R_EDGES, edges, NB + 1) == IA_OK, "edges");
    CHECK(fabs(edges[0] - 0.1) < 1e-15 && fabs(edges[NB] - 16.0) < 1e-12, "default edges");
    CHECK(ia_corr_result_get(res, IA_CORR_XI, xi, NB) == IA_OK, "xi");
    CHECK(ia_corr_result_get(res, IA_CORR_OMEGA, omega, NB) == IA_OK, "omega");
    CHECK(ia_corr_result_get(res, IA_CORR_ETA, eta, NB) == IA_OK, "eta");
    CHECK(ia_corr_result_pairs(res, pairs, NB) == IA_OK, "pairs");
    brute(pos, ori, edges, ref_pairs, ref_xi, ref_omega, ref_eta);
    unsigned long long total = 0;
    for (int b = 0; b < NB; b++) {
        total += ref_pairs[b];
        CHECK(pairs[b] == ref_pairs[b], "bin %d: pairs %llu vs %llu", b, (unsigned long long)pairs[b], ref_pairs[b]);
        CHECK(close_or_both_nan(xi[b], ref_xi[b], 1e-9 * fmax(1.0, fabs(ref_xi[b]))), "bin %d: xi %g vs %g", b, xi[b], ref_xi[b]);
        CHECK(close_or_both_nan(omega[b], ref_omega[b], 1e-10), "bin %d: omega %g vs %g", b, omega[b], ref_omega[b]);
        CHECK(close_or_both_nan(eta[b], ref_eta[b], 1e-10), "bin %d: eta %g vs %g", b, eta[b], ref_eta[b]);
    }
    CHECK(total > 1000, "too few pairs (%llu) for a meaningful test", total);

    /* The cross-correlation of the sample with itself is its auto-correlation; one thread
     * gives the same bits as the default. */
    IaCorrResult *cross = NULL, *single = NULL;
    CHECK(ia_cross_correlate(pos, ori, NULL, N, pos, ori, NULL, N, &opt, &cross) == IA_OK, "cross: %s", ia_last_error_message());
    CHECK(ia_set_num_threads(1) == IA_OK, "set threads");
    CHECK(ia_correlate(pos, ori, NULL, N, &opt, &single) == IA_OK, "one thread");
    CHECK(ia_set_num_threads(0) == IA_OK, "reset threads");
    /* Absurd thread counts are refused, not attempted. */
    CHECK(ia_set_num_threads(UINT32_MAX) == IA_ERR_INVALID_ARGUMENT && strstr(ia_last_error_message(), "1024"),
          "UINT32_MAX threads: %s", ia_last_error_message());
    IaCorrOptions many = opt;
    many.n_threads = 100000;
    IaCorrResult *refused = NULL;
    CHECK(ia_correlate(pos, ori, NULL, N, &many, &refused) == IA_ERR_INVALID_ARGUMENT && refused == NULL,
          "100000 threads: %s", ia_last_error_message());
    double cx[NB], co[NB], ce[NB], s1[NB];
    uint64_t cp[NB];
    CHECK(ia_corr_result_pairs(cross, cp, NB) == IA_OK, "cross pairs");
    CHECK(ia_corr_result_get(cross, IA_CORR_XI, cx, NB) == IA_OK, "cross xi");
    CHECK(ia_corr_result_get(cross, IA_CORR_OMEGA, co, NB) == IA_OK, "cross omega");
    CHECK(ia_corr_result_get(cross, IA_CORR_ETA, ce, NB) == IA_OK, "cross eta");
    CHECK(ia_corr_result_get(single, IA_CORR_OMEGA, s1, NB) == IA_OK, "single-thread omega");
    for (int b = 0; b < NB; b++) {
        CHECK(cp[b] == pairs[b], "cross pairs[%d] %llu vs %llu", b, (unsigned long long)cp[b], (unsigned long long)pairs[b]);
        CHECK(close_or_both_nan(cx[b], xi[b], 1e-9 * fmax(1.0, fabs(xi[b]))), "cross xi[%d]", b);
        CHECK(close_or_both_nan(co[b], omega[b], 1e-12), "cross omega[%d] %g vs %g", b, co[b], omega[b]);
        CHECK(close_or_both_nan(ce[b], eta[b], 1e-12), "cross eta[%d]", b);
        CHECK(memcmp(&s1[b], &omega[b], sizeof(double)) == 0, "one thread omega[%d] differs in bits", b);
    }
    CHECK(ia_corr_result_free(cross) == IA_OK && ia_corr_result_free(single) == IA_OK, "free");

    /* Wrong length, wrong quantity, missing jackknife: errors, nothing written. */
    double sentinel[NB];
    for (int b = 0; b < NB; b++) sentinel[b] = -999.0;
    CHECK(ia_corr_result_get(res, IA_CORR_XI, sentinel, NB - 1) == IA_ERR_INVALID_ARGUMENT, "short len");
    CHECK(sentinel[0] == -999.0, "output written on failure");
    CHECK(strstr(ia_last_error_message(), "len") != NULL, "message names len: %s", ia_last_error_message());
    CHECK(ia_corr_result_get(res, 42, sentinel, NB) == IA_ERR_INVALID_ARGUMENT, "unknown quantity");
    CHECK(ia_corr_result_get(res, IA_CORR_XI_VAR, sentinel, NB) == IA_ERR_INVALID_ARGUMENT, "no jackknife");
    CHECK(strstr(ia_last_error_message(), "jackknife") != NULL, "jackknife message: %s", ia_last_error_message());

    /* Handles: free, double free, foreign, NULL. */
    CHECK(ia_corr_result_free(res) == IA_OK, "free");
    CHECK(ia_corr_result_free(res) == IA_ERR_INVALID_ARGUMENT, "double free detected");
    CHECK(strstr(ia_last_error_message(), "not a live") != NULL, "double free message: %s", ia_last_error_message());
    CHECK(ia_corr_result_n_bins(res, &nb) == IA_ERR_INVALID_ARGUMENT, "use after free detected");
    int not_a_handle = 7;
    CHECK(ia_corr_result_free((IaCorrResult *)&not_a_handle) == IA_ERR_INVALID_ARGUMENT, "foreign handle");
    CHECK(ia_corr_result_free(NULL) == IA_OK, "free(NULL) is a no-op");

    /* Bad input. */
    IaCorrResult *none = NULL;
    CHECK(ia_correlate(NULL, ori, NULL, N, &opt, &none) == IA_ERR_INVALID_ARGUMENT, "NULL positions");
    CHECK(strstr(ia_last_error_message(), "NULL") != NULL, "NULL message: %s", ia_last_error_message());
    CHECK(ia_correlate(pos, ori, NULL, N, NULL, &none) == IA_ERR_INVALID_ARGUMENT, "NULL options");
    CHECK(ia_correlate(pos, ori, NULL, N, &opt, NULL) == IA_ERR_INVALID_ARGUMENT, "NULL out");
    double saved = pos[5];
    pos[5] = NAN;
    CHECK(ia_correlate(pos, ori, NULL, N, &opt, &none) == IA_ERR_INVALID_ARGUMENT, "NaN position");
    CHECK(strstr(ia_last_error_message(), "not finite") != NULL, "NaN message: %s", ia_last_error_message());
    pos[5] = saved;
    double bad_edges[3] = {0.5, 2.0, 1.0};
    IaCorrOptions bad = opt;
    bad.r_edges = bad_edges;
    bad.n_edges = 3;
    CHECK(ia_correlate(pos, ori, NULL, N, &bad, &none) == IA_ERR_INVALID_ARGUMENT, "bad edges");
    CHECK(strstr(ia_last_error_message(), "increasing") != NULL, "edges message: %s", ia_last_error_message());
    bad = opt;
    bad.box_size[1] = 30.0;
    CHECK(ia_correlate(pos, ori, NULL, N, &bad, &none) == IA_ERR_INVALID_ARGUMENT, "box too small");
    CHECK(strstr(ia_last_error_message(), "half the box") != NULL, "box message: %s", ia_last_error_message());
    CHECK(none == NULL, "no handle written on failure");

    /* Jackknife through the C options. */
    opt.jackknife_side = 2;
    opt.covariance = 1;
    CHECK(ia_correlate(pos, ori, NULL, N, &opt, &res) == IA_OK, "jackknife: %s", ia_last_error_message());
    double var[NB];
    static double cov[3 * NB * 3 * NB];
    CHECK(ia_corr_result_get(res, IA_CORR_OMEGA_VAR, var, NB) == IA_OK, "omega_var");
    CHECK(ia_corr_result_get(res, IA_CORR_COVARIANCE, cov, 9 * NB * NB) == IA_OK, "covariance");
    CHECK(fabs(cov[(NB + 5) * 3 * NB + NB + 5] - var[5]) <= 1e-15 * fabs(var[5]) || isnan(var[5]), "covariance diagonal");
    CHECK(ia_corr_result_free(res) == IA_OK, "free jackknife result");

    if (failures) {
        fprintf(stderr, "test_correlate: %d failure(s)\n", failures);
        return 1;
    }
    printf("test_correlate: all checks passed (%llu pairs against the brute force)\n", total);
    return 0;
}
