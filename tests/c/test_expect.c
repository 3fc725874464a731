/* Expected correlations from C: a table of a small synthetic universe (build, info, edges, save
 * and load), ia_expect_batch / _jacobian / _parts and their consistency (batch = single calls,
 * parts add up, Jacobian = central differences of the batch, save/load bitwise), agreement with
 * the mean of many ia_simulate realisations, several threads on one table, and the error paths
 * of the C ABI conventions. Run from the repository root. */
#include "iaemu.h"
#include "check.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum { NB = 20, NS = 3 * NB, NJ = 7 * NS, NP = IA_N_PARTS * NS, THREADS = 4 };
static const double BOX = 50.0;
/* Two interior points (|mu| < 1, so central differences in mu stay in the domain). */
static const double P0[7] = {0.8, 0.5, 12.0, 0.3, 12.0, 13.2, 1.0};
static const double P1[7] = {-0.4, 0.7, 12.3, 0.45, 11.8, 13.4, 0.9};

static double max_abs(const double *x, size_t n) {
    double m = 0;
    for (size_t i = 0; i < n; i++)
        if (fabs(x[i]) > m) m = fabs(x[i]);
    return m;
}
static int all_finite(const double *x, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (!isfinite(x[i])) return 0;
    return 1;
}
static int untouched(const void *p, size_t n) {
    const unsigned char *c = p;
    for (size_t i = 0; i < n; i++)
        if (c[i] != 0xA5) return 0;
    return 1;
}
static int mentions(const char *what) { return strstr(ia_last_error_message(), what) != NULL; }

/* n x 7 parameters from P0 and P1 (rows alternate). */
static void two_points(double *p) {
    memcpy(p, P0, sizeof P0);
    memcpy(p + 7, P1, sizeof P1);
}

struct job {
    const IaTable *table;
    double mean[2 * NS];
    int status;
};
static void *expect_job(void *arg) {
    struct job *j = arg;
    double p[14];
    two_points(p);
    for (int rep = 0; rep < 5 && j->status == IA_OK; rep++)
        j->status = ia_expect_batch(j->table, p, 2, NULL, j->mean, 2 * NS, NULL);
    return NULL;
}

