/* Halo catalogues from C: the synthetic universe, save and load round trips, the real files
 * in ../shared (skipped with a message when absent), one handle shared by several threads,
 * and the error paths of the C ABI conventions. Run from the repository root. */
#include "iaemu.h"
#include "check.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static double *column(const IaHalos *h, const char *name, size_t n) {
    double *v = malloc(n * sizeof *v);
    int rc = ia_halos_column_f64(h, name, v, n);
    CHECK(rc == IA_OK, "column %s: %s", name, ia_last_error_message());
    return v;
}

static int64_t *ids(const IaHalos *h, const char *name, size_t n) {
    int64_t *v = malloc(n * sizeof *v);
    int rc = ia_halos_column_i64(h, name, v, n);
    CHECK(rc == IA_OK, "column %s: %s", name, ia_last_error_message());
    return v;
}

static int same_columns(const IaHalos *a, const IaHalos *b, size_t n) {
    const char *names[] = {"halo_mvir", "halo_mpeak", "halo_rvir", "halo_nfw_conc", "halo_x",
                           "halo_y", "halo_z", "halo_vx", "halo_axisA_z", "halo_b_to_a", "halo_c_to_a"};
    int same = 1;
    for (size_t k = 0; k < sizeof names / sizeof *names; k++) {
        double *x = column(a, names[k], n), *y = column(b, names[k], n);
        if (memcmp(x, y, n * sizeof *x) != 0) same = 0;
        free(x);
        free(y);
    }
    int64_t *u = ids(a, "halo_upid", n), *v = ids(b, "halo_upid", n);
    if (memcmp(u, v, n * sizeof *u) != 0) same = 0;
    free(u);
    free(v);
    return same;
}

struct shared_read {
    const IaHalos *halos;
    size_t n;
    double sum;
    int status;
};

static void *reader(void *arg) {
    struct shared_read *s = arg;
    double *m = malloc(s->n * sizeof *m);
    s->status = IA_OK;
    s->sum = 0;
    for (int rep = 0; rep < 20 && s->status == IA_OK; rep++) {
        IaHalosInfo info;
        s->status = ia_halos_info(s->halos, &info);
        if (s->status == IA_OK) s->status = ia_halos_column_f64(s->halos, "halo_mvir", m, s->n);
    }
    for (size_t i = 0; i < s->n; i++) s->sum += m[i];
    free(m);
    return NULL;
}

