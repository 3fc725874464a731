/* The emulator from C: the built-in model (info, bin edges, Monte Carlo prediction, the
 * Jacobian against finite differences, the training domain, threads sharing one handle),
 * ia_train with a progress callback that stops it, model files, and the error paths. In a
 * build without the emulator every function must say so (IA_ERR_UNSUPPORTED). Needs
 * IAEMU_TEST_DATA, a small dataset folder from `iaemu generate` (scripts/test.sh makes one).
 * Run from the repository root. */
#include "iaemu.h"
#include "check.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { NB = 20, OUT = 3 * NB, THREADS = 4, N = 3 };
/* The -20 point of Zheng et al. (2007) Table 1 with mu_cen = mu_sat = 0.8, and two more. */
static const double PARAMS[N * 7] = {
    0.8, 0.8, 12.02, 0.26, 11.38, 13.31, 1.06,
    0.3, -0.2, 12.5, 0.4, 12.0, 13.6, 1.0,
    -0.5, 0.6, 11.8, 0.3, 11.5, 13.0, 0.95,
};

static int lite_build(void) {
    IaEmulator *e = NULL;
    int st = ia_emulator_load(NULL, "cpu", &e);
    if (st != IA_ERR_UNSUPPORTED) {
        if (st == IA_OK) ia_emulator_free(e);
        return 0;
    }
    double m[OUT];
    IaEmulatorInfo info;
    CHECK(strstr(ia_last_error_message(), "without the emulator") != NULL, "message: %s", ia_last_error_message());
    CHECK(ia_predict_batch(NULL, PARAMS, 1, 20, 0, m, NULL, NULL, NULL) == IA_ERR_UNSUPPORTED, "predict");
    CHECK(ia_predict_jacobian(NULL, PARAMS, 1, NULL, m, NULL) == IA_ERR_UNSUPPORTED, "jacobian");
    CHECK(ia_emulator_info(NULL, &info) == IA_ERR_UNSUPPORTED, "info");
    CHECK(ia_train(NULL, "x", "y", NULL, NULL) == IA_ERR_UNSUPPORTED, "train");
    CHECK(ia_emulator_free(NULL) == IA_OK, "free(NULL)");
    return 1;
}

struct job {
    const IaEmulator *emu;
    double mean[N * OUT], ale[N * OUT], epi[N * OUT];
    int status;
};

static void *predict_job(void *arg) {
    struct job *j = arg;
    j->status = ia_predict_batch(j->emu, PARAMS, N, 20, 7, j->mean, j->ale, j->epi, NULL);
    return NULL;
}

static int epochs_seen = 0;
static int stop_at_3(const IaTrainEpoch *e, void *user) {
    epochs_seen++;
    CHECK(user == &epochs_seen, "user_data passed through");
    CHECK(e->epoch == (size_t)epochs_seen && isfinite(e->train_loss) && isfinite(e->validation_loss),
          "epoch %zu: losses %g %g", e->epoch, e->train_loss, e->validation_loss);
    return e->epoch >= 3;
}

