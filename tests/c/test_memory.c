/* Bounded memory from C. In a child process whose data segment is limited to 3 GiB
 * (RLIMIT_DATA, as `ulimit -d`; the library's default memory budget follows it, half of it),
 * requests far beyond the limit either succeed or fail with IA_ERR_OUT_OF_MEMORY before they
 * allocate, and the child is never killed; ia_set_memory_budget; and a position that no
 * wrapping makes sense of is an invalid argument. In a build without the emulator the
 * emulator cases are skipped (test_emulator.c checks they say so). Run from the repository
 * root. */
#include "iaemu.h"
#include "check.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

static const double P0[7] = {0.8, 0.8, 12.02, 0.26, 11.38, 13.31, 1.06};

/* n copies of P0, row-major n x 7. */
static double *points(size_t n) {
    double *p = malloc(n * 7 * sizeof(double));
    if (!p) return NULL;
    for (size_t i = 0; i < n; i++) memcpy(p + 7 * i, P0, sizeof P0);
    return p;
}

static void emulator_cases(void) {
    IaEmulator *emu = NULL;
    int st = ia_emulator_load(NULL, "cpu", &emu);
    if (st == IA_ERR_UNSUPPORTED) {
        printf("test_memory: no emulator in this build: emulator cases skipped\n");
        return;
    }
    CHECK(st == IA_OK, "load: %s", ia_last_error_message());
    if (st != IA_OK) return;

    /* 10^6 points: the outputs and their copies exceed the budget; refused, output untouched. */
    size_t n = 1000000;
    double *p = points(n), *mean = malloc(n * 60 * sizeof(double));
    CHECK(p && mean, "allocating the test's own arrays");
    if (p && mean) {
        mean[0] = 12345.0;
        st = ia_predict_batch(emu, p, n, 1, 0, mean, NULL, NULL, NULL);
        CHECK(st == IA_ERR_OUT_OF_MEMORY, "predict 1e6 points: status %d (%s)", st, ia_last_error_message());
        CHECK(strstr(ia_last_error_message(), "would need about") != NULL, "message: %s", ia_last_error_message());
        CHECK(mean[0] == 12345.0, "output written on failure");
    }
    free(mean);
    /* The Jacobian of 10^5 points: 0.3 GB of derivatives held three times, and one
     * differentiated forward pass: refused. */
    size_t nj = 100000;
    double *jac = malloc(nj * 60 * 7 * sizeof(double));
    CHECK(jac != NULL, "allocating the test's own Jacobian array");
    if (p && jac) {
        st = ia_predict_jacobian(emu, p, nj, NULL, jac, NULL);
        CHECK(st == IA_ERR_OUT_OF_MEMORY, "jacobian 1e5 points: status %d (%s)", st, ia_last_error_message());
    }
    free(jac);
    /* 2000 points fit. */
    double *m2 = malloc(2000 * 60 * sizeof(double));
    st = ia_predict_batch(emu, p, 2000, 1, 0, m2, NULL, NULL, NULL);
    CHECK(st == IA_OK, "predict 2000 points: %s", ia_last_error_message());
    free(m2);
    free(p);

    /* A budget set from C applies to later calls; 0 restores the default. */
    CHECK(ia_set_memory_budget(1) == IA_ERR_INVALID_ARGUMENT, "budget of 1 byte accepted");
    CHECK(ia_set_memory_budget(64u << 20) == IA_OK, "budget of 64 MiB: %s", ia_last_error_message());
    double one[60];
    st = ia_predict_batch(emu, P0, 1, 20000, 0, one, NULL, NULL, NULL);
    CHECK(st == IA_ERR_OUT_OF_MEMORY && strstr(ia_last_error_message(), "64.0 MiB") != NULL,
          "20000 passes under 64 MiB: status %d (%s)", st, ia_last_error_message());
    CHECK(ia_set_memory_budget(0) == IA_OK, "budget reset");
    /* 2000 passes need about 136 MiB: refused under 64 MiB, run after the reset */
    st = ia_predict_batch(emu, P0, 1, 2000, 0, one, NULL, NULL, NULL);
    CHECK(st == IA_OK, "2000 passes after the reset: %s", ia_last_error_message());
    ia_emulator_free(emu);
}

static void simulation_and_positions(void) {
    IaSyntheticOptions so;
    CHECK(ia_synthetic_options_default(&so) == IA_OK, "synthetic defaults");
    so.box_size = 40;
    so.grid = 16;
    IaHalos *h = NULL;
    int st = ia_halos_synthetic(&so, &h);
    CHECK(st == IA_OK, "universe: %s", ia_last_error_message());
    if (st == IA_OK) {
        /* Many realisations are accumulated, not held. */
        double mean[60], var[60];
        st = ia_simulate(h, P0, 300, 1, NULL, mean, var, 60);
        CHECK(st == IA_OK, "300 realisations: %s", ia_last_error_message());
        /* UINT32_MAX realisations: their galaxy counts alone are 34 GB, refused up front */
        st = ia_simulate(h, P0, UINT32_MAX, 1, NULL, mean, var, 60);
        CHECK(st == IA_ERR_OUT_OF_MEMORY, "UINT32_MAX realisations: status %d (%s)", st, ia_last_error_message());
        ia_halos_free(h);
    }
    /* A 512^3 grid's fields (12 GiB) do not fit the budget: refused before any work. */
    IaHalos *big = NULL;
    so.grid = 512;
    st = ia_halos_synthetic(&so, &big);
    CHECK(st == IA_ERR_OUT_OF_MEMORY && big == NULL, "512^3 universe: status %d (%s)", st, ia_last_error_message());
    /* Positions: ordinary out-of-box values wrap; 1e308 in a 50 Mpc/h box is an error naming
     * the galaxy. */
    double pos[4 * 3] = {1, 2, 3, 40, 41, 42, -30, 60, 10, 5, 5, 5};
    IaCorrOptions o;
    CHECK(ia_corr_options_default(50, &o) == IA_OK, "options");
    IaCorrResult *r = NULL;
    st = ia_correlate(pos, NULL, NULL, 4, &o, &r);
    CHECK(st == IA_OK, "out-of-box positions wrap: %s", ia_last_error_message());
    if (st == IA_OK) ia_corr_result_free(r);
    pos[3 * 3 + 1] = 1e308;
    st = ia_correlate(pos, NULL, NULL, 4, &o, &r);
    CHECK(st == IA_ERR_INVALID_ARGUMENT && strstr(ia_last_error_message(), "galaxy 3") != NULL,
          "1e308: status %d (%s)", st, ia_last_error_message());
}

int main(void) {
    /* The child runs every case under the limit; the parent checks it was not killed. */
    pid_t pid = fork();
    if (pid < 0) {
        perror("fork");
        return 1;
    }
    if (pid == 0) {
        struct rlimit lim = {3ull << 30, 3ull << 30};
        if (setrlimit(RLIMIT_DATA, &lim) != 0) {
            perror("setrlimit");
            _exit(2);
        }
        emulator_cases();
        simulation_and_positions();
        printf("test_memory: %d failures (RLIMIT_DATA 3 GiB)\n", failures);
        fflush(stdout);
        _exit(failures ? 1 : 0);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    CHECK(WIFEXITED(status), "the child was killed by signal %d", WIFSIGNALED(status) ? WTERMSIG(status) : 0);
    CHECK(!WIFEXITED(status) || WEXITSTATUS(status) == 0, "the child failed (exit %d)", WEXITSTATUS(status));
    return failures ? 1 : 0;
}