int main(void) {
    char path[128], path2[128], bad_path[128];
    snprintf(path, sizeof path, "target/ctest/table-%d.npz", (int)getpid());
    snprintf(path2, sizeof path2, "target/ctest/table-halos-%d.npz", (int)getpid());
    snprintf(bad_path, sizeof bad_path, "target/ctest/table-garbage-%d.npz", (int)getpid());

    /* Defaults, as the header documents them. */
    IaTableOptions to;
    IaExpectOptions eo;
    CHECK(ia_table_options_default(&to) == IA_OK, "table defaults: %s", ia_last_error_message());
    CHECK(to.r_edges == NULL && to.n_edges == 0 && to.satellites == IA_SATELLITES_AUTO &&
              to.min_host_particles == 300 && to.mass_bin_dex == 0.2 && to.draws_per_mass_bin == (1u << 21) &&
              to.tracers_two_halo == 1 && to.seed == 1 && to.n_threads == 0,
          "table defaults: sat %d minhp %g dex %g draws %llu tracers %u seed %llu", to.satellites,
          to.min_host_particles, to.mass_bin_dex, (unsigned long long)to.draws_per_mass_bin, to.tracers_two_halo,
          (unsigned long long)to.seed);
    CHECK(ia_expect_options_default(&eo) == IA_OK && eo.xi_normalization == IA_XI_N_SQUARED &&
              eo.satellites_times_centrals == 0 && eo.n_threads == 0,
          "expect defaults");
    CHECK(ia_table_options_default(NULL) == IA_ERR_INVALID_ARGUMENT && mentions("ia_table_options_default"),
          "NULL table options: %s", ia_last_error_message());
    CHECK(ia_expect_options_default(NULL) == IA_ERR_INVALID_ARGUMENT, "NULL expect options");

    /* A small universe and its table (the default options but 2^14 draws of borrowed offsets
     * instead of 2^21, so that it takes a second or so). */
    IaSyntheticOptions so;
    ia_synthetic_options_default(&so);
    so.box_size = BOX;
    so.grid = 16;
    so.seed = 5;
    IaHalos *h = NULL;
    CHECK(ia_halos_synthetic(&so, &h) == IA_OK, "synthetic: %s", ia_last_error_message());
    IaHalosInfo hi;
    CHECK(ia_halos_info(h, &hi) == IA_OK && hi.n_subhalos > 0, "halos info");
    to.draws_per_mass_bin = 1 << 14;
    IaTable *t = NULL;
    CHECK(ia_table_build(h, &to, &t) == IA_OK, "build: %s", ia_last_error_message());
    if (!t) {
        fprintf(stderr, "test_expect: no table, cannot go on\n");
        return 1;
    }
    CHECK(ia_last_error_message()[0] == '\0', "message after a success: %s", ia_last_error_message());

    /* Info and edges: the default bins of the correlation engine, the halos' box and hosts. */
    IaTableInfo ti;
    memset(&ti, 0, sizeof ti);
    CHECK(ia_table_info(t, &ti) == IA_OK, "info: %s", ia_last_error_message());
    CHECK(ti.n_bins == NB && ti.satellites == IA_SATELLITES_SUBHALOS, "info: %zu bins, satellites %d", ti.n_bins,
          ti.satellites);
    CHECK(ti.n_hosts == hi.n_central_hosts && ti.n_subhalos > 0 && ti.n_subhalos <= hi.n_subhalos,
          "info: %zu hosts (halos: %zu that take a central), %zu subhalos (halos: %zu)", ti.n_hosts,
          hi.n_central_hosts, ti.n_subhalos, hi.n_subhalos);
    CHECK(ti.box_size[0] == BOX && ti.box_size[1] == BOX && ti.box_size[2] == BOX && ti.size_bytes > 0,
          "info: box %g %g %g, %zu bytes", ti.box_size[0], ti.box_size[1], ti.box_size[2], ti.size_bytes);
    double edges[NB + 2], corr_edges[NB + 1];
    CHECK(ia_table_r_edges(t, edges, NB + 1) == IA_OK, "edges: %s", ia_last_error_message());
    {
        double two[6] = {1, 1, 1, 2, 2, 2};
        IaCorrOptions co;
        IaCorrResult *cr = NULL;
        ia_corr_options_default(BOX, &co);
        CHECK(ia_correlate(two, NULL, NULL, 2, &co, &cr) == IA_OK &&
                  ia_corr_result_get(cr, IA_CORR_R_EDGES, corr_edges, NB + 1) == IA_OK,
              "correlate: %s", ia_last_error_message());
        ia_corr_result_free(cr);
        CHECK(memcmp(edges, corr_edges, sizeof corr_edges) == 0, "table edges are not the default bins");
        for (int b = 0; b < NB; b++) CHECK(edges[b] > 0 && edges[b] < edges[b + 1], "edge %d", b);
        CHECK(edges[NB] < BOX / 2, "r_max %g fits the box", edges[NB]);
    }
    size_t bad_len[] = {0, NB, NB + 2, SIZE_MAX};
    for (size_t i = 0; i < sizeof bad_len / sizeof *bad_len; i++) {
        memset(edges, 0xA5, sizeof edges);
        CHECK(ia_table_r_edges(t, edges, bad_len[i]) == IA_ERR_INVALID_ARGUMENT && mentions("ia_table_r_edges") &&
                  untouched(edges, sizeof edges),
              "edges with len %zu: %s", bad_len[i], ia_last_error_message());
    }
    CHECK(ia_table_r_edges(t, NULL, NB + 1) == IA_ERR_INVALID_ARGUMENT, "edges into NULL");
    CHECK(ia_table_info(t, NULL) == IA_ERR_INVALID_ARGUMENT, "info into NULL");

    /* A batch of two points is the two single-point calls, bitwise; counts and ranges. */
    double p2[14], mean2[2 * NS], ng2[2], m0[NS], m1[NS], ng0 = 0, ng1 = 0;
    two_points(p2);
    CHECK(ia_expect_batch(t, p2, 2, NULL, mean2, 2 * NS, ng2) == IA_OK, "batch: %s", ia_last_error_message());
    CHECK(ia_expect_batch(t, P0, 1, NULL, m0, NS, &ng0) == IA_OK, "P0: %s", ia_last_error_message());
    CHECK(ia_expect_batch(t, P1, 1, NULL, m1, NS, &ng1) == IA_OK, "P1: %s", ia_last_error_message());
    CHECK(memcmp(mean2, m0, sizeof m0) == 0 && memcmp(mean2 + NS, m1, sizeof m1) == 0 && ng2[0] == ng0 &&
              ng2[1] == ng1,
          "a batch of 2 differs from the single calls");
    CHECK(all_finite(mean2, 2 * NS), "expected xi, omega, eta not finite");
    CHECK(ng0 > 100 && ng1 > 100, "expected galaxies %g %g", ng0, ng1);
    for (int b = 0; b < NB; b++) CHECK(m0[b] > -1 && m1[b] > -1, "xi[%d] = %g, %g <= -1", b, m0[b], m1[b]);
    CHECK(m0[0] > m0[NB - 1] && m0[0] > 10, "xi falls with r: %g .. %g", m0[0], m0[NB - 1]);
    /* mu = 0.5 and 0.8 align galaxies radially and with their hosts: omega > 0 on 1-halo scales */
    CHECK(m0[NB + 5] > 0 && m0[NB + 8] > 0, "omega %g %g", m0[NB + 5], m0[NB + 8]);
    {
        double again[NS], one_thread[2 * NS];
        CHECK(ia_expect_batch(t, P0, 1, NULL, again, NS, NULL) == IA_OK && memcmp(again, m0, sizeof m0) == 0,
              "NULL out_n_galaxies, or not deterministic");
        IaExpectOptions o1 = eo;
        o1.n_threads = 1;
        CHECK(ia_expect_batch(t, p2, 2, &o1, one_thread, 2 * NS, NULL) == IA_OK &&
                  memcmp(one_thread, mean2, sizeof mean2) == 0,
              "one thread differs from the default");
    }
    /* Options: N(N-1) raises xi and leaves omega and eta; satellites x centrals lowers E[N]. */
    {
        IaExpectOptions o = eo;
        o.xi_normalization = IA_XI_N_N_MINUS_1;
        double mn[NS], ms[NS], ngs = 0;
        CHECK(ia_expect_batch(t, P0, 1, &o, mn, NS, NULL) == IA_OK, "N(N-1): %s", ia_last_error_message());
        for (int b = 0; b < NB; b++) CHECK(mn[b] > m0[b], "N(N-1): xi[%d] %g <= %g", b, mn[b], m0[b]);
        CHECK(memcmp(mn + NB, m0 + NB, 2 * NB * sizeof(double)) == 0, "N(N-1) changed omega or eta");
        o = eo;
        o.satellites_times_centrals = 1;
        CHECK(ia_expect_batch(t, P0, 1, &o, ms, NS, &ngs) == IA_OK && ngs < ng0 && ngs > 2,
              "satellites x centrals: E[N] %g (default %g): %s", ngs, ng0, ia_last_error_message());
    }
    /* No alignment (mu = 0): omega and eta vanish; xi does not depend on mu. */
    {
        double p[7], m[NS];
        memcpy(p, P0, sizeof p);
        p[0] = p[1] = 0;
        CHECK(ia_expect_batch(t, p, 1, NULL, m, NS, NULL) == IA_OK, "mu = 0: %s", ia_last_error_message());
        double scale = max_abs(m0 + NB, 2 * NB);
        for (int b = 0; b < NB; b++) {
            CHECK(fabs(m[b] - m0[b]) <= 1e-12 * fabs(m0[b]) + 1e-15, "mu = 0 changed xi[%d]: %.17g vs %.17g", b,
                  m[b], m0[b]);
            CHECK(fabs(m[NB + b]) <= 1e-12 * scale && fabs(m[2 * NB + b]) <= 1e-12 * scale,
                  "mu = 0: omega[%d] %g, eta[%d] %g", b, m[NB + b], b, m[2 * NB + b]);
        }
    }

    /* Parts: the five xi parts add up to 1 + xi, the omega and eta parts to omega and eta. */
    double parts[2 * NP], most_negative = 0;
    CHECK(ia_expect_parts(t, p2, 2, NULL, parts, 2 * NP) == IA_OK, "parts: %s", ia_last_error_message());
    CHECK(all_finite(parts, 2 * NP), "parts not finite");
    for (int i = 0; i < 2; i++) {
        const double *m = mean2 + i * NS, *pt = parts + i * NP;
        double one_plus[NB];
        for (int b = 0; b < NB; b++) one_plus[b] = 1 + m[b];
        double scale[3] = {max_abs(one_plus, NB), max_abs(m + NB, NB), max_abs(m + 2 * NB, NB)};
        for (int s = 0; s < 3; s++)
            for (int b = 0; b < NB; b++) {
                double sum = 0;
                for (int k = 0; k < IA_N_PARTS; k++) sum += pt[k * NS + s * NB + b];
                double want = s == 0 ? one_plus[b] : m[s * NB + b];
                CHECK(fabs(sum - want) <= 1e-9 * scale[s], "point %d statistic %d bin %d: parts add up to %.17g, not %.17g",
                      i, s, b, sum, want);
            }
        /* expected pair counts are >= 0 (up to the fits in log mass the table makes: a share may
         * dip below 0 by a hair of the curve) */
        for (int b = 0; b < NB; b++) {
            for (int k = 0; k < IA_N_PARTS; k++) {
                double v = pt[k * NS + b];
                if (v < most_negative) most_negative = v;
                CHECK(v >= -1e-6 * scale[0], "point %d part %d: xi share %g < 0 in bin %d (1 + xi up to %g)", i, k, v, b,
                      scale[0]);
            }
        }
        /* 1-halo pairs dominate the smallest bin, 2-halo pairs the largest */
        double one_h = pt[IA_PART_CEN_SAT_1H * NS] + pt[IA_PART_SAT_SAT_1H * NS];
        double two_h_last = pt[IA_PART_CEN_CEN_2H * NS + NB - 1] + pt[IA_PART_CEN_SAT_2H * NS + NB - 1] +
                            pt[IA_PART_SAT_SAT_2H * NS + NB - 1];
        CHECK(one_h > 0.5 * one_plus[0] && two_h_last > 0.5 * one_plus[NB - 1],
              "point %d: 1-halo share %g of %g at r_min, 2-halo share %g of %g at r_max", i, one_h, one_plus[0],
              two_h_last, one_plus[NB - 1]);
    }
    printf("test_expect: parts add up; the most negative xi share is %.3g\n", most_negative);

    /* Jacobian against central differences of ia_expect_batch: steps of 1e-4 of each parameter's
     * size (of |p| for mu, sigma_logM and alpha; of 1 dex for the log masses, whose scale is a
     * dex, not their value of ~12), error within 1e-4 of the curve's largest derivative. */
    double *jac = malloc(2 * NJ * sizeof *jac);
    CHECK(ia_expect_jacobian(t, p2, 2, NULL, jac, 2 * NJ) == IA_OK, "jacobian: %s", ia_last_error_message());
    CHECK(all_finite(jac, 2 * NJ), "jacobian not finite");
    {
        double fd[2][3][NB][7], worst = 0;
        for (int k = 0; k < 7; k++) {
            double pp[14], pm[14], fp[2 * NS], fm[2 * NS], step[2];
            two_points(pp);
            two_points(pm);
            for (int i = 0; i < 2; i++) {
                step[i] = 1e-4 * (k == 2 || k == 4 || k == 5 ? 1.0 : fabs(pp[7 * i + k]));
                pp[7 * i + k] += step[i];
                pm[7 * i + k] -= step[i];
            }
            CHECK(ia_expect_batch(t, pp, 2, NULL, fp, 2 * NS, NULL) == IA_OK &&
                      ia_expect_batch(t, pm, 2, NULL, fm, 2 * NS, NULL) == IA_OK,
                  "differences in parameter %d: %s", k, ia_last_error_message());
            for (int i = 0; i < 2; i++)
                for (int s = 0; s < 3; s++)
                    for (int b = 0; b < NB; b++)
                        fd[i][s][b][k] = (fp[i * NS + s * NB + b] - fm[i * NS + s * NB + b]) / (2 * step[i]);
        }
        for (int i = 0; i < 2; i++)
            for (int s = 0; s < 3; s++)
                for (int k = 0; k < 7; k++) {
                    double scale = 0;
                    for (int b = 0; b < NB; b++) {
                        double v = fabs(jac[i * NJ + (s * NB + b) * 7 + k]);
                        if (v > scale) scale = v;
                    }
                    for (int b = 0; b < NB; b++) {
                        double exact = jac[i * NJ + (s * NB + b) * 7 + k], diff = fd[i][s][b][k];
                        double err = fabs(exact - diff);
                        if (scale > 0 && err / scale > worst) worst = err / scale;
                        CHECK(err <= 1e-4 * scale + 1e-12 * max_abs(mean2 + i * NS + s * NB, NB),
                              "point %d d(statistic %d, bin %d)/d(parameter %d): exact %.10g, differences %.10g "
                              "(largest |derivative| of the curve %.3g)",
                              i, s, b, k, exact, diff, scale);
                    }
                }
        /* xi does not depend on mu; omega and eta do */
        for (int i = 0; i < 2; i++)
            for (int b = 0; b < NB; b++)
                CHECK(jac[i * NJ + b * 7 + 0] == 0 && jac[i * NJ + b * 7 + 1] == 0, "d xi / d mu != 0 (point %d bin %d)",
                      i, b);
        CHECK(jac[(NB + 5) * 7 + 1] != 0, "d omega / d mu_sat is 0 on 1-halo scales");
        printf("test_expect: Jacobian against central differences: worst error %.2e of the curve's largest derivative\n",
               worst);
    }

    /* Save and load: the same table, bitwise the same results. */
    CHECK(ia_table_save(t, path) == IA_OK, "save %s: %s", path, ia_last_error_message());
    IaTable *back = (IaTable *)0x1;
    CHECK(ia_table_load(path, &back) == IA_OK && back != (IaTable *)0x1, "load %s: %s", path, ia_last_error_message());
    {
        IaTableInfo bi;
        double be[NB + 1], bm[2 * NS], bng[2], bp[2 * NP];
        double *bj = malloc(2 * NJ * sizeof *bj);
        CHECK(ia_table_info(back, &bi) == IA_OK && bi.n_bins == ti.n_bins && bi.satellites == ti.satellites &&
                  bi.n_hosts == ti.n_hosts && bi.n_subhalos == ti.n_subhalos && bi.size_bytes == ti.size_bytes &&
                  memcmp(bi.box_size, ti.box_size, sizeof bi.box_size) == 0,
              "loaded info differs");
        CHECK(ia_table_r_edges(back, be, NB + 1) == IA_OK && memcmp(be, corr_edges, sizeof be) == 0, "loaded edges");
        CHECK(ia_expect_batch(back, p2, 2, NULL, bm, 2 * NS, bng) == IA_OK && memcmp(bm, mean2, sizeof bm) == 0 &&
                  memcmp(bng, ng2, sizeof bng) == 0,
              "loaded table: other means");
        CHECK(ia_expect_jacobian(back, p2, 2, NULL, bj, 2 * NJ) == IA_OK && memcmp(bj, jac, 2 * NJ * sizeof *bj) == 0,
              "loaded table: other Jacobian");
        CHECK(ia_expect_parts(back, p2, 2, NULL, bp, 2 * NP) == IA_OK && memcmp(bp, parts, sizeof bp) == 0,
              "loaded table: other parts");
        free(bj);
    }
    /* Files that are not tables: garbage, a truncated table, a halo catalogue; a missing file. */
    {
        static const char garbage[] = "PK\x03\x04 this is not a zip archive \x00\x01\x02\xff\xfe";
        FILE *f = fopen(bad_path, "wb");
        fwrite(garbage, 1, sizeof garbage, f);
        fclose(f);
        IaTable *none = (IaTable *)0x1;
        int st = ia_table_load(bad_path, &none);
        CHECK((st == IA_ERR_INVALID_ARGUMENT || st == IA_ERR_IO) && mentions("ia_table_load") && none == (IaTable *)0x1,
              "garbage .npz: %d %s", st, ia_last_error_message());
        f = fopen(path, "rb");
        char *buf = malloc(1 << 24);
        size_t got = f ? fread(buf, 1, 1 << 24, f) : 0;
        if (f) fclose(f);
        CHECK(got > 100, "read back %s", path);
        f = fopen(bad_path, "wb");
        fwrite(buf, 1, got / 2, f);
        fclose(f);
        free(buf);
        st = ia_table_load(bad_path, &none);
        CHECK((st == IA_ERR_INVALID_ARGUMENT || st == IA_ERR_IO) && mentions("ia_table_load") && none == (IaTable *)0x1,
              "truncated table: %d %s", st, ia_last_error_message());
        CHECK(ia_halos_save(h, path2) == IA_OK, "save halos as npz: %s", ia_last_error_message());
        st = ia_table_load(path2, &none);
        CHECK((st == IA_ERR_INVALID_ARGUMENT || st == IA_ERR_IO) && mentions("ia_table_load") && none == (IaTable *)0x1,
              "halo catalogue as a table: %d %s", st, ia_last_error_message());
        CHECK(ia_table_load("target/ctest/no-such-table.npz", &none) == IA_ERR_IO && none == (IaTable *)0x1,
              "missing file: %s", ia_last_error_message());
        CHECK(ia_table_load(NULL, &none) == IA_ERR_INVALID_ARGUMENT && ia_table_load("", &none) == IA_ERR_INVALID_ARGUMENT,
              "NULL or empty path");
        CHECK(ia_table_load(path, NULL) == IA_ERR_INVALID_ARGUMENT, "NULL out_table");
        remove(bad_path);
        remove(path2);
    }
    /* Saving: only .npz, into an existing folder; a failed save leaves no file. */
    CHECK(ia_table_save(t, "target/ctest/table.txt") == IA_ERR_INVALID_ARGUMENT &&
              access("target/ctest/table.txt", F_OK) != 0,
          "save as .txt: %s", ia_last_error_message());
    CHECK(ia_table_save(t, "/nonexistent-iaemu-dir/table.npz") == IA_ERR_IO && mentions("ia_table_save"),
          "save into a missing folder: %s", ia_last_error_message());
    CHECK(ia_table_save(t, NULL) == IA_ERR_INVALID_ARGUMENT && ia_table_save(t, "") == IA_ERR_INVALID_ARGUMENT,
          "NULL or empty path");
    remove(path);

    /* Invalid points: refused with the row named, nothing written. */
    {
        struct { int row, k; double v; const char *name; } bad[] = {
            {1, 0, NAN, "mu_cen"}, {0, 1, 1.5, "mu_sat"}, {1, 3, 0.0, "sigma_logM"}, {0, 6, INFINITY, "alpha"}};
        double out[2 * NS], ng[2], j[2 * NJ], pt[2 * NP];
        for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
            double p[14];
            char row[16];
            two_points(p);
            p[7 * bad[i].row + bad[i].k] = bad[i].v;
            snprintf(row, sizeof row, "row %d", bad[i].row);
            memset(out, 0xA5, sizeof out);
            memset(ng, 0xA5, sizeof ng);
            CHECK(ia_expect_batch(t, p, 2, NULL, out, 2 * NS, ng) == IA_ERR_INVALID_ARGUMENT && mentions(row) &&
                      mentions(bad[i].name) && mentions("ia_expect_batch") && untouched(out, sizeof out) &&
                      untouched(ng, sizeof ng),
                  "%s = %g in %s: %s", bad[i].name, bad[i].v, row, ia_last_error_message());
            memset(j, 0xA5, sizeof j);
            CHECK(ia_expect_jacobian(t, p, 2, NULL, j, 2 * NJ) == IA_ERR_INVALID_ARGUMENT && mentions(row) &&
                      untouched(j, sizeof j),
                  "jacobian, %s = %g: %s", bad[i].name, bad[i].v, ia_last_error_message());
            memset(pt, 0xA5, sizeof pt);
            CHECK(ia_expect_parts(t, p, 2, NULL, pt, 2 * NP) == IA_ERR_INVALID_ARGUMENT && mentions(row) &&
                      untouched(pt, sizeof pt),
                  "parts, %s = %g: %s", bad[i].name, bad[i].v, ia_last_error_message());
        }
        /* a point that puts no galaxy in the catalogue, as ia_simulate refuses it */
        double empty[7] = {0, 0, 16.5, 0.1, 16.5, 17, 1};
        memset(out, 0xA5, sizeof out);
        CHECK(ia_expect_batch(t, empty, 1, NULL, out, NS, NULL) == IA_ERR_INVALID_ARGUMENT && untouched(out, NS * 8),
              "no galaxies: %s", ia_last_error_message());
        /* wrong lengths, n = 0, NULL pointers, bad options */
        size_t lens[] = {2 * NS - 1, 2 * NS + 1, NS, 0};
        for (size_t i = 0; i < sizeof lens / sizeof *lens; i++) {
            memset(out, 0xA5, sizeof out);
            memset(ng, 0xA5, sizeof ng);
            CHECK(ia_expect_batch(t, p2, 2, NULL, out, lens[i], ng) == IA_ERR_INVALID_ARGUMENT && mentions("out_len") &&
                      untouched(out, sizeof out) && untouched(ng, sizeof ng),
                  "batch out_len %zu: %s", lens[i], ia_last_error_message());
        }
        size_t jlens[] = {2 * NJ - 1, 2 * NJ + 1, 2 * NS};
        for (size_t i = 0; i < sizeof jlens / sizeof *jlens; i++) {
            memset(j, 0xA5, sizeof j);
            CHECK(ia_expect_jacobian(t, p2, 2, NULL, j, jlens[i]) == IA_ERR_INVALID_ARGUMENT && untouched(j, sizeof j),
                  "jacobian out_len %zu: %s", jlens[i], ia_last_error_message());
        }
        size_t plens[] = {2 * NP - 1, 2 * NP + 1, 2 * NS};
        for (size_t i = 0; i < sizeof plens / sizeof *plens; i++) {
            memset(pt, 0xA5, sizeof pt);
            CHECK(ia_expect_parts(t, p2, 2, NULL, pt, plens[i]) == IA_ERR_INVALID_ARGUMENT && untouched(pt, sizeof pt),
                  "parts out_len %zu: %s", plens[i], ia_last_error_message());
        }
        memset(out, 0xA5, sizeof out);
        CHECK(ia_expect_batch(t, p2, 0, NULL, out, 0, NULL) == IA_ERR_INVALID_ARGUMENT && untouched(out, sizeof out),
              "n = 0: %s", ia_last_error_message());
        CHECK(ia_expect_batch(t, NULL, 1, NULL, out, NS, NULL) == IA_ERR_INVALID_ARGUMENT, "NULL params");
        CHECK(ia_expect_batch(t, P0, 1, NULL, NULL, NS, NULL) == IA_ERR_INVALID_ARGUMENT, "NULL out_mean");
        CHECK(ia_expect_jacobian(t, P0, 1, NULL, NULL, NJ) == IA_ERR_INVALID_ARGUMENT, "NULL out_jacobian");
        CHECK(ia_expect_parts(t, P0, 1, NULL, NULL, NP) == IA_ERR_INVALID_ARGUMENT, "NULL out_parts");
        IaExpectOptions o = eo;
        o.xi_normalization = 2;
        memset(out, 0xA5, sizeof out);
        CHECK(ia_expect_batch(t, P0, 1, &o, out, NS, NULL) == IA_ERR_INVALID_ARGUMENT && untouched(out, NS * 8),
              "xi_normalization 2: %s", ia_last_error_message());
        o = eo;
        o.n_threads = 5000;
        CHECK(ia_expect_batch(t, P0, 1, &o, out, NS, NULL) == IA_ERR_INVALID_ARGUMENT, "n_threads 5000");
    }

    /* Invalid table options: refused, naming the field, no handle written. */
    {
        double far_edges[3] = {1, 10, 30}, unsorted[4] = {1, 4, 2, 8};
        struct { const char *what, *field; IaTableOptions o; } bo[12];
        int nb = 0;
        IaTableOptions base;
        ia_table_options_default(&base);
#define BO(W, F, SET) do { bo[nb].what = W; bo[nb].field = F; bo[nb].o = base; bo[nb].o.SET; nb++; } while (0)
        BO("satellites 7", "satellites", satellites = 7);
        BO("mass_bin_dex 0", "mass_bin_dex", mass_bin_dex = 0);
        BO("mass_bin_dex NaN", "mass_bin_dex", mass_bin_dex = NAN);
        BO("mass_bin_dex 2", "mass_bin_dex", mass_bin_dex = 2);
        BO("draws_per_mass_bin 0", "draws_per_mass_bin", draws_per_mass_bin = 0);
        BO("tracers_two_halo 0", "tracers_two_halo", tracers_two_halo = 0);
        BO("tracers_two_halo 65", "tracers_two_halo", tracers_two_halo = 65);
        BO("r_max 30 > L/2", "", r_edges = far_edges); bo[nb - 1].o.n_edges = 3;
        BO("unsorted edges", "", r_edges = unsorted); bo[nb - 1].o.n_edges = 4;
        BO("n_threads 5000", "", n_threads = 5000);
        BO("min_host_particles 1e12 (no host)", "", min_host_particles = 1e12);
#undef BO
        for (int i = 0; i < nb; i++) {
            IaTable *none = (IaTable *)0x1;
            CHECK(ia_table_build(h, &bo[i].o, &none) == IA_ERR_INVALID_ARGUMENT && mentions("ia_table_build") &&
                      mentions(bo[i].field) && none == (IaTable *)0x1,
                  "build with %s: %s", bo[i].what, ia_last_error_message());
        }
        CHECK(ia_table_build(h, &to, NULL) == IA_ERR_INVALID_ARGUMENT, "build into NULL");
        IaTable *none = (IaTable *)0x1;
        CHECK(ia_table_build(NULL, &to, &none) == IA_ERR_INVALID_ARGUMENT && none == (IaTable *)0x1, "build of NULL halos");
    }

    /* NFW satellites and custom bins: the table keeps the edges given. */
    {
        double e4[4] = {1.0, 2.0, 4.0, 8.0}, got[4], m[9];
        IaTableOptions o = to;
        o.r_edges = e4;
        o.n_edges = 4;
        o.satellites = IA_SATELLITES_NFW;
        IaTable *tn = NULL;
        IaTableInfo ni;
        CHECK(ia_table_build(h, &o, &tn) == IA_OK, "NFW table: %s", ia_last_error_message());
        CHECK(ia_table_info(tn, &ni) == IA_OK && ni.n_bins == 3 && ni.satellites == IA_SATELLITES_NFW &&
                  ni.n_hosts == ti.n_hosts,
              "NFW info: %zu bins, satellites %d", ni.n_bins, ni.satellites);
        CHECK(ia_table_r_edges(tn, got, 4) == IA_OK && memcmp(got, e4, sizeof e4) == 0, "custom edges");
        CHECK(ia_expect_batch(tn, P0, 1, NULL, m, 9, NULL) == IA_OK && all_finite(m, 9), "NFW expect: %s",
              ia_last_error_message());
        CHECK(ia_expect_batch(tn, P0, 1, NULL, m, NS, NULL) == IA_ERR_INVALID_ARGUMENT, "NFW table, out_len for 20 bins");
        CHECK(ia_table_free(tn) == IA_OK, "free NFW table");
    }

    /* Four threads evaluating one table at once: the serial numbers. */
    {
        pthread_t th[THREADS];
        struct job jobs[THREADS];
        for (int k = 0; k < THREADS; k++) {
            jobs[k].table = t;
            jobs[k].status = IA_OK;
            pthread_create(&th[k], NULL, expect_job, &jobs[k]);
        }
        for (int k = 0; k < THREADS; k++) {
            pthread_join(th[k], NULL);
            CHECK(jobs[k].status == IA_OK && memcmp(jobs[k].mean, mean2, sizeof mean2) == 0, "thread %d: status %d", k,
                  jobs[k].status);
        }
    }

    /* The mean of 100 realisations of ia_simulate on the same halos: xi within 5 standard errors. */
    {
        enum { R = 100 };
        double sm[NS], sv[NS];
        CHECK(ia_simulate(h, P0, R, 2024, NULL, sm, sv, NS) == IA_OK, "simulate: %s", ia_last_error_message());
        int compared = 0;
        double worst = 0;
        for (int b = 0; b < NB; b++) {
            if (!(isfinite(sv[b]) && sv[b] > 0)) continue;
            double se = sqrt(sv[b] / R), z = (m0[b] - sm[b]) / se;
            compared++;
            if (fabs(z) > worst) worst = fabs(z);
            CHECK(fabs(z) <= 5, "xi bin %d: expected %.6g, simulated %.6g +- %.3g (%.1f standard errors)", b, m0[b], sm[b],
                  se, z);
        }
        CHECK(compared >= NB - 2, "only %d bins with a variance", compared);
        printf("test_expect: expected xi against %d realisations: worst of %d bins %.2f standard errors\n", R, compared,
               worst);
    }

    /* Handles: wrong kinds, freed, double free. */
    {
        IaTableInfo x;
        IaTable *t2 = NULL;
        CHECK(ia_table_info((const IaTable *)h, &x) == IA_ERR_INVALID_ARGUMENT && mentions("ia_table_info"),
              "halos as a table: %s", ia_last_error_message());
        CHECK(ia_table_free((IaTable *)h) == IA_ERR_INVALID_ARGUMENT, "free halos as a table");
        CHECK(ia_halos_info(h, &hi) == IA_OK, "the halos survive a wrong-kind free");
        CHECK(ia_table_build((const IaHalos *)t, &to, &t2) == IA_ERR_INVALID_ARGUMENT && t2 == NULL, "table as halos");
        CHECK(ia_halos_free((IaHalos *)t) == IA_ERR_INVALID_ARGUMENT, "free a table as halos");
        CHECK(ia_table_info(t, &x) == IA_OK, "the table survives a wrong-kind free");
        CHECK(ia_table_info((const IaTable *)0x1, &x) == IA_ERR_INVALID_ARGUMENT, "forged handle");
        CHECK(ia_table_free(NULL) == IA_OK, "free NULL");
        CHECK(ia_table_free(back) == IA_OK, "free loaded table");
        CHECK(ia_table_free(back) == IA_ERR_INVALID_ARGUMENT && mentions("ia_table_free"), "double free");
        double out[NS];
        memset(out, 0xA5, sizeof out);
        CHECK(ia_expect_batch(back, P0, 1, NULL, out, NS, NULL) == IA_ERR_INVALID_ARGUMENT && untouched(out, sizeof out),
              "use after free");
        CHECK(ia_table_save(back, "target/ctest/freed.npz") == IA_ERR_INVALID_ARGUMENT, "save after free");
    }

    CHECK(ia_table_free(t) == IA_OK, "free");
    ia_halos_free(h);
    free(jac);
    if (failures) {
        fprintf(stderr, "test_expect: %d failure(s)\n", failures);
        return 1;
    }
    printf("test_expect: all checks passed\n");
    return 0;
}