int main(void) {
    if (lite_build()) {
        printf("test_emulator (lite build): %d failures\n", failures);
        return failures != 0;
    }
    const char *name = NULL;
    CHECK(ia_param_name(2, &name) == IA_OK && strcmp(name, "logMmin") == 0, "param 2: %s", name);
    CHECK(ia_param_name(7, &name) == IA_ERR_INVALID_ARGUMENT, "param 7");

    /* The built-in model. */
    IaEmulator *emu = NULL;
    CHECK(ia_emulator_load(NULL, "cpu", &emu) == IA_OK, "built-in: %s", ia_last_error_message());
    IaEmulatorInfo info;
    CHECK(ia_emulator_info(emu, &info) == IA_OK, "info: %s", ia_last_error_message());
    CHECK(info.n_params == 7 && info.n_statistics == 3 && info.n_bins == NB, "sizes %zu %zu %zu",
          info.n_params, info.n_statistics, info.n_bins);
    for (int k = 0; k < 7; k++) CHECK(info.domain_min[k] < info.domain_max[k], "domain %d", k);
    for (int s = 0; s < 3; s++)
        CHECK(info.pcc_mean[s] > 0.1 && info.pcc_mean[s] <= 1.0 && info.coverage_1sigma[s] > 0.5 &&
                  info.coverage_1sigma[s] <= 1.0,
              "metrics of statistic %d: pcc %g coverage %g", s, info.pcc_mean[s], info.coverage_1sigma[s]);
    double edges[NB + 1];
    CHECK(ia_emulator_r_edges(emu, edges, NB + 1) == IA_OK, "edges");
    for (int k = 0; k <= NB; k++) /* docs/science.md section 5: 20 log bins from 0.1 to 16 Mpc/h */
        CHECK(fabs(edges[k] / (0.1 * pow(160.0, k / 20.0)) - 1) < 1e-12, "edge %d: %g", k, edges[k]);
    CHECK(ia_emulator_r_edges(emu, edges, NB) == IA_ERR_INVALID_ARGUMENT, "short edges");

    static double mean[N * OUT], ale[N * OUT], epi[N * OUT], again[N * OUT], plain[N * OUT], zero[N * OUT];
    uint32_t flags[N] = {9, 9, 9};
    CHECK(ia_predict_batch(emu, PARAMS, N, 20, 7, mean, ale, epi, flags) == IA_OK, "predict: %s",
          ia_last_error_message());
    for (int i = 0; i < N; i++) CHECK(flags[i] == 0, "flags[%d] = %u", i, flags[i]);
    for (int i = 0; i < N * OUT; i++)
        CHECK(isfinite(mean[i]) && ale[i] > 0 && epi[i] > 0, "value %d: %g %g %g", i, mean[i], ale[i], epi[i]);
    for (int b = 0; b < NB; b++) CHECK(mean[b] > 0, "xi bin %d = %g", b, mean[b]);
    CHECK(mean[0] > mean[NB - 1], "xi falls with r");
    CHECK(ia_predict_batch(emu, PARAMS, N, 20, 7, again, NULL, NULL, NULL) == IA_OK, "again");
    CHECK(memcmp(mean, again, sizeof mean) == 0, "same seed, same numbers");
    CHECK(ia_predict_batch(emu, PARAMS, N, 1, 7, plain, ale, zero, NULL) == IA_OK, "one pass");
    for (int i = 0; i < N * OUT; i++) CHECK(zero[i] == 0.0, "one pass: epistemic %g", zero[i]);

    /* Threads sharing the handle get the numbers of one caller. */
    pthread_t t[THREADS];
    static struct job jobs[THREADS];
    for (int k = 0; k < THREADS; k++) {
        jobs[k].emu = emu;
        pthread_create(&t[k], NULL, predict_job, &jobs[k]);
    }
    for (int k = 0; k < THREADS; k++) {
        pthread_join(t[k], NULL);
        CHECK(jobs[k].status == IA_OK && memcmp(jobs[k].mean, mean, sizeof mean) == 0, "thread %d", k);
    }

    /* Jacobian: its means are the one-pass means; d xi / d logMmin against a central
     * difference over 0.002 dex, summed over bins (robust to LeakyReLU kinks). */
    static double jac[N * OUT * 7], jmean[N * OUT], up[N * OUT], down[N * OUT];
    CHECK(ia_predict_jacobian(emu, PARAMS, N, jmean, jac, NULL) == IA_OK, "jacobian: %s", ia_last_error_message());
    /* Float32 sums in another batch shape: equal to rounding, which is relative to the
     * curve's largest value (omega and eta cross zero), under 1e-4 of it for this network
     * (see F32_ROUNDING in tests/emulator.rs). */
    for (int c = 0; c < N * 3; c++) {
        double scale = 0;
        for (int b = 0; b < NB; b++) scale = fmax(scale, fabs(plain[c * NB + b]));
        for (int b = 0; b < NB; b++) {
            int i = c * NB + b;
            CHECK(fabs(jmean[i] - plain[i]) <= 1e-4 * scale, "jacobian mean %d: %g vs %g", i, jmean[i], plain[i]);
        }
    }
    double p_up[N * 7], p_down[N * 7];
    memcpy(p_up, PARAMS, sizeof p_up);
    memcpy(p_down, PARAMS, sizeof p_down);
    for (int i = 0; i < N; i++) { p_up[7 * i + 2] += 0.001; p_down[7 * i + 2] -= 0.001; }
    ia_predict_batch(emu, p_up, N, 1, 0, up, NULL, NULL, NULL);
    ia_predict_batch(emu, p_down, N, 1, 0, down, NULL, NULL, NULL);
    for (int i = 0; i < N; i++) {
        double fd = 0, ad = 0;
        for (int b = 0; b < NB; b++) {
            fd += (up[i * OUT + b] - down[i * OUT + b]) / 0.002 / plain[i * OUT + b];
            ad += jac[((i * 3 + 0) * NB + b) * 7 + 2] / plain[i * OUT + b];
        }
        CHECK(fabs(ad - fd) <= 0.05 * fabs(fd) + 1e-3, "row %d: d ln xi / d logMmin summed: autograd %g, difference %g", i, ad, fd);
    }

    /* Outside the training domain: flagged, refused unless extrapolation is allowed. */
    double far[7] = {0.8, 0.8, 20.0, 0.26, 11.38, 13.31, 1.06};
    uint32_t f1 = 0;
    CHECK(ia_predict_batch(emu, far, 1, 20, 0, again, NULL, NULL, &f1) == IA_ERR_OUT_OF_DOMAIN, "far point");
    CHECK(f1 == (1u << 2), "flags %u", f1);
    CHECK(strstr(ia_last_error_message(), "logMmin") != NULL, "message: %s", ia_last_error_message());
    CHECK(ia_emulator_set_extrapolation(emu, 1) == IA_OK, "allow");
    CHECK(ia_predict_batch(emu, far, 1, 20, 0, again, NULL, NULL, &f1) == IA_OK && f1 == (1u << 2), "allowed");
    ia_emulator_set_extrapolation(emu, 0);

    /* Bad arguments. */
    double nan_p[7] = {0.8, NAN, 12.02, 0.26, 11.38, 13.31, 1.06};
    CHECK(ia_predict_batch(emu, nan_p, 1, 20, 0, again, NULL, NULL, NULL) == IA_ERR_INVALID_ARGUMENT, "NaN");
    CHECK(strstr(ia_last_error_message(), "mu_sat") != NULL, "NaN message: %s", ia_last_error_message());
    CHECK(ia_predict_batch(emu, PARAMS, 0, 20, 0, again, NULL, NULL, NULL) == IA_ERR_INVALID_ARGUMENT, "n = 0");
    CHECK(ia_predict_batch(emu, PARAMS, 1, 0, 0, again, NULL, NULL, NULL) == IA_ERR_INVALID_ARGUMENT, "0 passes");
    /* Flags are written only on success and with IA_ERR_OUT_OF_DOMAIN; 0 passes is an invalid
     * argument even for a row outside the domain. */
    uint32_t untouched = 0xA5A5A5A5u;
    CHECK(ia_predict_batch(emu, PARAMS, 1, 0, 0, again, NULL, NULL, &untouched) == IA_ERR_INVALID_ARGUMENT
              && untouched == 0xA5A5A5A5u, "0 passes wrote flags %x", untouched);
    CHECK(ia_predict_batch(emu, PARAMS, 1, 20, 0, NULL, NULL, NULL, &untouched) == IA_ERR_INVALID_ARGUMENT
              && untouched == 0xA5A5A5A5u, "NULL out_mean wrote flags %x", untouched);
    CHECK(ia_predict_jacobian(emu, PARAMS, 1, NULL, NULL, &untouched) == IA_ERR_INVALID_ARGUMENT
              && untouched == 0xA5A5A5A5u, "NULL out_jacobian wrote flags %x", untouched);
    CHECK(ia_predict_batch(emu, far, 1, 0, 0, again, NULL, NULL, &untouched) == IA_ERR_INVALID_ARGUMENT
              && untouched == 0xA5A5A5A5u, "0 passes outside the domain");
    CHECK(ia_predict_batch(emu, NULL, 1, 20, 0, again, NULL, NULL, NULL) == IA_ERR_INVALID_ARGUMENT, "NULL params");
    CHECK(ia_predict_batch(emu, PARAMS, 1, 20, 0, NULL, NULL, NULL, NULL) == IA_ERR_INVALID_ARGUMENT, "NULL out");
    CHECK(ia_predict_batch(emu, PARAMS, (size_t)-1, 20, 0, again, NULL, NULL, NULL) == IA_ERR_INVALID_ARGUMENT, "huge n");
    CHECK(ia_predict_jacobian(emu, PARAMS, 1, NULL, NULL, NULL) == IA_ERR_INVALID_ARGUMENT, "NULL jacobian");
    CHECK(ia_emulator_info(emu, NULL) == IA_ERR_INVALID_ARGUMENT, "NULL info");
    CHECK(ia_emulator_load(NULL, "tpu", &emu) == IA_ERR_INVALID_ARGUMENT, "device tpu");
    IaEmulator *other = NULL;
    CHECK(ia_emulator_load(NULL, "cuda:7", &other) == IA_ERR_UNSUPPORTED, "cuda:7");
    CHECK(ia_emulator_load("no/such/model.safetensors", "cpu", &other) == IA_ERR_IO, "missing file");
    FILE *g = fopen("target/ctest/garbage.safetensors", "wb");
    fputs("this is not a model", g);
    fclose(g);
    CHECK(ia_emulator_load("target/ctest/garbage.safetensors", "cpu", &other) == IA_ERR_IO, "garbage file");
    CHECK(ia_emulator_load(NULL, NULL, NULL) == IA_ERR_INVALID_ARGUMENT, "NULL out");

    /* Training with a callback that stops after 3 epochs; the model is written and loads. */
    const char *data = getenv("IAEMU_TEST_DATA");
    CHECK(data != NULL, "IAEMU_TEST_DATA is not set");
    if (data) {
        const char *cfg = "{\"model\": {\"encoder\": [32, 32]}, \"train\": {\"max_epochs\": 50, \"batch_size\": 16, \"device\": \"cpu\"}}";
        remove("target/ctest/model.safetensors");
        remove("target/ctest/model.safetensors.checkpoint");
        int st = ia_train(cfg, data, "target/ctest/model.safetensors", stop_at_3, &epochs_seen);
        CHECK(st == IA_OK, "train: %s", ia_last_error_message());
        CHECK(epochs_seen == 3, "callback saw %d epochs", epochs_seen);
        CHECK(ia_emulator_load("target/ctest/model.safetensors", "auto", &other) == IA_OK, "load trained: %s",
              ia_last_error_message());
        CHECK(ia_emulator_info(other, &info) == IA_OK && info.epochs == 3, "trained epochs %zu", info.epochs);
        CHECK(ia_emulator_free(other) == IA_OK, "free trained");
        CHECK(ia_train("{\"train\": {\"max_epoch\": 3}}", data, "target/ctest/m2.safetensors", NULL, NULL) ==
                  IA_ERR_INVALID_ARGUMENT, "misspelt key");
        CHECK(strstr(ia_last_error_message(), "max_epoch") != NULL, "message: %s", ia_last_error_message());
        CHECK(ia_train(NULL, "no/such/dataset", "target/ctest/m2.safetensors", NULL, NULL) == IA_ERR_IO, "no dataset");
        CHECK(ia_train(NULL, data, NULL, NULL, NULL) == IA_ERR_INVALID_ARGUMENT, "NULL out_path");
    }

    /* Handles: free, use after free, double free, free(NULL). */
    CHECK(ia_emulator_free(emu) == IA_OK, "free");
    CHECK(ia_predict_batch(emu, PARAMS, 1, 20, 0, again, NULL, NULL, NULL) == IA_ERR_INVALID_ARGUMENT, "use after free");
    CHECK(ia_emulator_free(emu) == IA_ERR_INVALID_ARGUMENT, "double free");
    CHECK(ia_emulator_free(NULL) == IA_OK, "free(NULL)");
    printf("test_emulator: %d failures\n", failures);
    return failures != 0;
}