int main(void) {
    IaSyntheticOptions opt;
    CHECK(ia_synthetic_options_default(&opt) == IA_OK, "defaults");
    CHECK(opt.box_size == 250.0 && opt.grid == 128 && fabs(opt.min_host_mass - 300 * 1.55e8) < 1,
          "default box %g grid %u min mass %g", opt.box_size, opt.grid, opt.min_host_mass);
    opt.box_size = 60.0;
    opt.grid = 32;
    opt.seed = 3;
    opt.n_threads = 1;
    IaHalos *h = NULL;
    CHECK(ia_halos_synthetic(&opt, &h) == IA_OK, "synthetic: %s", ia_last_error_message());
    CHECK(strcmp(ia_last_error_message(), "") == 0, "message cleared on success");
    IaHalosInfo info;
    CHECK(ia_halos_info(h, &info) == IA_OK, "info: %s", ia_last_error_message());
    size_t n = info.n_halos;
    CHECK(n > 1000 && info.n_hosts + info.n_subhalos == n && info.n_subhalos > 0,
          "counts %zu = %zu + %zu", n, info.n_hosts, info.n_subhalos);
    CHECK(info.box_size[0] == 60.0 && info.box_size[2] == 60.0, "box");
    CHECK(info.particle_mass == 1.55e8 && info.redshift == 0.0, "particle mass, redshift");
    CHECK(info.mvir_max > info.mvir_min && info.n_central_hosts == info.n_hosts, "mass range, central hosts");

    /* Columns agree with the info and with each other. */
    int64_t *upid = ids(h, "halo_upid", n);
    double *x = column(h, "halo_x", n), *mvir = column(h, "halo_mvir", n);
    double *rvir = column(h, "halo_rvir", n), *conc = column(h, "halo_nfw_conc", n), *rs = column(h, "halo_rs", n);
    size_t hosts = 0;
    for (size_t i = 0; i < n; i++) {
        if (upid[i] == -1) {
            hosts++;
            CHECK(mvir[i] >= opt.min_host_mass, "host %zu mass %g", i, mvir[i]);
        }
        CHECK(x[i] >= 0 && x[i] < 60.0, "x[%zu] = %g", i, x[i]);
        CHECK(fabs(rs[i] - rvir[i] / conc[i]) <= 1e-12 * rs[i], "rs[%zu]", i);
    }
    CHECK(hosts == info.n_hosts, "hosts %zu vs %zu", hosts, info.n_hosts);
    free(upid), free(x), free(mvir), free(rvir), free(conc), free(rs);

    /* Same options on two threads: the same catalogue. */
    opt.n_threads = 2;
    IaHalos *h2 = NULL;
    CHECK(ia_halos_synthetic(&opt, &h2) == IA_OK, "synthetic 2 threads");
    CHECK(same_columns(h, h2, n), "1 and 2 threads differ");
    CHECK(ia_halos_free(h2) == IA_OK, "free");

    /* Save and load: HDF5 and npz. */
    char path[64];
    for (int fmt = 0; fmt < 2; fmt++) {
        snprintf(path, sizeof path, "target/ctest/halos-%d.%s", (int)getpid(), fmt ? "npz" : "hdf5");
        CHECK(ia_halos_save(h, path) == IA_OK, "save %s: %s", path, ia_last_error_message());
        IaHalos *back = NULL;
        CHECK(ia_halos_load(path, &back) == IA_OK, "load %s: %s", path, ia_last_error_message());
        IaHalosInfo bi;
        CHECK(ia_halos_info(back, &bi) == IA_OK && bi.n_halos == n && bi.n_hosts == info.n_hosts,
              "round trip counts (%s)", path);
        CHECK(same_columns(h, back, n), "round trip columns (%s)", path);
        ia_halos_free(back);
        remove(path);
    }

    /* One handle read by four threads at once. */
    pthread_t t[4];
    struct shared_read s[4];
    for (int k = 0; k < 4; k++) {
        s[k] = (struct shared_read){h, n, 0, 0};
        pthread_create(&t[k], NULL, reader, &s[k]);
    }
    for (int k = 0; k < 4; k++) {
        pthread_join(t[k], NULL);
        CHECK(s[k].status == IA_OK && s[k].sum == s[0].sum, "thread %d", k);
    }

    /* The real files beside the checkout. */
    const char *rockstar = "../shared/data/halos/rockstar-25mpc/out_163.list";
    const char *hlist = "../shared/data/halos/halotools-hlist-dummy/dummy_halocat_0.07812.list";
    if (access(rockstar, R_OK) == 0) {
        IaHalos *r = NULL;
        CHECK(ia_halos_load(rockstar, &r) == IA_OK, "rockstar: %s", ia_last_error_message());
        IaHalosInfo ri;
        CHECK(ia_halos_info(r, &ri) == IA_OK && ri.rows_read == 4764 && ri.n_hosts == 4138 &&
                  ri.box_size[0] == 25.0 && ri.particle_mass == 6.36846e8,
              "rockstar info: %zu rows, %zu hosts", ri.rows_read, ri.n_hosts);
        /* The shape: the file's b_to_a, c_to_a (not the 500c ones); 0 (not measured) is NaN. */
        int64_t *rid = ids(r, "halo_id", ri.n_halos);
        double *ba = column(r, "halo_b_to_a", ri.n_halos), *ca = column(r, "halo_c_to_a", ri.n_halos);
        size_t unknown_b = 0, unknown_c = 0, halo0 = ri.n_halos;
        for (size_t i = 0; i < ri.n_halos; i++) {
            unknown_b += isnan(ba[i]);
            unknown_c += isnan(ca[i]);
            if (rid[i] == 0) halo0 = i;
            CHECK(isnan(ca[i]) || (ca[i] > 0 && ca[i] <= ba[i] && ba[i] <= 1), "shape of row %zu", i);
        }
        CHECK(halo0 < ri.n_halos && ba[halo0] == 0.73602 && ca[halo0] == 0.67099, "shape of halo 0");
        CHECK(unknown_b == 57 && unknown_c == 144, "unknown shapes %zu, %zu", unknown_b, unknown_c);
        free(rid), free(ba), free(ca);
        ia_halos_free(r);
        CHECK(ia_halos_load(hlist, &r) == IA_ERR_INVALID_ARGUMENT &&
                  strstr(ia_last_error_message(), "particle mass") != NULL,
              "hlist without particle mass: %s", ia_last_error_message());
        IaHalosLoadOptions lo = {NAN, 1.55e8, NAN, 0};
        CHECK(ia_halos_load_with_options(hlist, &lo, &r) == IA_OK, "hlist: %s", ia_last_error_message());
        CHECK(ia_halos_info(r, &ri) == IA_OK && ri.rows_read == 436 && ri.box_size[0] == 250.0, "hlist info");
        ia_halos_free(r);
    } else {
        printf("SKIPPED: %s is absent (the shared data folder is only beside CI checkouts)\n", rockstar);
    }

    /* Error paths: a clear status and message, nothing written. */
    IaHalos *none = (IaHalos *)0x1;
    CHECK(ia_halos_load(NULL, &none) == IA_ERR_INVALID_ARGUMENT && none == (IaHalos *)0x1, "NULL path");
    CHECK(strstr(ia_last_error_message(), "path is NULL") != NULL, "message: %s", ia_last_error_message());
    CHECK(ia_halos_load("target/ctest/does-not-exist.hdf5", &none) == IA_ERR_IO, "missing file");
    snprintf(path, sizeof path, "target/ctest/garbage-%d.hdf5", (int)getpid());
    FILE *f = fopen(path, "wb");
    fputs("\x89HDF\r\n\x1a\ngarbage", f);
    fclose(f);
    CHECK(ia_halos_load(path, &none) == IA_ERR_IO, "garbage file: %s", ia_last_error_message());
    remove(path);
    CHECK(ia_halos_load("x.hdf5", NULL) == IA_ERR_INVALID_ARGUMENT, "NULL out");
    IaSyntheticOptions bad = opt;
    bad.grid = 33;
    CHECK(ia_halos_synthetic(&bad, &none) == IA_ERR_INVALID_ARGUMENT &&
              strstr(ia_last_error_message(), "grid") != NULL,
          "odd grid: %s", ia_last_error_message());
    bad = opt;
    bad.box_size = NAN;
    CHECK(ia_halos_synthetic(&bad, &none) == IA_ERR_INVALID_ARGUMENT, "NaN box");
    bad = opt;
    bad.sigma8 = -1;
    CHECK(ia_halos_synthetic(&bad, &none) == IA_ERR_INVALID_ARGUMENT, "bad cosmology");
    double one;
    int64_t one_id;
    CHECK(ia_halos_column_f64(h, "halo_nope", &one, 1) == IA_ERR_INVALID_ARGUMENT &&
              strstr(ia_last_error_message(), "halo_mvir") != NULL,
          "unknown column: %s", ia_last_error_message());
    CHECK(ia_halos_column_f64(h, "halo_mvir", &one, 1) == IA_ERR_INVALID_ARGUMENT, "wrong length");
    CHECK(ia_halos_column_f64(h, "halo_id", &one, 1) == IA_ERR_INVALID_ARGUMENT, "id as f64");
    CHECK(ia_halos_column_i64(h, "halo_x", &one_id, 1) == IA_ERR_INVALID_ARGUMENT, "x as i64");
    CHECK(ia_halos_column_f64(h, "halo_mvir", NULL, n) == IA_ERR_INVALID_ARGUMENT, "NULL out_values");
    CHECK(ia_halos_save(h, "target/ctest/x.csv") == IA_ERR_INVALID_ARGUMENT, "unknown extension");
    CHECK(ia_halos_save(h, "/nonexistent-dir/x.hdf5") == IA_ERR_IO, "unwritable: %s", ia_last_error_message());
    CHECK(ia_halos_info(h, NULL) == IA_ERR_INVALID_ARGUMENT, "NULL info");

    /* A correlation result is not a catalogue; a freed handle is reported. */
    double pos[6] = {1, 1, 1, 2, 2, 2};
    IaCorrOptions co;
    ia_corr_options_default(60.0, &co);
    IaCorrResult *cr = NULL;
    CHECK(ia_correlate(pos, NULL, NULL, 2, &co, &cr) == IA_OK, "correlate");
    CHECK(ia_halos_info((const IaHalos *)cr, &info) == IA_ERR_INVALID_ARGUMENT, "wrong kind: %s",
          ia_last_error_message());
    ia_corr_result_free(cr);
    CHECK(ia_halos_free(NULL) == IA_OK, "free NULL");
    CHECK(ia_halos_free(h) == IA_OK, "free");
    CHECK(ia_halos_info(h, &info) == IA_ERR_INVALID_ARGUMENT, "use after free");
    CHECK(ia_halos_free(h) == IA_ERR_INVALID_ARGUMENT, "double free");

    if (failures) {
        fprintf(stderr, "test_halos: %d failure(s)\n", failures);
        return 1;
    }
    printf("test_halos: all checks passed\n");
    return 0;
}
