/* Hostile-argument and property test of the iaemu C ABI (include/iaemu.h).
 *
 *   hostile [N_RANDOM_CASES]          (env IAEMU_ABI_CASES overrides N; default 300)
 *   env IAEMU_ABI_SEED      master seed of the random cases (default 20240601)
 *   env IAEMU_ABI_EMU_CASES at most this many random emulator cases (default: no limit)
 *   env IAEMU_ABI_NO_EMU=1  never load the emulator (its hostile handle cases still run)
 *   env IAEMU_ABI_TMP       scratch folder (default target/abi/tmp)
 *   env IAEMU_ABI_ALLOW_INTERNAL=1  do not count IA_ERR_INTERNAL as a violation
 *   env IAEMU_ABI_SKIP_HUGE_THREADS=1  skip the child process that tries thread counts of UINT32_MAX
 *                           (they must be refused; it is given 5 s: a hang or crash is a violation)
 *   env IAEMU_ABI_TABLE_BUILDS  at most this many table builds in the random expect cases
 *                           (default: no limit; each costs ~0.5 s, ~35 s under valgrind)
 *
 * Every call goes through post(), which checks the ABI conventions (README "C ABI conventions"):
 *   - the status is IA_OK or a documented IA_ERR_* code, and within the set the case allows;
 *   - on failure ia_last_error_message() is non-empty and names the function; after a success "";
 *   - on failure every output registered with guard() still holds the sentinel bytes (0xA5),
 *     except the domain flags of ia_predict_batch / ia_predict_jacobian with IA_ERR_OUT_OF_DOMAIN.
 * Successful calls are followed by property checks (finite numbers, ranges, consistency).
 * Any violation prints "VIOLATION case K seed S: <call with its arguments>" and the program
 * exits 1 at the end. A crash prints the case being run (signal handler / sanitizer callback).
 */
#define _GNU_SOURCE
#include "iaemu.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* ------------------------------------------------------------------ bookkeeping */

enum { F_LIB, F_CORR, F_HALOS, F_GAL, F_SIM, F_EMU, F_TRAIN, F_EXPECT, F_THREADS, NFAM };
static const char *fam_name[NFAM] = {"library", "correlation", "halos", "galaxies",
                                     "simulate", "emulator", "train", "expect", "threads"};
static long n_calls[NFAM], n_ok[NFAM], n_err[NFAM], n_random[NFAM];
static long g_case = 0;           /* index of the current call */
static long g_rcase = -1;         /* index of the current random case (-1: fixed cases) */
static unsigned long long g_seed; /* master seed */
static unsigned long long g_cseed;/* seed of the current random case */
static char g_desc[4096];
static long g_viol = 0;
static int g_lite = 0;
static int g_allow_internal = 0;
static const char *g_tmp = "target/abi/tmp";

#define A_OK (1u << 0)
#define A_INV (1u << 1)
#define A_IO (1u << 2)
#define A_OOD (1u << 3)
#define A_UNS (1u << 4)
#define A_INT (1u << 5)
#define A_OOM (1u << 6)
#define A_ERR (A_INV | A_IO | A_OOD | A_UNS | A_INT | A_OOM)
#define A_ANY (A_OK | A_ERR)
static unsigned bit_of(int st) { return (st <= 0 && st >= -6) ? 1u << (unsigned)(-st) : 0; }

static void desc(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(g_desc, sizeof g_desc, fmt, ap);
    va_end(ap);
}

static void crash_report(void) {
    fprintf(stderr, "\nCRASH during case %ld (random case %ld, master seed %llu, case seed %llu): %s\n",
            g_case, g_rcase, g_seed, g_cseed, g_desc);
}
static void on_signal(int sig) {
    char buf[4400];
    int n = snprintf(buf, sizeof buf, "\nCRASH (signal %d) during case %ld (random case %ld, seed %llu): %s\n",
                     sig, g_case, g_rcase, g_seed, g_desc);
    if (n > 0) { ssize_t w = write(2, buf, (size_t)n); (void)w; }
    signal(sig, SIG_DFL);
    raise(sig);
}
extern void __sanitizer_set_death_callback(void (*)(void)) __attribute__((weak));

static void violation(const char *what, ...) {
    g_viol++;
    if (g_viol > 200) return;
    va_list ap;
    va_start(ap, what);
    fprintf(stderr, "VIOLATION case %ld (random case %ld, master seed %llu, case seed %llu): %s\n  ", g_case,
            g_rcase, g_seed, g_cseed, g_desc);
    vfprintf(stderr, what, ap);
    fprintf(stderr, "\n");
    va_end(ap);
}

/* Output guards: filled with 0xA5 before the call, checked after a failure. */
#define MAXG 8
static struct { const void *p; size_t n; int flags; } G[MAXG];
static int NG;
static void *guard(void *p, size_t n) {
    if (p && n) memset(p, 0xA5, n);
    G[NG].p = p; G[NG].n = n; G[NG].flags = 0;
    NG++;
    return p;
}
static void *guard_flags(void *p, size_t n) { guard(p, n); G[NG - 1].flags = 1; return p; }
static int untouched(const void *p, size_t n) {
    const unsigned char *c = p;
    for (size_t i = 0; i < n; i++) if (c[i] != 0xA5) return 0;
    return 1;
}

/* Checks one call's status, message and outputs; returns the status. */
static int post(int fam, const char *fn, int st, unsigned allow) {
    const char *msg = ia_last_error_message(); /* first thing: nothing may run in between */
    g_case++;
    n_calls[fam]++;
    if (st == IA_OK) n_ok[fam]++; else n_err[fam]++;
    if (g_lite && fam == F_EMU) allow |= A_UNS;
    if (g_lite && fam == F_TRAIN) allow |= A_UNS;
    if (g_allow_internal) allow |= A_INT;
    if (!msg) {
        violation("%s returned %d and ia_last_error_message() is NULL", fn, st);
    } else if (st == IA_OK && msg[0] != '\0') {
        violation("%s returned IA_OK but ia_last_error_message() is \"%s\"", fn, msg);
    } else if (st != IA_OK && msg[0] == '\0') {
        violation("%s returned %d but ia_last_error_message() is empty", fn, st);
    } else if (st != IA_OK && !strstr(msg, fn)) {
        violation("%s returned %d and the message does not name the function: \"%s\"", fn, st, msg);
    }
    if (!bit_of(st)) violation("%s returned %d: not a documented status", fn, st);
    else if (!(bit_of(st) & allow))
        violation("%s returned %d (\"%s\"), expected one of mask 0x%x (bit k = status -k)", fn, st,
                  msg ? msg : "(null)", allow);
    if (st != IA_OK) {
        for (int i = 0; i < NG; i++) {
            if (!G[i].p || !G[i].n) continue;
            if (G[i].flags && st == IA_ERR_OUT_OF_DOMAIN) continue;
            if (!untouched(G[i].p, G[i].n))
                violation("%s failed with %d but wrote output #%d (%zu bytes)", fn, st, i, G[i].n);
        }
    }
    NG = 0;
    return st;
}

/* ------------------------------------------------------------------ random numbers */
static unsigned long long rs;
static unsigned long long splitmix(unsigned long long *x) {
    unsigned long long z = (*x += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}
static unsigned long long rnd(void) { return splitmix(&rs); }
static double unif(void) { return (double)(rnd() >> 11) * 0x1.0p-53; }
static double uab(double a, double b) { return a + (b - a) * unif(); }
static int rint_(int n) { return (int)(rnd() % (unsigned long long)n); }
static int chance(double p) { return unif() < p; }
static double weird(void) {
    static const double w[] = {NAN, INFINITY, -INFINITY, -1.0, 0.0, 1e308, -1e308, 5e-324, -0.0};
    return w[rint_((int)(sizeof w / sizeof w[0]))];
}
static int all_finite(const double *x, size_t n) {
    for (size_t i = 0; i < n; i++) if (!isfinite(x[i])) return 0;
    return 1;
}
static char *fmtv(char *buf, size_t bn, const double *x, size_t n) {
    size_t o = 0;
    buf[0] = 0;
    for (size_t i = 0; i < n && o + 32 < bn; i++) o += (size_t)snprintf(buf + o, bn - o, "%s%.17g", i ? "," : "", x[i]);
    if (n && o + 32 >= bn) snprintf(buf + o, bn - o, ",...");
    return buf;
}

#define SENT_PTR ((void *)(uintptr_t)0xA5A5A5A5A5A5A5A5ull)

/* ------------------------------------------------------------------ shared fixtures */
static IaHalos *U;           /* synthetic universe, box 40 grid 16 seed 1 */
static IaHalosInfo UI;
static int64_t *U_ids;       /* halo_id column */
static IaEmulator *EMU;      /* built-in model (NULL in the lite build) */
static IaEmulatorInfo EI;
static double P0[7] = {0.8, 0.8, 12.02, 0.26, 11.38, 13.31, 1.06};
static double P1[7] = {0.3, -0.2, 12.5, 0.4, 12.0, 13.6, 1.0};

static char *tmpf(const char *name) {
    static char b[8][1024];
    static int k;
    k = (k + 1) % 8;
    snprintf(b[k], sizeof b[k], "%s/%s", g_tmp, name);
    return b[k];
}
static void write_file(const char *path, const void *data, size_t n) {
    FILE *f = fopen(path, "wb");
    if (!f) { perror(path); exit(2); }
    if (n) fwrite(data, 1, n, f);
    fclose(f);
}

/* ------------------------------------------------------------------ library family */
static void t_library(void) {
    const char *v = ia_version();
    desc("ia_version()");
    g_case++; n_calls[F_LIB]++; n_ok[F_LIB]++;
    if (!v || strcmp(v, IAEMU_VERSION) != 0) violation("ia_version() = %s, header says %s", v ? v : "NULL", IAEMU_VERSION);
    desc("ia_last_error_message() at start");
    const char *m = ia_last_error_message();
    g_case++; n_calls[F_LIB]++; n_ok[F_LIB]++;
    if (!m) violation("ia_last_error_message() NULL");
    uint32_t tv[] = {1, 2, 0};
    for (size_t i = 0; i < 3; i++) {
        desc("ia_set_num_threads(%u)", tv[i]);
        post(F_LIB, "ia_set_num_threads", ia_set_num_threads(tv[i]), A_OK);
    }
    /* a huge thread count: accepted or refused, but reset right away before any other call */
    desc("ia_set_num_threads(UINT32_MAX)");
    int st = post(F_LIB, "ia_set_num_threads", ia_set_num_threads(UINT32_MAX), A_OK | A_INV);
    if (st == IA_OK) fprintf(stderr, "note: ia_set_num_threads(UINT32_MAX) accepted (reset to 0 right away)\n");
    desc("ia_set_num_threads(0) after UINT32_MAX");
    post(F_LIB, "ia_set_num_threads", ia_set_num_threads(0), A_OK);
    /* ia_set_memory_budget: under 64 MiB refused; any larger value accepted; 0 restores */
    uint64_t bv[] = {1, (64ull << 20) - 1, 64ull << 20, UINT64_MAX, 0};
    unsigned ba[] = {A_INV, A_INV, A_OK, A_OK, A_OK};
    for (size_t i = 0; i < 5; i++) {
        desc("ia_set_memory_budget(%llu)", (unsigned long long)bv[i]);
        post(F_LIB, "ia_set_memory_budget", ia_set_memory_budget(bv[i]), ba[i]);
    }
    /* ia_param_name */
    for (size_t i = 0; i < IA_N_PARAMS; i++) {
        const char *name = SENT_PTR;
        desc("ia_param_name(%zu, &name)", i);
        guard(&name, sizeof name);
        if (post(F_LIB, "ia_param_name", ia_param_name(i, &name), A_OK) == IA_OK && (!name || !name[0]))
            violation("ia_param_name(%zu) gave an empty name", i);
    }
    size_t bad[] = {IA_N_PARAMS, IA_N_PARAMS + 1, SIZE_MAX, SIZE_MAX / 8};
    for (size_t i = 0; i < 4; i++) {
        const char *name;
        desc("ia_param_name(%zu, &name)", bad[i]);
        guard(&name, sizeof name);
        post(F_LIB, "ia_param_name", ia_param_name(bad[i], &name), A_INV);
    }
    desc("ia_param_name(0, NULL)");
    post(F_LIB, "ia_param_name", ia_param_name(0, NULL), A_INV);
}

/* ------------------------------------------------------------------ correlation family */
static void check_result(IaCorrResult *r, size_t n, int weighted, int jk, int cov, size_t nb_expect);

static void t_corr_fixed(void) {
    IaCorrOptions o;
    double bx[] = {NAN, INFINITY, -INFINITY, -1.0, 0.0, -0.0, 5e-324, 1e308};
    for (size_t i = 0; i < sizeof bx / sizeof bx[0]; i++) {
        desc("ia_corr_options_default(%g, &o)", bx[i]);
        guard(&o, sizeof o);
        post(F_CORR, "ia_corr_options_default", ia_corr_options_default(bx[i], &o), A_OK | A_INV);
    }
    desc("ia_corr_options_default(100, NULL)");
    post(F_CORR, "ia_corr_options_default", ia_corr_options_default(100.0, NULL), A_INV);
    desc("ia_corr_options_default(100, &o)");
    post(F_CORR, "ia_corr_options_default", ia_corr_options_default(100.0, &o), A_OK);

    /* a small valid sample */
    enum { N = 40 };
    double pos[3 * N], ori[3 * N], w[N];
    for (int i = 0; i < 3 * N; i++) { pos[i] = uab(0, 100); ori[i] = uab(-1, 1); }
    for (int i = 0; i < N; i++) w[i] = uab(0.5, 2);
    IaCorrResult *r;
    /* NULL for each pointer in turn */
    desc("ia_correlate(NULL positions, n=%d)", N);
    guard(&r, sizeof r);
    post(F_CORR, "ia_correlate", ia_correlate(NULL, ori, w, N, &o, &r), A_INV);
    desc("ia_correlate(options NULL)");
    guard(&r, sizeof r);
    post(F_CORR, "ia_correlate", ia_correlate(pos, ori, w, N, NULL, &r), A_INV);
    desc("ia_correlate(out_result NULL)");
    post(F_CORR, "ia_correlate", ia_correlate(pos, ori, w, N, &o, NULL), A_INV);
    /* positions no wrapping makes sense of (more than 1000 box lengths out): refused */
    double far[] = {1e308, -1e308, 1001.0 * 100, -1000.5 * 100, 1e17};
    for (size_t i = 0; i < sizeof far / sizeof far[0]; i++) {
        double keep = pos[3 * 7 + 1];
        pos[3 * 7 + 1] = far[i];
        desc("ia_correlate(galaxy 7 at y = %g, box 100)", far[i]);
        guard(&r, sizeof r);
        post(F_CORR, "ia_correlate", ia_correlate(pos, ori, w, N, &o, &r), A_INV);
        pos[3 * 7 + 1] = keep;
    }
    /* lengths: 0, 1, SIZE_MAX, SIZE_MAX/8, SIZE_MAX/3 + 1 (3n wraps) */
    size_t ln[] = {0, 1, SIZE_MAX, SIZE_MAX / 8, SIZE_MAX / 3 + 1, SIZE_MAX / 24 + 1};
    for (size_t i = 0; i < sizeof ln / sizeof ln[0]; i++) {
        desc("ia_correlate(pos, ori, w, n=%zu, box 100)", ln[i]);
        guard(&r, sizeof r);
        int st = post(F_CORR, "ia_correlate", ia_correlate(pos, ori, w, ln[i], &o, &r), ln[i] <= 1 ? A_OK | A_INV : A_INV);
        if (st == IA_OK) { desc("ia_corr_result_free(r) n=%zu", ln[i]); post(F_CORR, "ia_corr_result_free", ia_corr_result_free(r), A_OK); }
        desc("ia_cross_correlate(n1=%zu, n2=%d)", ln[i], N);
        guard(&r, sizeof r);
        st = post(F_CORR, "ia_cross_correlate", ia_cross_correlate(pos, ori, w, ln[i], pos, ori, w, N, &o, &r), ln[i] <= 1 ? A_OK | A_INV : A_INV);
        if (st == IA_OK) { desc("ia_corr_result_free(cross n=%zu)", ln[i]); post(F_CORR, "ia_corr_result_free", ia_corr_result_free(r), A_OK); }
        desc("ia_cross_correlate(n1=%d, n2=%zu)", N, ln[i]);
        guard(&r, sizeof r);
        st = post(F_CORR, "ia_cross_correlate", ia_cross_correlate(pos, ori, w, N, pos, ori, w, ln[i], &o, &r), ln[i] <= 1 ? A_OK | A_INV : A_INV);
        if (st == IA_OK) { desc("ia_corr_result_free(cross n2=%zu)", ln[i]); post(F_CORR, "ia_corr_result_free", ia_corr_result_free(r), A_OK); }
    }
    /* NaN / inf in positions, orientations, weights */
    double wv[] = {NAN, INFINITY, -INFINITY};
    for (int which = 0; which < 3; which++)
        for (int k = 0; k < 3; k++) {
            double p2[3 * N], o2[3 * N], w2[N];
            memcpy(p2, pos, sizeof p2); memcpy(o2, ori, sizeof o2); memcpy(w2, w, sizeof w2);
            if (which == 0) p2[7] = wv[k]; else if (which == 1) o2[7] = wv[k]; else w2[7] = wv[k];
            desc("ia_correlate(%s[7]=%g, n=%d, box 100)", which == 0 ? "positions" : which == 1 ? "orientations" : "weights", wv[k], N);
            guard(&r, sizeof r);
            if (post(F_CORR, "ia_correlate", ia_correlate(p2, o2, w2, N, &o, &r), A_INV) == IA_OK) ia_corr_result_free(r);
        }
    /* a zero-length orientation */
    {
        double o2[3 * N];
        memcpy(o2, ori, sizeof o2);
        o2[3] = o2[4] = o2[5] = 0;
        desc("ia_correlate(orientation row 1 = 0,0,0)");
        guard(&r, sizeof r);
        if (post(F_CORR, "ia_correlate", ia_correlate(pos, o2, NULL, N, &o, &r), A_OK | A_INV) == IA_OK) ia_corr_result_free(r);
    }
    /* bad options */
    struct { const char *what; IaCorrOptions o; } bo[32];
    int nb = 0;
    static double e_unsorted[] = {1, 3, 2, 4}, e_dup[] = {1, 2, 2, 4}, e_neg[] = {-1, 1, 2}, e_zero[] = {0, 1, 2},
                  e_nan[] = {1, NAN, 3}, e_inf[] = {1, 2, INFINITY}, e_big[] = {1, 10, 60}, e_one[] = {1}, e_ok[] = {1, 2, 4, 8};
#define BO(W, FIELD) do { bo[nb].what = W; bo[nb].o = o; bo[nb].o.FIELD; nb++; } while (0)
    BO("box NaN", box_size[0] = NAN);
    BO("box -100", box_size[1] = -100);
    BO("box 0", box_size[2] = 0);
    BO("box inf", box_size[0] = INFINITY);
    BO("box 10 (< 2 r_max)", box_size[0] = 10);
    BO("edges unsorted", r_edges = e_unsorted); bo[nb - 1].o.n_edges = 4;
    BO("edges duplicate", r_edges = e_dup); bo[nb - 1].o.n_edges = 4;
    BO("edges negative", r_edges = e_neg); bo[nb - 1].o.n_edges = 3;
    BO("edges zero first", r_edges = e_zero); bo[nb - 1].o.n_edges = 3;
    BO("edges NaN", r_edges = e_nan); bo[nb - 1].o.n_edges = 3;
    BO("edges inf", r_edges = e_inf); bo[nb - 1].o.n_edges = 3;
    BO("edges r_max 60 > L/2", r_edges = e_big); bo[nb - 1].o.n_edges = 3;
    BO("edges one value", r_edges = e_one); bo[nb - 1].o.n_edges = 1;
    BO("edges n_edges 0", r_edges = e_ok); bo[nb - 1].o.n_edges = 0;
    BO("edges n_edges SIZE_MAX", r_edges = e_ok); bo[nb - 1].o.n_edges = SIZE_MAX;
    BO("edges n_edges SIZE_MAX/8", r_edges = e_ok); bo[nb - 1].o.n_edges = SIZE_MAX / 8;
    BO("edges n_edges SIZE_MAX/8+1", r_edges = e_ok); bo[nb - 1].o.n_edges = SIZE_MAX / 8 + 1;
    BO("xi_normalization 2", xi_normalization = 2);
    BO("xi_normalization -1", xi_normalization = -1);
    BO("jackknife 1", jackknife_side = 1);
    BO("jackknife 33", jackknife_side = 33);
    BO("jackknife UINT32_MAX", jackknife_side = UINT32_MAX);
    BO("covariance without jackknife", covariance = 1);
#undef BO
    for (int i = 0; i < nb; i++) {
        desc("ia_correlate(n=%d, box 100, options: %s)", N, bo[i].what);
        guard(&r, sizeof r);
        if (post(F_CORR, "ia_correlate", ia_correlate(pos, ori, w, N, &bo[i].o, &r), A_INV) == IA_OK) ia_corr_result_free(r);
        desc("ia_cross_correlate(n=%d, box 100, options: %s)", N, bo[i].what);
        guard(&r, sizeof r);
        if (post(F_CORR, "ia_cross_correlate", ia_cross_correlate(pos, ori, w, N, pos, NULL, NULL, N, &bo[i].o, &r), A_INV) == IA_OK) ia_corr_result_free(r);
    }
    /* N(N-1) on a cross-correlation: auto-only */
    {
        IaCorrOptions o2 = o;
        o2.xi_normalization = IA_XI_N_N_MINUS_1;
        desc("ia_cross_correlate(xi_normalization N(N-1))");
        guard(&r, sizeof r);
        if (post(F_CORR, "ia_cross_correlate", ia_cross_correlate(pos, ori, w, N, pos, ori, w, N, &o2, &r), A_INV | A_OK) == IA_OK) ia_corr_result_free(r);
    }
    /* cross NULL for each pointer in turn */
    const double *pp[8] = {pos, ori, w, pos, ori, w};
    for (int k = 0; k < 6; k++) {
        const double *q[6];
        memcpy(q, pp, sizeof q);
        q[k] = NULL;
        int optional = (k == 1 || k == 2 || k == 4 || k == 5);
        desc("ia_cross_correlate(argument %d NULL)", k);
        guard(&r, sizeof r);
        if (post(F_CORR, "ia_cross_correlate", ia_cross_correlate(q[0], q[1], q[2], N, q[3], q[4], q[5], N, &o, &r),
                 optional ? A_OK : A_INV) == IA_OK) {
            desc("ia_corr_result_free(cross arg %d NULL)", k);
            post(F_CORR, "ia_corr_result_free", ia_corr_result_free(r), A_OK);
        }
    }
    desc("ia_cross_correlate(options NULL)");
    guard(&r, sizeof r);
    post(F_CORR, "ia_cross_correlate", ia_cross_correlate(pos, ori, w, N, pos, ori, w, N, NULL, &r), A_INV);
    desc("ia_cross_correlate(out NULL)");
    post(F_CORR, "ia_cross_correlate", ia_cross_correlate(pos, ori, w, N, pos, ori, w, N, &o, NULL), A_INV);

    /* a valid jackknife result, then hostile getters */
    IaCorrOptions oj = o;
    oj.jackknife_side = 2;
    oj.covariance = 1;
    desc("ia_correlate(n=%d, box 100, jackknife 2, covariance)", N);
    guard(&r, sizeof r);
    if (post(F_CORR, "ia_correlate", ia_correlate(pos, ori, w, N, &oj, &r), A_OK) != IA_OK) return;
    check_result(r, N, 1, 1, 1, 20);
    size_t nbins;
    double out[3600 + 8];
    uint64_t pr[64];
    desc("ia_corr_result_n_bins(r, NULL)");
    post(F_CORR, "ia_corr_result_n_bins", ia_corr_result_n_bins(r, NULL), A_INV);
    int qs[] = {-1, 10, 1000, INT32_MIN, INT32_MAX};
    for (size_t i = 0; i < 5; i++) {
        desc("ia_corr_result_get(r, quantity %d, out, 20)", qs[i]);
        guard(out, 20 * sizeof(double));
        post(F_CORR, "ia_corr_result_get", ia_corr_result_get(r, qs[i], out, 20), A_INV);
    }
    for (int q = 0; q <= 9; q++) {
        size_t need = q == IA_CORR_R_EDGES ? 21 : q == IA_CORR_COVARIANCE ? 3600 : 20;
        size_t lens[] = {0, need - 1, need + 1, SIZE_MAX, SIZE_MAX / 8};
        for (size_t i = 0; i < 5; i++) {
            desc("ia_corr_result_get(r, %d, out, %zu) (needs %zu)", q, lens[i], need);
            guard(out, (lens[i] < need ? lens[i] : need) * sizeof(double));
            post(F_CORR, "ia_corr_result_get", ia_corr_result_get(r, q, out, lens[i]), A_INV);
        }
        desc("ia_corr_result_get(r, %d, NULL, %zu)", q, need);
        post(F_CORR, "ia_corr_result_get", ia_corr_result_get(r, q, NULL, need), A_INV);
    }
    size_t plen[] = {0, 19, 21, SIZE_MAX, SIZE_MAX / 8};
    for (size_t i = 0; i < 5; i++) {
        desc("ia_corr_result_pairs(r, out, %zu)", plen[i]);
        guard(pr, (plen[i] < 20 ? plen[i] : 20) * sizeof(uint64_t));
        post(F_CORR, "ia_corr_result_pairs", ia_corr_result_pairs(r, pr, plen[i]), A_INV);
    }
    desc("ia_corr_result_pairs(r, NULL, 20)");
    post(F_CORR, "ia_corr_result_pairs", ia_corr_result_pairs(r, NULL, 20), A_INV);
    /* NULL / forged / freed handles */
    int stackvar = 0;
    const void *forged[] = {NULL, (void *)1, (void *)(uintptr_t)0xdeadbeef, &stackvar, SENT_PTR, (void *)(uintptr_t)rnd(), (void *)(uintptr_t)-1};
    for (size_t i = 0; i < sizeof forged / sizeof forged[0]; i++) {
        const IaCorrResult *h = forged[i];
        desc("ia_corr_result_n_bins(forged %p)", (void *)h);
        guard(&nbins, sizeof nbins);
        post(F_CORR, "ia_corr_result_n_bins", ia_corr_result_n_bins(h, &nbins), A_INV);
        desc("ia_corr_result_get(forged %p, XI, out, 20)", (void *)h);
        guard(out, 20 * sizeof(double));
        post(F_CORR, "ia_corr_result_get", ia_corr_result_get(h, IA_CORR_XI, out, 20), A_INV);
        desc("ia_corr_result_pairs(forged %p, out, 20)", (void *)h);
        guard(pr, 20 * sizeof(uint64_t));
        post(F_CORR, "ia_corr_result_pairs", ia_corr_result_pairs(h, pr, 20), A_INV);
        if (h) {
            desc("ia_corr_result_free(forged %p)", (void *)h);
            post(F_CORR, "ia_corr_result_free", ia_corr_result_free((IaCorrResult *)h), A_INV);
        }
    }
    desc("ia_corr_result_free(NULL)");
    post(F_CORR, "ia_corr_result_free", ia_corr_result_free(NULL), A_OK);
    /* the real handle is still good after all that */
    desc("ia_corr_result_n_bins(r) after hostile calls");
    guard(&nbins, sizeof nbins);
    if (post(F_CORR, "ia_corr_result_n_bins", ia_corr_result_n_bins(r, &nbins), A_OK) == IA_OK && nbins != 20)
        violation("n_bins %zu != 20", nbins);
    desc("ia_corr_result_free(r)");
    post(F_CORR, "ia_corr_result_free", ia_corr_result_free(r), A_OK);
    desc("ia_corr_result_free(r) again (double free)");
    post(F_CORR, "ia_corr_result_free", ia_corr_result_free(r), A_INV);
    desc("ia_corr_result_n_bins(freed r)");
    guard(&nbins, sizeof nbins);
    post(F_CORR, "ia_corr_result_n_bins", ia_corr_result_n_bins(r, &nbins), A_INV);
    desc("ia_corr_result_get(freed r, XI)");
    guard(out, 20 * sizeof(double));
    post(F_CORR, "ia_corr_result_get", ia_corr_result_get(r, IA_CORR_XI, out, 20), A_INV);
    desc("ia_corr_result_pairs(freed r)");
    guard(pr, 20 * sizeof(uint64_t));
    post(F_CORR, "ia_corr_result_pairs", ia_corr_result_pairs(r, pr, 20), A_INV);
    /* a result without jackknife: jackknife quantities refused */
    desc("ia_correlate(n=%d, box 100, no jackknife, no orientations)", N);
    guard(&r, sizeof r);
    if (post(F_CORR, "ia_correlate", ia_correlate(pos, NULL, NULL, N, &o, &r), A_OK) == IA_OK) {
        check_result(r, N, 0, 0, 0, 20);
        for (int q = IA_CORR_XI_VAR; q <= IA_CORR_COVARIANCE; q++) {
            size_t need = q == IA_CORR_COVARIANCE ? 3600 : 20;
            desc("ia_corr_result_get(no-jackknife r, %d, out, %zu)", q, need);
            guard(out, need * sizeof(double));
            post(F_CORR, "ia_corr_result_get", ia_corr_result_get(r, q, out, need), A_INV);
        }
        desc("ia_corr_result_free(no-jackknife r)");
        post(F_CORR, "ia_corr_result_free", ia_corr_result_free(r), A_OK);
    }
}

/* Reads every quantity of a successful result and checks its properties. */
static void check_result(IaCorrResult *r, size_t n, int weighted, int jk, int cov, size_t nb_expect) {
    size_t nb = SIZE_MAX;
    desc("%s | then ia_corr_result_n_bins", g_desc);
    if (post(F_CORR, "ia_corr_result_n_bins", ia_corr_result_n_bins(r, &nb), A_OK) != IA_OK) return;
    if (nb_expect && nb != nb_expect) violation("n_bins %zu, expected %zu", nb, nb_expect);
    if (nb == 0 || nb > 1000) { violation("n_bins %zu unreasonable", nb); return; }
    double *v = malloc((9 * nb * nb + 8) * sizeof(double));
    double *edges = malloc((nb + 1) * sizeof(double));
    double *wp = malloc(nb * sizeof(double));
    uint64_t *pr = malloc(nb * sizeof(uint64_t));
    char base[4096];
    snprintf(base, sizeof base, "%s", g_desc);
    for (int q = 0; q <= 9; q++) {
        size_t need = q == IA_CORR_R_EDGES ? nb + 1 : q == IA_CORR_COVARIANCE ? 9 * nb * nb : nb;
        int has = q < IA_CORR_XI_VAR || (jk && q < IA_CORR_COVARIANCE) || (jk && cov);
        desc("%s | then ia_corr_result_get(r, %d, out, %zu)", base, q, need);
        guard(v, need * sizeof(double));
        int st = post(F_CORR, "ia_corr_result_get", ia_corr_result_get(r, q, v, need), has ? A_OK : A_INV);
        if (st != IA_OK) continue;
        if (q == IA_CORR_R_EDGES) {
            memcpy(edges, v, (nb + 1) * sizeof(double));
            if (!all_finite(v, nb + 1)) violation("r_edges not finite");
            for (size_t i = 0; i < nb; i++) if (!(v[i] < v[i + 1]) || !(v[0] > 0)) { violation("r_edges not increasing/positive at %zu", i); break; }
        } else if (q == IA_CORR_R_MID) {
            for (size_t i = 0; i < nb; i++)
                if (!isfinite(v[i]) || fabs(v[i] - 0.5 * (edges[i] + edges[i + 1])) > 1e-12 * v[i]) { violation("r_mid[%zu]=%g not the mean of its edges", i, v[i]); break; }
        } else if (q == IA_CORR_XI) {
            if (!weighted && n >= 2 && !all_finite(v, nb)) violation("xi not finite (no weights, n=%zu)", n);
            for (size_t i = 0; i < nb; i++) if (!weighted && v[i] < -1 - 1e-12) { violation("xi[%zu]=%g < -1", i, v[i]); break; }
        } else if (q == IA_CORR_OMEGA || q == IA_CORR_ETA) {
            for (size_t i = 0; i < nb; i++) if (isinf(v[i])) { violation("omega/eta[%zu] infinite", i); break; }
        } else if (q == IA_CORR_WEIGHTED_PAIRS) {
            memcpy(wp, v, nb * sizeof(double));
            if (!all_finite(v, nb)) violation("weighted pairs not finite");
        } else {
            for (size_t i = 0; i < need; i++) if (isinf(v[i]) || (q != IA_CORR_COVARIANCE && v[i] < 0)) { violation("jackknife quantity %d [%zu]=%g", q, i, v[i]); break; }
        }
    }
    desc("%s | then ia_corr_result_pairs(r, out, %zu)", base, nb);
    guard(pr, nb * sizeof(uint64_t));
    if (post(F_CORR, "ia_corr_result_pairs", ia_corr_result_pairs(r, pr, nb), A_OK) == IA_OK) {
        unsigned long long tot = 0;
        for (size_t i = 0; i < nb; i++) {
            tot += pr[i];
            if (!weighted && wp[i] != (double)pr[i]) { violation("weighted pairs %g != pairs %llu without weights, bin %zu", wp[i], (unsigned long long)pr[i], i); break; }
        }
        if (n < (1ull << 31) && tot > (unsigned long long)n * (n ? n - 1 : 0) && n > 0)
            violation("total ordered pairs %llu > n(n-1) = %llu (auto)", tot, (unsigned long long)n * (n - 1));
    }
    free(v); free(edges); free(wp); free(pr);
}

/* ------------------------------------------------------------------ halos family */
static const char *fcols[] = {"halo_x", "halo_y", "halo_z", "halo_vx", "halo_vy", "halo_vz", "halo_mvir", "halo_rvir",
                              "halo_rs", "halo_nfw_conc", "halo_mpeak", "halo_axisA_x", "halo_axisA_y", "halo_axisA_z"};
static const char *icols[] = {"halo_id", "halo_upid", "halo_hostid"};
static const char *badcols[] = {"", "halo_MVIR", "halo_mvir ", "x", "halo_id\n", "\xff\xfe\xfd", "halo_",
                                "halo_mvir\xc3\x28", "%s%n%s"};

static void t_halos_fixed(void) {
    IaSyntheticOptions so;
    desc("ia_synthetic_options_default(NULL)");
    post(F_HALOS, "ia_synthetic_options_default", ia_synthetic_options_default(NULL), A_INV);
    desc("ia_synthetic_options_default(&so)");
    post(F_HALOS, "ia_synthetic_options_default", ia_synthetic_options_default(&so), A_OK);
    IaSyntheticOptions base = so;
    base.box_size = 40; base.grid = 16; base.seed = 1;
    IaHalos *h;
    desc("ia_halos_synthetic(box 40, grid 16, seed 1, out NULL)");
    post(F_HALOS, "ia_halos_synthetic", ia_halos_synthetic(&base, NULL), A_INV);
    struct { const char *what; IaSyntheticOptions o; } bo[40];
    int nb = 0;
#define BS(W, FIELD) do { bo[nb].what = W; bo[nb].o = base; bo[nb].o.FIELD; nb++; } while (0)
    BS("box NaN", box_size = NAN); BS("box -40", box_size = -40); BS("box 0", box_size = 0); BS("box inf", box_size = INFINITY);
    BS("grid 0", grid = 0); BS("grid 15 (odd)", grid = 15); BS("grid 6", grid = 6); BS("grid 514", grid = 514);
    BS("grid UINT32_MAX", grid = UINT32_MAX); BS("min_host_mass NaN", min_host_mass = NAN); BS("min_host_mass -1", min_host_mass = -1);
    BS("particle_mass 0", particle_mass = 0); BS("particle_mass NaN", particle_mass = NAN); BS("subhalo_survival 2", subhalo_survival = 2);
    BS("subhalo_survival -0.5", subhalo_survival = -0.5); BS("axis_scatter NaN", axis_scatter = NAN); BS("axis_scatter -1", axis_scatter = -1);
    BS("tidal_smoothing -2", tidal_smoothing = -2); BS("tidal_smoothing NaN", tidal_smoothing = NAN); BS("omega_m 0", omega_m = 0);
    BS("omega_m -0.3", omega_m = -0.3); BS("omega_b > omega_m", omega_b = 0.5); BS("h 0", h = 0); BS("n_s NaN", n_s = NAN);
    BS("sigma8 -1", sigma8 = -1); BS("sigma8 inf", sigma8 = INFINITY); BS("omega_m 2", omega_m = 2);
    BS("min_host_mass 1e30 (no halos)", min_host_mass = 1e30);
#undef BS
    for (int i = 0; i < nb; i++) {
        desc("ia_halos_synthetic(box 40 grid 16 seed 1, %s)", bo[i].what);
        guard(&h, sizeof h);
        if (post(F_HALOS, "ia_halos_synthetic", ia_halos_synthetic(&bo[i].o, &h), A_INV | A_OOD) == IA_OK) ia_halos_free(h);
    }
    /* the universe used by every later case */
    desc("ia_halos_synthetic(box 40, grid 16, seed 1)");
    guard(&U, sizeof U);
    if (post(F_HALOS, "ia_halos_synthetic", ia_halos_synthetic(&base, &U), A_OK) != IA_OK) { fprintf(stderr, "cannot make the universe\n"); exit(2); }
    desc("ia_halos_info(U, NULL)");
    post(F_HALOS, "ia_halos_info", ia_halos_info(U, NULL), A_INV);
    desc("ia_halos_info(U, &UI)");
    post(F_HALOS, "ia_halos_info", ia_halos_info(U, &UI), A_OK);
    if (UI.n_halos != UI.n_hosts + UI.n_subhalos || UI.box_size[0] != 40 || !(UI.mvir_min <= UI.mvir_max) || UI.n_halos == 0)
        violation("halos info inconsistent: n %zu hosts %zu subs %zu box %g", UI.n_halos, UI.n_hosts, UI.n_subhalos, UI.box_size[0]);
    size_t n = UI.n_halos;
    U_ids = malloc(n * sizeof(int64_t));
    desc("ia_halos_column_i64(U, halo_id, ids, %zu)", n);
    post(F_HALOS, "ia_halos_column_i64", ia_halos_column_i64(U, "halo_id", U_ids, n), A_OK);
    double *col = malloc((n + 1) * sizeof(double));
    int64_t *icol = malloc((n + 1) * sizeof(int64_t));
    size_t lens[] = {0, n - 1, n + 1, SIZE_MAX, SIZE_MAX / 8};
    for (size_t i = 0; i < 5; i++) {
        desc("ia_halos_column_f64(U, halo_mvir, out, %zu) (n=%zu)", lens[i], n);
        guard(col, (lens[i] < n ? lens[i] : n) * sizeof(double));
        post(F_HALOS, "ia_halos_column_f64", ia_halos_column_f64(U, "halo_mvir", col, lens[i]), A_INV);
        desc("ia_halos_column_i64(U, halo_id, out, %zu) (n=%zu)", lens[i], n);
        guard(icol, (lens[i] < n ? lens[i] : n) * sizeof(int64_t));
        post(F_HALOS, "ia_halos_column_i64", ia_halos_column_i64(U, "halo_id", icol, lens[i]), A_INV);
    }
    desc("ia_halos_column_f64(U, NULL name)");
    guard(col, n * sizeof(double));
    post(F_HALOS, "ia_halos_column_f64", ia_halos_column_f64(U, NULL, col, n), A_INV);
    desc("ia_halos_column_f64(U, halo_mvir, NULL, n)");
    post(F_HALOS, "ia_halos_column_f64", ia_halos_column_f64(U, "halo_mvir", NULL, n), A_INV);
    desc("ia_halos_column_i64(U, NULL name)");
    guard(icol, n * sizeof(int64_t));
    post(F_HALOS, "ia_halos_column_i64", ia_halos_column_i64(U, NULL, icol, n), A_INV);
    desc("ia_halos_column_i64(U, halo_id, NULL, n)");
    post(F_HALOS, "ia_halos_column_i64", ia_halos_column_i64(U, "halo_id", NULL, n), A_INV);
    desc("ia_halos_column_f64(U, halo_id (an integer column), n)");
    guard(col, n * sizeof(double));
    post(F_HALOS, "ia_halos_column_f64", ia_halos_column_f64(U, "halo_id", col, n), A_INV | A_OK);
    desc("ia_halos_column_i64(U, halo_mvir (a float column), n)");
    guard(icol, n * sizeof(int64_t));
    post(F_HALOS, "ia_halos_column_i64", ia_halos_column_i64(U, "halo_mvir", icol, n), A_INV);
    desc("ia_halos_column_f64(U, halo_c_to_a (the shape), out, %zu) (n=%zu)", n + 1, n);
    guard(col, n * sizeof(double));
    post(F_HALOS, "ia_halos_column_f64", ia_halos_column_f64(U, "halo_c_to_a", col, n + 1), A_INV);
    desc("ia_halos_column_f64(U, halo_b_to_a (the shape), out, n)");
    guard(col, n * sizeof(double));
    post(F_HALOS, "ia_halos_column_f64", ia_halos_column_f64(U, "halo_b_to_a", col, n), A_OK);
    for (size_t i = 0; i < n; i++)
        if (!(isnan(col[i]) || (col[i] > 0 && col[i] <= 1)))
            violation("halo_b_to_a[%zu] = %g: neither NaN nor in (0, 1]", i, col[i]);
    {
        char longname[5000];
        memset(longname, 'h', sizeof longname - 1);
        longname[sizeof longname - 1] = 0;
        desc("ia_halos_column_f64(U, 4999-character name)");
        guard(col, n * sizeof(double));
        post(F_HALOS, "ia_halos_column_f64", ia_halos_column_f64(U, longname, col, n), A_INV);
    }
    /* save: hostile paths, then a round trip */
    struct stat stt;
    const char *badsave[] = {NULL, "", "/nonexistent-dir-iaemu/x.hdf5", g_tmp, tmpf("noext"), tmpf("x.txt"), "/proc/version.hdf5", tmpf("dir.hdf5")};
    mkdir(tmpf("dir.hdf5"), 0755);
    for (size_t i = 0; i < sizeof badsave / sizeof badsave[0]; i++) {
        desc("ia_halos_save(U, \"%s\")", badsave[i] ? badsave[i] : "(NULL)");
        post(F_HALOS, "ia_halos_save", ia_halos_save(U, badsave[i]), badsave[i] ? (A_INV | A_IO) : A_INV);
        if (badsave[i] && i >= 4 && i <= 5 && stat(badsave[i], &stt) == 0) violation("a failed save left a file at %s", badsave[i]);
    }
    static char goodb[3][1024];
    snprintf(goodb[0], 1024, "%s", tmpf("u.hdf5")); snprintf(goodb[1], 1024, "%s", tmpf("u.npz")); snprintf(goodb[2], 1024, "%s", tmpf("u.h5"));
    const char *good[] = {goodb[0], goodb[1], goodb[2]};
    for (int i = 0; i < 3; i++) {
        desc("ia_halos_save(U, \"%s\")", good[i]);
        if (post(F_HALOS, "ia_halos_save", ia_halos_save(U, good[i]), A_OK) != IA_OK) continue;
        desc("ia_halos_load(\"%s\") round trip", good[i]);
        guard(&h, sizeof h);
        if (post(F_HALOS, "ia_halos_load", ia_halos_load(good[i], &h), A_OK) == IA_OK) {
            IaHalosInfo ri;
            desc("ia_halos_info(reloaded %s)", good[i]);
            post(F_HALOS, "ia_halos_info", ia_halos_info(h, &ri), A_OK);
            if (ri.n_halos != UI.n_halos || ri.n_hosts != UI.n_hosts || ri.box_size[0] != UI.box_size[0] || ri.particle_mass != UI.particle_mass)
                violation("round trip through %s changed the catalogue: n %zu vs %zu", good[i], ri.n_halos, UI.n_halos);
            double *c2 = malloc(n * sizeof(double));
            desc("ia_halos_column_f64(reloaded %s, halo_x)", good[i]);
            guard(c2, n * sizeof(double));
            if (ri.n_halos == n && post(F_HALOS, "ia_halos_column_f64", ia_halos_column_f64(h, "halo_x", c2, n), A_OK) == IA_OK) {
                desc("ia_halos_column_f64(U, halo_x)");
                post(F_HALOS, "ia_halos_column_f64", ia_halos_column_f64(U, "halo_x", col, n), A_OK);
                if (memcmp(c2, col, n * sizeof(double)) != 0) violation("halo_x differs after the %s round trip", good[i]);
            }
            free(c2);
            desc("ia_halos_free(reloaded %s)", good[i]);
            post(F_HALOS, "ia_halos_free", ia_halos_free(h), A_OK);
        }
    }
    /* load: hostile paths and contents */
    static const char garbage[] = "\x89HDF\r\n\x1a\n this is not an HDF5 file \x00\x01\x02\xff";
    write_file(tmpf("empty.hdf5"), "", 0);
    write_file(tmpf("garbage.hdf5"), garbage, sizeof garbage);
    write_file(tmpf("garbage.npz"), "PK\x03\x04garbage", 12);
    write_file(tmpf("out_0.list"), "#ID DescID Mvir\n1 2 x y z\n\xff\xfe\n", 28);
    write_file(tmpf("hlist_1.00000.list"), "# scale(0) id(1)\n0.1 2 3\n", 26);
    write_file(tmpf("garbage.bin"), garbage, sizeof garbage);
    write_file(tmpf("empty.safetensors"), "", 0);
    write_file(tmpf("garbage.safetensors"), "\xff\xff\xff\xff\xff\xff\xff\x7f{garbage", 16);
    write_file(tmpf("small.safetensors"), "\x10\x00\x00\x00\x00\x00\x00\x00{\"a\":1}        ", 24);
    {
        /* a truncated copy of a good HDF5 file */
        FILE *f = fopen(good[0], "rb");
        if (f) {
            char *buf = malloc(1 << 16);
            size_t got = fread(buf, 1, 1 << 16, f);
            fclose(f);
            write_file(tmpf("truncated.hdf5"), buf, got / 2);
            free(buf);
        }
    }
    const char *badload[] = {NULL, "", "/nonexistent-iaemu/file.hdf5", "/", g_tmp, tmpf("dir.hdf5"), tmpf("empty.hdf5"),
                             tmpf("garbage.hdf5"), tmpf("garbage.npz"), tmpf("out_0.list"), tmpf("hlist_1.00000.list"),
                             tmpf("garbage.bin"), tmpf("truncated.hdf5"), "/dev/null", "/proc/self/status"};
    for (size_t i = 0; i < sizeof badload / sizeof badload[0]; i++) {
        desc("ia_halos_load(\"%s\")", badload[i] ? badload[i] : "(NULL)");
        guard(&h, sizeof h);
        if (post(F_HALOS, "ia_halos_load", ia_halos_load(badload[i], &h), badload[i] ? (A_INV | A_IO) : A_INV) == IA_OK) ia_halos_free(h);
        IaHalosLoadOptions lo = {40, 1.55e8, 0, 1};
        desc("ia_halos_load_with_options(\"%s\", box 40, force)", badload[i] ? badload[i] : "(NULL)");
        guard(&h, sizeof h);
        if (post(F_HALOS, "ia_halos_load_with_options", ia_halos_load_with_options(badload[i], &lo, &h), badload[i] ? (A_INV | A_IO) : A_INV) == IA_OK) ia_halos_free(h);
    }
    desc("ia_halos_load(good, NULL out)");
    post(F_HALOS, "ia_halos_load", ia_halos_load(good[0], NULL), A_INV);
    desc("ia_halos_load_with_options(good, opts, NULL out)");
    IaHalosLoadOptions lo0 = {NAN, NAN, NAN, 0};
    post(F_HALOS, "ia_halos_load_with_options", ia_halos_load_with_options(good[0], &lo0, NULL), A_INV);
    desc("ia_halos_load_with_options(good, NULL options)");
    guard(&h, sizeof h);
    if (post(F_HALOS, "ia_halos_load_with_options", ia_halos_load_with_options(good[0], NULL, &h), A_OK) == IA_OK) ia_halos_free(h);
    IaHalosLoadOptions blo[] = {{-40, NAN, NAN, 1}, {NAN, -1, NAN, 1}, {NAN, NAN, -2, 1}, {INFINITY, NAN, NAN, 1}, {0, 0, 0, 1},
                                {1e-300, NAN, NAN, 1}, {40, 1.55e8, NAN, 7}};
    for (size_t i = 0; i < sizeof blo / sizeof blo[0]; i++) {
        desc("ia_halos_load_with_options(u.npz, box %g pm %g z %g force %d)", blo[i].box_size, blo[i].particle_mass, blo[i].redshift, blo[i].force);
        guard(&h, sizeof h);
        if (post(F_HALOS, "ia_halos_load_with_options", ia_halos_load_with_options(good[1], &blo[i], &h), A_INV | A_OK | A_IO) == IA_OK) {
            IaHalosInfo ri;
            ia_halos_info(h, &ri);
            if (!(ri.box_size[0] > 0) || !isfinite(ri.box_size[0])) violation("load with options accepted box %g", ri.box_size[0]);
            ia_halos_free(h);
        }
    }
    free(col); free(icol);
}

/* ------------------------------------------------------------------ galaxies family */
static void check_galaxies(IaGalaxies *g, const char *base) {
    size_t n = 0;
    desc("%s | then ia_galaxies_count", base);
    if (post(F_GAL, "ia_galaxies_count", ia_galaxies_count(g, &n), A_OK) != IA_OK) return;
    if (n < 2) violation("populate succeeded with %zu galaxies (< 2)", n);
    double *v = malloc((3 * n + 3) * sizeof(double));
    for (int q = 0; q < 3; q++) {
        desc("%s | then ia_galaxies_get(g, %d, out, %zu)", base, q, 3 * n);
        guard(v, 3 * n * sizeof(double));
        if (post(F_GAL, "ia_galaxies_get", ia_galaxies_get(g, q, v, 3 * n), A_OK) != IA_OK) continue;
        if (!all_finite(v, 3 * n)) { violation("galaxies quantity %d not finite", q); continue; }
        for (size_t i = 0; i < n; i++) {
            if (q == IA_GAL_POSITIONS) {
                for (int k = 0; k < 3; k++) if (v[3 * i + k] < 0 || v[3 * i + k] >= UI.box_size[k]) { violation("position %zu,%d = %g outside [0, L)", i, k, v[3 * i + k]); i = n; break; }
            } else if (q == IA_GAL_ORIENTATIONS) {
                double l = sqrt(v[3 * i] * v[3 * i] + v[3 * i + 1] * v[3 * i + 1] + v[3 * i + 2] * v[3 * i + 2]);
                if (fabs(l - 1) > 1e-6) { violation("orientation %zu has length %g", i, l); break; }
            }
        }
    }
    uint8_t *kind = malloc(n + 1);
    int64_t *host = malloc((n + 1) * sizeof(int64_t));
    desc("%s | then ia_galaxies_kind(g, kind, host, %zu)", base, n);
    guard(kind, n); guard(host, n * sizeof(int64_t));
    if (post(F_GAL, "ia_galaxies_kind", ia_galaxies_kind(g, kind, host, n), A_OK) == IA_OK) {
        for (size_t i = 0; i < n; i++) {
            if (kind[i] > 1) { violation("kind[%zu] = %u", i, kind[i]); break; }
            /* host ids exist in the catalogue (binary search would need sorting; sample a few) */
            if (i < 8) {
                int found = 0;
                for (size_t j = 0; j < UI.n_halos && !found; j++) found = U_ids[j] == host[i];
                if (!found) { violation("galaxy %zu host id %lld not in halo_id", i, (long long)host[i]); break; }
            }
        }
    }
    desc("%s | then ia_galaxies_kind(g, kind, NULL, %zu)", base, n);
    guard(kind, n);
    post(F_GAL, "ia_galaxies_kind", ia_galaxies_kind(g, kind, NULL, n), A_OK);
    free(v); free(kind); free(host);
}

static void t_galaxies_fixed(void) {
    IaGalaxies *g;
    desc("ia_populate(U, NULL params)");
    guard(&g, sizeof g);
    post(F_GAL, "ia_populate", ia_populate(U, NULL, 1, &g), A_INV);
    desc("ia_populate(U, P0, 1, NULL out)");
    post(F_GAL, "ia_populate", ia_populate(U, P0, 1, NULL), A_INV);
    desc("ia_populate(U, P0, 1, &g)");
    guard(&g, sizeof g);
    if (post(F_GAL, "ia_populate", ia_populate(U, P0, 1, &g), A_OK) != IA_OK) { fprintf(stderr, "populate failed\n"); exit(2); }
    check_galaxies(g, "ia_populate(U, P0, seed 1)");
    size_t n;
    ia_galaxies_count(g, &n);
    double *v = malloc((3 * n + 3) * sizeof(double));
    uint8_t *kind = malloc(n + 1);
    int64_t *host = malloc((n + 1) * sizeof(int64_t));
    desc("ia_galaxies_count(g, NULL)");
    post(F_GAL, "ia_galaxies_count", ia_galaxies_count(g, NULL), A_INV);
    int qs[] = {-1, 3, 100, INT32_MIN};
    for (int i = 0; i < 4; i++) {
        desc("ia_galaxies_get(g, quantity %d)", qs[i]);
        guard(v, 3 * n * sizeof(double));
        post(F_GAL, "ia_galaxies_get", ia_galaxies_get(g, qs[i], v, 3 * n), A_INV);
    }
    size_t lens[] = {0, 3 * n - 1, 3 * n + 1, n, SIZE_MAX, SIZE_MAX / 8};
    for (int i = 0; i < 6; i++) {
        desc("ia_galaxies_get(g, POSITIONS, out, %zu) (needs %zu)", lens[i], 3 * n);
        guard(v, (lens[i] < 3 * n ? lens[i] : 3 * n) * sizeof(double));
        post(F_GAL, "ia_galaxies_get", ia_galaxies_get(g, IA_GAL_POSITIONS, v, lens[i]), A_INV);
    }
    desc("ia_galaxies_get(g, POSITIONS, NULL, 3n)");
    post(F_GAL, "ia_galaxies_get", ia_galaxies_get(g, IA_GAL_POSITIONS, NULL, 3 * n), A_INV);
    size_t klens[] = {0, n - 1, n + 1, SIZE_MAX, SIZE_MAX / 8};
    for (int i = 0; i < 5; i++) {
        desc("ia_galaxies_kind(g, kind, host, %zu) (needs %zu)", klens[i], n);
        guard(kind, klens[i] < n ? klens[i] : n);
        guard(host, (klens[i] < n ? klens[i] : n) * sizeof(int64_t));
        post(F_GAL, "ia_galaxies_kind", ia_galaxies_kind(g, kind, host, klens[i]), A_INV);
    }
    desc("ia_galaxies_kind(g, NULL, host, n)");
    guard(host, n * sizeof(int64_t));
    post(F_GAL, "ia_galaxies_kind", ia_galaxies_kind(g, NULL, host, n), A_INV);
    /* hostile params to populate */
    for (int k = 0; k < 7; k++) {
        double bad[] = {NAN, INFINITY, -INFINITY, -1e300};
        for (int j = 0; j < 4; j++) {
            double p[7];
            memcpy(p, P0, sizeof p);
            p[k] = bad[j];
            IaGalaxies *g2;
            desc("ia_populate(U, P0 with p[%d]=%g, 1)", k, bad[j]);
            guard(&g2, sizeof g2);
            unsigned allow = (j < 3) ? A_INV : (A_INV | A_OK);
            if (post(F_GAL, "ia_populate", ia_populate(U, p, 1, &g2), allow) == IA_OK) { check_galaxies(g2, g_desc); ia_galaxies_free(g2); }
        }
    }
    /* wrong-kind and forged handles across all handle-taking functions */
    int stackvar = 0;
    void *forged[] = {(void *)1, (void *)(uintptr_t)0xdeadbeef, &stackvar, SENT_PTR, (void *)(uintptr_t)rnd(), (void *)U, (void *)g};
    const char *fname[] = {"1", "0xdeadbeef", "&stackvar", "0xA5A5..", "random", "IaHalos U", "IaGalaxies g"};
    for (int i = 0; i < 7; i++) {
        size_t cnt;
        if (i != 6) {
            desc("ia_galaxies_count(%s as IaGalaxies*)", fname[i]);
            guard(&cnt, sizeof cnt);
            post(F_GAL, "ia_galaxies_count", ia_galaxies_count(forged[i], &cnt), A_INV);
            desc("ia_galaxies_get(%s as IaGalaxies*)", fname[i]);
            guard(v, 3 * n * sizeof(double));
            post(F_GAL, "ia_galaxies_get", ia_galaxies_get(forged[i], 0, v, 3 * n), A_INV);
            desc("ia_galaxies_kind(%s as IaGalaxies*)", fname[i]);
            guard(kind, n);
            post(F_GAL, "ia_galaxies_kind", ia_galaxies_kind(forged[i], kind, NULL, n), A_INV);
            desc("ia_galaxies_free(%s as IaGalaxies*)", fname[i]);
            post(F_GAL, "ia_galaxies_free", ia_galaxies_free(forged[i]), A_INV);
        }
        if (i != 5) {
            IaHalosInfo hi;
            IaGalaxies *g2;
            double m[60], var[60], col[4];
            int64_t icol[4];
            desc("ia_halos_info(%s as IaHalos*)", fname[i]);
            guard(&hi, sizeof hi);
            post(F_HALOS, "ia_halos_info", ia_halos_info(forged[i], &hi), A_INV);
            desc("ia_halos_column_f64(%s as IaHalos*)", fname[i]);
            guard(col, sizeof col);
            post(F_HALOS, "ia_halos_column_f64", ia_halos_column_f64(forged[i], "halo_mvir", col, 4), A_INV);
            desc("ia_halos_column_i64(%s as IaHalos*)", fname[i]);
            guard(icol, sizeof icol);
            post(F_HALOS, "ia_halos_column_i64", ia_halos_column_i64(forged[i], "halo_id", icol, 4), A_INV);
            desc("ia_halos_save(%s as IaHalos*)", fname[i]);
            post(F_HALOS, "ia_halos_save", ia_halos_save(forged[i], tmpf("forged.npz")), A_INV);
            desc("ia_populate(%s as IaHalos*)", fname[i]);
            guard(&g2, sizeof g2);
            post(F_GAL, "ia_populate", ia_populate(forged[i], P0, 1, &g2), A_INV);
            desc("ia_simulate(%s as IaHalos*)", fname[i]);
            guard(m, sizeof m); guard(var, sizeof var);
            post(F_SIM, "ia_simulate", ia_simulate(forged[i], P0, 1, 1, NULL, m, var, 60), A_INV);
            desc("ia_halos_free(%s as IaHalos*)", fname[i]);
            post(F_HALOS, "ia_halos_free", ia_halos_free(forged[i]), A_INV);
        }
        {
            size_t nb;
            double out[21];
            uint64_t pr[20];
            desc("ia_corr_result_n_bins(%s as IaCorrResult*)", fname[i]);
            guard(&nb, sizeof nb);
            post(F_CORR, "ia_corr_result_n_bins", ia_corr_result_n_bins(forged[i], &nb), A_INV);
            desc("ia_corr_result_get(%s as IaCorrResult*)", fname[i]);
            guard(out, sizeof out);
            post(F_CORR, "ia_corr_result_get", ia_corr_result_get(forged[i], IA_CORR_R_EDGES, out, 21), A_INV);
            desc("ia_corr_result_pairs(%s as IaCorrResult*)", fname[i]);
            guard(pr, sizeof pr);
            post(F_CORR, "ia_corr_result_pairs", ia_corr_result_pairs(forged[i], pr, 20), A_INV);
            desc("ia_corr_result_free(%s as IaCorrResult*)", fname[i]);
            post(F_CORR, "ia_corr_result_free", ia_corr_result_free(forged[i]), A_INV);
        }
        {
            IaEmulatorInfo ei;
            double out[64 * 3 * 7];
            uint32_t fl[2];
            desc("ia_emulator_info(%s as IaEmulator*)", fname[i]);
            guard(&ei, sizeof ei);
            post(F_EMU, "ia_emulator_info", ia_emulator_info(forged[i], &ei), A_INV);
            desc("ia_emulator_r_edges(%s as IaEmulator*)", fname[i]);
            guard(out, 21 * sizeof(double));
            post(F_EMU, "ia_emulator_r_edges", ia_emulator_r_edges(forged[i], out, 21), A_INV);
            desc("ia_emulator_set_extrapolation(%s as IaEmulator*)", fname[i]);
            post(F_EMU, "ia_emulator_set_extrapolation", ia_emulator_set_extrapolation(forged[i], 1), A_INV);
            desc("ia_predict_batch(%s as IaEmulator*)", fname[i]);
            guard(out, 60 * sizeof(double)); guard(fl, sizeof fl);
            post(F_EMU, "ia_predict_batch", ia_predict_batch(forged[i], P0, 1, 1, 1, out, NULL, NULL, fl), A_INV);
            desc("ia_predict_jacobian(%s as IaEmulator*)", fname[i]);
            guard(out, 420 * sizeof(double)); guard(fl, sizeof fl);
            post(F_EMU, "ia_predict_jacobian", ia_predict_jacobian(forged[i], P0, 1, NULL, out, fl), A_INV);
            desc("ia_emulator_free(%s as IaEmulator*)", fname[i]);
            post(F_EMU, "ia_emulator_free", ia_emulator_free(forged[i]), A_INV);
        }
    }
    /* both real handles survived the wrong-kind frees */
    desc("ia_halos_info(U) after wrong-kind frees");
    IaHalosInfo hi;
    if (post(F_HALOS, "ia_halos_info", ia_halos_info(U, &hi), A_OK) == IA_OK && hi.n_halos != UI.n_halos) violation("U changed");
    check_galaxies(g, "ia_populate(U, P0, seed 1) after wrong-kind frees");
    /* NULL handles */
    size_t cnt;
    desc("ia_galaxies_count(NULL)"); guard(&cnt, sizeof cnt);
    post(F_GAL, "ia_galaxies_count", ia_galaxies_count(NULL, &cnt), A_INV);
    desc("ia_galaxies_get(NULL)"); guard(v, 3 * n * sizeof(double));
    post(F_GAL, "ia_galaxies_get", ia_galaxies_get(NULL, 0, v, 3 * n), A_INV);
    desc("ia_galaxies_kind(NULL)"); guard(kind, n);
    post(F_GAL, "ia_galaxies_kind", ia_galaxies_kind(NULL, kind, NULL, n), A_INV);
    desc("ia_galaxies_free(NULL)");
    post(F_GAL, "ia_galaxies_free", ia_galaxies_free(NULL), A_OK);
    desc("ia_halos_info(NULL)"); guard(&hi, sizeof hi);
    post(F_HALOS, "ia_halos_info", ia_halos_info(NULL, &hi), A_INV);
    desc("ia_halos_column_f64(NULL)"); guard(v, 4 * sizeof(double));
    post(F_HALOS, "ia_halos_column_f64", ia_halos_column_f64(NULL, "halo_mvir", v, 4), A_INV);
    desc("ia_halos_column_i64(NULL)"); guard(host, 4 * sizeof(int64_t));
    post(F_HALOS, "ia_halos_column_i64", ia_halos_column_i64(NULL, "halo_id", host, 4), A_INV);
    desc("ia_halos_save(NULL)");
    post(F_HALOS, "ia_halos_save", ia_halos_save(NULL, tmpf("null.npz")), A_INV);
    desc("ia_halos_free(NULL)");
    post(F_HALOS, "ia_halos_free", ia_halos_free(NULL), A_OK);
    IaGalaxies *g3;
    desc("ia_populate(NULL halos)"); guard(&g3, sizeof g3);
    post(F_GAL, "ia_populate", ia_populate(NULL, P0, 1, &g3), A_INV);
    /* free g, then everything on the freed handle */
    desc("ia_galaxies_free(g)");
    post(F_GAL, "ia_galaxies_free", ia_galaxies_free(g), A_OK);
    desc("ia_galaxies_free(g) again (double free)");
    post(F_GAL, "ia_galaxies_free", ia_galaxies_free(g), A_INV);
    desc("ia_galaxies_count(freed g)"); guard(&cnt, sizeof cnt);
    post(F_GAL, "ia_galaxies_count", ia_galaxies_count(g, &cnt), A_INV);
    desc("ia_galaxies_get(freed g)"); guard(v, 3 * n * sizeof(double));
    post(F_GAL, "ia_galaxies_get", ia_galaxies_get(g, 0, v, 3 * n), A_INV);
    desc("ia_galaxies_kind(freed g)"); guard(kind, n);
    post(F_GAL, "ia_galaxies_kind", ia_galaxies_kind(g, kind, NULL, n), A_INV);
    /* a freed halos handle */
    IaHalos *h2;
    IaSyntheticOptions so;
    ia_synthetic_options_default(&so);
    so.box_size = 40; so.grid = 8; so.seed = 3;
    desc("ia_halos_synthetic(box 40 grid 8 seed 3)"); guard(&h2, sizeof h2);
    if (post(F_HALOS, "ia_halos_synthetic", ia_halos_synthetic(&so, &h2), A_OK) == IA_OK) {
        desc("ia_halos_free(h2)");
        post(F_HALOS, "ia_halos_free", ia_halos_free(h2), A_OK);
        desc("ia_halos_free(h2) again (double free)");
        post(F_HALOS, "ia_halos_free", ia_halos_free(h2), A_INV);
        desc("ia_halos_info(freed h2)"); guard(&hi, sizeof hi);
        post(F_HALOS, "ia_halos_info", ia_halos_info(h2, &hi), A_INV);
        desc("ia_halos_column_f64(freed h2)"); guard(v, 4 * sizeof(double));
        post(F_HALOS, "ia_halos_column_f64", ia_halos_column_f64(h2, "halo_mvir", v, 4), A_INV);
        desc("ia_halos_column_i64(freed h2)"); guard(host, 4 * sizeof(int64_t));
        post(F_HALOS, "ia_halos_column_i64", ia_halos_column_i64(h2, "halo_id", host, 4), A_INV);
        desc("ia_halos_save(freed h2)");
        post(F_HALOS, "ia_halos_save", ia_halos_save(h2, tmpf("freed.npz")), A_INV);
        desc("ia_populate(freed h2)"); guard(&g3, sizeof g3);
        post(F_GAL, "ia_populate", ia_populate(h2, P0, 1, &g3), A_INV);
        double m[60];
        desc("ia_simulate(freed h2)"); guard(m, sizeof m);
        post(F_SIM, "ia_simulate", ia_simulate(h2, P0, 1, 1, NULL, m, NULL, 60), A_INV);
    }
    free(v); free(kind); free(host);
}

/* ------------------------------------------------------------------ simulate family */
static void t_simulate_fixed(void) {
    IaSimulateOptions so;
    double m[64], var[64];
    desc("ia_simulate_options_default(NULL)");
    post(F_SIM, "ia_simulate_options_default", ia_simulate_options_default(NULL), A_INV);
    desc("ia_simulate_options_default(&so)");
    post(F_SIM, "ia_simulate_options_default", ia_simulate_options_default(&so), A_OK);
    desc("ia_simulate(U, NULL params)"); guard(m, sizeof m); guard(var, sizeof var);
    post(F_SIM, "ia_simulate", ia_simulate(U, NULL, 2, 1, &so, m, var, 60), A_INV);
    desc("ia_simulate(U, P0, 2, 1, NULL options, NULL, NULL, 60)");
    post(F_SIM, "ia_simulate", ia_simulate(U, P0, 2, 1, NULL, NULL, NULL, 60), A_INV);
    size_t lens[] = {0, 59, 61, 20, SIZE_MAX, SIZE_MAX / 8};
    for (int i = 0; i < 6; i++) {
        desc("ia_simulate(U, P0, 1, 1, NULL, m, var, %zu) (needs 60)", lens[i]);
        guard(m, (lens[i] < 60 ? lens[i] : 60) * sizeof(double)); guard(var, (lens[i] < 60 ? lens[i] : 60) * sizeof(double));
        post(F_SIM, "ia_simulate", ia_simulate(U, P0, 1, 1, NULL, m, var, lens[i]), A_INV);
    }
    desc("ia_simulate(U, P0, 0 realisations)"); guard(m, sizeof m); guard(var, sizeof var);
    post(F_SIM, "ia_simulate", ia_simulate(U, P0, 0, 1, NULL, m, var, 60), A_INV);
    struct { const char *what; IaSimulateOptions o; } bo[20];
    int nb = 0;
    static double e_unsorted[] = {1, 3, 2, 4}, e_big[] = {1, 10, 25}, e_nan[] = {1, NAN, 3};
#define BS(W, FIELD) do { bo[nb].what = W; bo[nb].o = so; bo[nb].o.FIELD; nb++; } while (0)
    BS("edges unsorted", r_edges = e_unsorted); bo[nb - 1].o.n_edges = 4;
    BS("edges r_max 25 > L/2", r_edges = e_big); bo[nb - 1].o.n_edges = 3;
    BS("edges NaN", r_edges = e_nan); bo[nb - 1].o.n_edges = 3;
    BS("edges n_edges SIZE_MAX", r_edges = e_nan); bo[nb - 1].o.n_edges = SIZE_MAX;
    BS("edges n_edges SIZE_MAX/8+1", r_edges = e_nan); bo[nb - 1].o.n_edges = SIZE_MAX / 8 + 1;
    BS("edges n_edges 1", r_edges = e_nan); bo[nb - 1].o.n_edges = 1;
    BS("xi_normalization 5", xi_normalization = 5);
    BS("satellites -1", satellites = -1);
    BS("satellites 3", satellites = 3);
    BS("min_host_particles NaN", min_host_particles = NAN);
    BS("min_host_particles -1", min_host_particles = -1);
    BS("min_host_particles inf", min_host_particles = INFINITY);
#undef BS
    for (int i = 0; i < nb; i++) {
        desc("ia_simulate(U, P0, 1, 1, options: %s, m, var, 60)", bo[i].what);
        guard(m, 60 * sizeof(double)); guard(var, 60 * sizeof(double));
        post(F_SIM, "ia_simulate", ia_simulate(U, P0, 1, 1, &bo[i].o, m, var, 60), A_INV);
    }
    desc("ia_simulate(U, P0, 2, 1, NULL, m, var, 60)");
    guard(m, 60 * sizeof(double)); guard(var, 60 * sizeof(double));
    if (post(F_SIM, "ia_simulate", ia_simulate(U, P0, 2, 1, NULL, m, var, 60), A_OK) == IA_OK) {
        if (!all_finite(m, 20)) violation("simulate mean xi not finite");
        for (int i = 0; i < 60; i++) if (isinf(var[i]) || var[i] < 0) { violation("simulate var[%d] = %g", i, var[i]); break; }
    }
}

/* ------------------------------------------------------------------ emulator family */
static int EMU_NB = 20;
static long n_extreme_nonfinite = 0;
static void t_emulator_fixed(void) {
    IaEmulator *e;
    const char *devs[] = {"gpu", "cuda:99", "cuda:-1", "", "CPU ", "cpu\n", "cuda:", "cuda:0:0", "cuda:18446744073709551617", "\xff", "auto auto"};
    for (size_t i = 0; i < sizeof devs / sizeof devs[0]; i++) {
        desc("ia_emulator_load(NULL, device \"%s\")", devs[i]);
        guard(&e, sizeof e);
        /* "cpu\n" is accepted (the device string is trimmed): allowed, reported in the README */
        if (post(F_EMU, "ia_emulator_load", ia_emulator_load(NULL, devs[i], &e), A_INV | A_UNS | (i == 5 ? A_OK : 0)) == IA_OK) ia_emulator_free(e);
    }
    desc("ia_emulator_load(NULL, \"cuda\")");
    guard(&e, sizeof e);
    if (post(F_EMU, "ia_emulator_load", ia_emulator_load(NULL, "cuda", &e), A_UNS | A_OK) == IA_OK) ia_emulator_free(e);
    const char *paths[] = {"", "/nonexistent-iaemu/m.safetensors", "/", g_tmp, tmpf("empty.safetensors"), tmpf("garbage.safetensors"),
                           tmpf("small.safetensors"), tmpf("u.hdf5"), tmpf("garbage.bin"), "/dev/null"};
    for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++) {
        desc("ia_emulator_load(\"%s\", \"cpu\")", paths[i]);
        guard(&e, sizeof e);
        if (post(F_EMU, "ia_emulator_load", ia_emulator_load(paths[i], "cpu", &e), A_INV | A_IO) == IA_OK) ia_emulator_free(e);
    }
    desc("ia_emulator_load(NULL, cpu, NULL out)");
    post(F_EMU, "ia_emulator_load", ia_emulator_load(NULL, "cpu", NULL), A_INV);
    if (getenv("IAEMU_ABI_NO_EMU") && atoi(getenv("IAEMU_ABI_NO_EMU"))) return;
    desc("ia_emulator_load(NULL, \"cpu\")");
    guard(&EMU, sizeof EMU);
    int st = post(F_EMU, "ia_emulator_load", ia_emulator_load(NULL, "cpu", &EMU), A_OK);
    if (st != IA_OK) { EMU = NULL; return; }
    desc("ia_emulator_info(EMU, NULL)");
    post(F_EMU, "ia_emulator_info", ia_emulator_info(EMU, NULL), A_INV);
    desc("ia_emulator_info(EMU, &EI)");
    post(F_EMU, "ia_emulator_info", ia_emulator_info(EMU, &EI), A_OK);
    EMU_NB = (int)EI.n_bins;
    if (EI.n_params != 7 || EI.n_statistics != 3 || EI.n_bins == 0 || EI.n_bins > 200) violation("emulator info sizes %zu %zu %zu", EI.n_params, EI.n_statistics, EI.n_bins);
    for (int k = 0; k < 7; k++) if (!(EI.domain_min[k] < EI.domain_max[k])) violation("domain %d: [%g, %g]", k, EI.domain_min[k], EI.domain_max[k]);
    size_t nb = EI.n_bins;
    double *out = malloc((21 * 4 * nb + 8) * sizeof(double));
    double *out2 = malloc((21 * 4 * nb + 8) * sizeof(double));
    size_t lens[] = {0, nb, nb + 2, SIZE_MAX, SIZE_MAX / 8};
    for (int i = 0; i < 5; i++) {
        desc("ia_emulator_r_edges(EMU, out, %zu) (needs %zu)", lens[i], nb + 1);
        guard(out, (lens[i] < nb + 1 ? lens[i] : nb + 1) * sizeof(double));
        post(F_EMU, "ia_emulator_r_edges", ia_emulator_r_edges(EMU, out, lens[i]), A_INV);
    }
    desc("ia_emulator_r_edges(EMU, NULL, nb+1)");
    post(F_EMU, "ia_emulator_r_edges", ia_emulator_r_edges(EMU, NULL, nb + 1), A_INV);
    desc("ia_emulator_r_edges(EMU, out, nb+1)");
    if (post(F_EMU, "ia_emulator_r_edges", ia_emulator_r_edges(EMU, out, nb + 1), A_OK) == IA_OK)
        for (size_t i = 0; i < nb; i++) if (!(out[i] > 0 && out[i] < out[i + 1] && isfinite(out[i + 1]))) { violation("emulator edges bad at %zu", i); break; }
    /* a memory budget too small for 20000 Monte Carlo passes of the built-in model */
    desc("ia_set_memory_budget(64 MiB), then ia_predict_batch(EMU, P0, 1, mc 20000)");
    post(F_LIB, "ia_set_memory_budget", ia_set_memory_budget(64ull << 20), A_OK);
    guard(out, 3 * nb * 8);
    post(F_EMU, "ia_predict_batch", ia_predict_batch(EMU, P0, 1, 20000, 1, out, NULL, NULL, NULL), A_OOM);
    desc("ia_set_memory_budget(0)");
    post(F_LIB, "ia_set_memory_budget", ia_set_memory_budget(0), A_OK);
    double pp[14];
    memcpy(pp, P0, sizeof P0); memcpy(pp + 7, P1, sizeof P1);
    uint32_t fl[4];
    desc("ia_predict_batch(EMU, NULL params, 1)"); guard(out, 3 * nb * 8); guard(fl, 4);
    post(F_EMU, "ia_predict_batch", ia_predict_batch(EMU, NULL, 1, 1, 1, out, NULL, NULL, fl), A_INV);
    desc("ia_predict_batch(EMU, P0, 1, mc 1, out_mean NULL)"); guard(fl, 4);
    post(F_EMU, "ia_predict_batch", ia_predict_batch(EMU, P0, 1, 1, 1, NULL, NULL, NULL, fl), A_INV | A_OK);
    desc("ia_predict_batch(EMU, P0, 1, mc 0)"); guard(out, 3 * nb * 8); guard(fl, 4);
    post(F_EMU, "ia_predict_batch", ia_predict_batch(EMU, P0, 1, 0, 1, out, NULL, NULL, fl), A_INV);
    size_t nl[] = {0, SIZE_MAX, SIZE_MAX / 8, SIZE_MAX / 7 + 1, SIZE_MAX / 56 + 1};
    for (int i = 0; i < 5; i++) {
        desc("ia_predict_batch(EMU, pp, n=%zu, mc 1)", nl[i]);
        guard(out, 6 * nb * 8); guard_flags(fl, 8);
        post(F_EMU, "ia_predict_batch", ia_predict_batch(EMU, pp, nl[i], 1, 1, out, NULL, NULL, fl), nl[i] == 0 ? (A_OK | A_INV) : A_INV);
        desc("ia_predict_jacobian(EMU, pp, n=%zu)", nl[i]);
        guard(out, 42 * nb * 8); guard_flags(fl, 8);
        post(F_EMU, "ia_predict_jacobian", ia_predict_jacobian(EMU, pp, nl[i], out2, out, fl), nl[i] == 0 ? (A_OK | A_INV) : A_INV);
    }
    desc("ia_predict_jacobian(EMU, NULL params)"); guard(out, 21 * nb * 8);
    post(F_EMU, "ia_predict_jacobian", ia_predict_jacobian(EMU, NULL, 1, NULL, out, NULL), A_INV);
    desc("ia_predict_jacobian(EMU, P0, 1, mean, NULL jacobian)"); guard(out2, 3 * nb * 8);
    post(F_EMU, "ia_predict_jacobian", ia_predict_jacobian(EMU, P0, 1, out2, NULL, NULL), A_INV);
    desc("ia_predict_batch(EMU, NULL emu)"); guard(out, 3 * nb * 8);
    post(F_EMU, "ia_predict_batch", ia_predict_batch(NULL, P0, 1, 1, 1, out, NULL, NULL, NULL), A_INV);
    desc("ia_predict_jacobian(NULL emu)"); guard(out, 21 * nb * 8);
    post(F_EMU, "ia_predict_jacobian", ia_predict_jacobian(NULL, P0, 1, NULL, out, NULL), A_INV);
    desc("ia_emulator_info(NULL)"); IaEmulatorInfo ei; guard(&ei, sizeof ei);
    post(F_EMU, "ia_emulator_info", ia_emulator_info(NULL, &ei), A_INV);
    desc("ia_emulator_r_edges(NULL)"); guard(out, (nb + 1) * 8);
    post(F_EMU, "ia_emulator_r_edges", ia_emulator_r_edges(NULL, out, nb + 1), A_INV);
    desc("ia_emulator_set_extrapolation(NULL, 1)");
    post(F_EMU, "ia_emulator_set_extrapolation", ia_emulator_set_extrapolation(NULL, 1), A_INV);
    desc("ia_emulator_free(NULL)");
    post(F_EMU, "ia_emulator_free", ia_emulator_free(NULL), A_OK);
    /* a second model, freed, then used */
    IaEmulator *e2;
    desc("ia_emulator_load(NULL, \"auto\") second model"); guard(&e2, sizeof e2);
    if (post(F_EMU, "ia_emulator_load", ia_emulator_load(NULL, NULL, &e2), A_OK) == IA_OK) {
        desc("ia_emulator_free(e2)");
        post(F_EMU, "ia_emulator_free", ia_emulator_free(e2), A_OK);
        desc("ia_emulator_free(e2) again (double free)");
        post(F_EMU, "ia_emulator_free", ia_emulator_free(e2), A_INV);
        desc("ia_emulator_info(freed e2)"); guard(&ei, sizeof ei);
        post(F_EMU, "ia_emulator_info", ia_emulator_info(e2, &ei), A_INV);
        desc("ia_emulator_r_edges(freed e2)"); guard(out, (nb + 1) * 8);
        post(F_EMU, "ia_emulator_r_edges", ia_emulator_r_edges(e2, out, nb + 1), A_INV);
        desc("ia_emulator_set_extrapolation(freed e2)");
        post(F_EMU, "ia_emulator_set_extrapolation", ia_emulator_set_extrapolation(e2, 0), A_INV);
        desc("ia_predict_batch(freed e2)"); guard(out, 3 * nb * 8); guard(fl, 4);
        post(F_EMU, "ia_predict_batch", ia_predict_batch(e2, P0, 1, 1, 1, out, NULL, NULL, fl), A_INV);
        desc("ia_predict_jacobian(freed e2)"); guard(out, 21 * nb * 8); guard(fl, 4);
        post(F_EMU, "ia_predict_jacobian", ia_predict_jacobian(e2, P0, 1, NULL, out, fl), A_INV);
    }
    /* EMU used as halos / galaxies / result */
    IaHalosInfo hi; size_t cnt, nbins; IaGalaxies *g;
    desc("ia_halos_info(EMU as IaHalos*)"); guard(&hi, sizeof hi);
    post(F_HALOS, "ia_halos_info", ia_halos_info((IaHalos *)EMU, &hi), A_INV);
    desc("ia_populate(EMU as IaHalos*)"); guard(&g, sizeof g);
    post(F_GAL, "ia_populate", ia_populate((IaHalos *)EMU, P0, 1, &g), A_INV);
    desc("ia_galaxies_count(EMU as IaGalaxies*)"); guard(&cnt, sizeof cnt);
    post(F_GAL, "ia_galaxies_count", ia_galaxies_count((IaGalaxies *)EMU, &cnt), A_INV);
    desc("ia_corr_result_n_bins(EMU as IaCorrResult*)"); guard(&nbins, sizeof nbins);
    post(F_CORR, "ia_corr_result_n_bins", ia_corr_result_n_bins((IaCorrResult *)EMU, &nbins), A_INV);
    desc("ia_halos_free(EMU as IaHalos*)");
    post(F_HALOS, "ia_halos_free", ia_halos_free((IaHalos *)EMU), A_INV);
    desc("ia_emulator_info(EMU) after wrong-kind free"); guard(&ei, sizeof ei);
    post(F_EMU, "ia_emulator_info", ia_emulator_info(EMU, &ei), A_OK);
    free(out); free(out2);
}

/* ------------------------------------------------------------------ train */
static int train_calls;
static int train_cb(const IaTrainEpoch *e, void *u) { (void)e; (void)u; train_calls++; return 1; }
static void t_train(void) {
    mkdir(tmpf("emptydir"), 0755);
    const char *cfgs[] = {NULL, "", "{", "[]", "{\"epochs\": -1}", "{\"no_such_key\": 1}", "null", "\xff\xfe"};
    const char *dirs[] = {NULL, "", "/nonexistent-iaemu/data", tmpf("emptydir"), tmpf("garbage.bin")};
    const char *outs[] = {NULL, "", "/nonexistent-iaemu/m.safetensors", tmpf("trained.safetensors")};
    for (size_t c = 0; c < sizeof cfgs / sizeof cfgs[0]; c++)
        for (size_t d = 0; d < sizeof dirs / sizeof dirs[0]; d++)
            for (size_t o = 0; o < sizeof outs / sizeof outs[0]; o++) {
                if (c > 1 && d > 2 && o < 3) continue; /* keep the product small */
                desc("ia_train(config %s, data_dir \"%s\", out \"%s\", cb)", cfgs[c] ? cfgs[c] : "(NULL)",
                     dirs[d] ? dirs[d] : "(NULL)", outs[o] ? outs[o] : "(NULL)");
                post(F_TRAIN, "ia_train", ia_train(cfgs[c], dirs[d], outs[o], (c & 1) ? train_cb : NULL, NULL), A_INV | A_IO);
            }
    if (train_calls) violation("the ia_train progress callback ran %d times without a dataset", train_calls);
}

/* ------------------------------------------------------------------ expect family */
/* Tables of a tiny universe (box 20, grid 8, seed 1: ~500 hosts) with 4 bins of at most 8 Mpc/h;
 * one valid build in the fixed cases (the fixed cost of a build, ~0.5 s, is ~35 s under
 * valgrind), failed builds (refused before any work), and random builds capped by
 * IAEMU_ABI_TABLE_BUILDS. */
static IaHalos *TU;              /* the tiny universe */
static IaTable *T;               /* its table */
static IaTableInfo TI;
static double T_EDGES[5] = {0.5, 1, 2, 4, 8};
static long table_build_cap = -1, n_table_builds = 0;
static const char *expect_fn[3] = {"ia_expect_batch", "ia_expect_jacobian", "ia_expect_parts"};

/* Values per point of function f (0 batch, 1 jacobian, 2 parts) for nb bins. */
static size_t expect_per(int f, size_t nb) { return f == 0 ? 3 * nb : f == 1 ? 21 * nb : 5 * 3 * nb; }

/* Calls function f with everything given; out_ng only for the batch. */
static int expect_call(int f, const IaTable *t, const double *p, size_t n, const IaExpectOptions *o, double *out,
                       size_t len, double *out_ng) {
    if (f == 0) return ia_expect_batch(t, p, n, o, out, len, out_ng);
    if (f == 1) return ia_expect_jacobian(t, p, n, o, out, len);
    return ia_expect_parts(t, p, n, o, out, len);
}

/* Property checks of a successful evaluation of n points (outputs as written). */
static void check_expect(int f, size_t nb, size_t n, const double *out, const double *ng, const double *mean_for_parts) {
    size_t per = expect_per(f, nb);
    for (size_t i = 0; i < n; i++) {
        const double *o = out + i * per;
        if (ng && !(ng[i] >= 2 && isfinite(ng[i]))) violation("point %zu: E[N] = %g (at least 2 are needed)", i, ng[i]);
        if (f == 0) {
            for (size_t b = 0; b < nb; b++)
                if (!isfinite(o[b]) || o[b] < -1 - 1e-12) { violation("point %zu: xi[%zu] = %g", i, b, o[b]); break; }
            for (size_t b = nb; b < 3 * nb; b++)
                if (isinf(o[b]) || fabs(o[b]) > 1 + 1e-9) { violation("point %zu: omega/eta[%zu] = %g", i, b, o[b]); break; }
        } else if (f == 1) {
            for (size_t k = 0; k < 7 * nb; k++)
                if (!isfinite(o[k])) { violation("point %zu: d xi / d p [%zu] = %g", i, k, o[k]); break; }
            for (size_t k = 7 * nb; k < 21 * nb; k++)
                if (isinf(o[k])) { violation("point %zu: d omega,eta / d p [%zu] infinite", i, k); break; }
        } else {
            for (size_t k = 0; k < per; k++)
                if (isinf(o[k])) { violation("point %zu: part value [%zu] infinite", i, k); break; }
            if (mean_for_parts) {
                const double *m = mean_for_parts + i * 3 * nb;
                for (size_t s = 0; s < 3; s++) {
                    double scale = 0;
                    for (size_t b = 0; b < nb; b++) {
                        double v = fabs(s == 0 ? 1 + m[b] : m[s * nb + b]);
                        if (v > scale) scale = v;
                    }
                    for (size_t b = 0; b < nb; b++) {
                        double sum = 0, want = s == 0 ? 1 + m[b] : m[s * nb + b];
                        for (size_t k = 0; k < 5; k++) sum += o[k * 3 * nb + s * nb + b];
                        if (isnan(want) && isnan(sum)) continue;
                        if (!(fabs(sum - want) <= 1e-9 * scale)) {
                            violation("point %zu statistic %zu bin %zu: parts add up to %.17g, not %.17g", i, s, b, sum, want);
                            s = 3;
                            break;
                        }
                    }
                }
            }
        }
    }
}

static void t_expect_fixed(void) {
    IaTableOptions to;
    IaExpectOptions eo;
    desc("ia_table_options_default(NULL)");
    post(F_EXPECT, "ia_table_options_default", ia_table_options_default(NULL), A_INV);
    desc("ia_table_options_default(&to)");
    post(F_EXPECT, "ia_table_options_default", ia_table_options_default(&to), A_OK);
    desc("ia_expect_options_default(NULL)");
    post(F_EXPECT, "ia_expect_options_default", ia_expect_options_default(NULL), A_INV);
    desc("ia_expect_options_default(&eo)");
    post(F_EXPECT, "ia_expect_options_default", ia_expect_options_default(&eo), A_OK);
    if (to.r_edges || to.satellites != IA_SATELLITES_AUTO || eo.xi_normalization != IA_XI_N_SQUARED || eo.n_threads)
        violation("option defaults: r_edges %p satellites %d xi_normalization %d", (const void *)to.r_edges, to.satellites,
                  eo.xi_normalization);
    IaSyntheticOptions so;
    ia_synthetic_options_default(&so);
    so.box_size = 20; so.grid = 8; so.seed = 1;
    desc("ia_halos_synthetic(box 20, grid 8, seed 1) for the tables");
    guard(&TU, sizeof TU);
    if (post(F_EXPECT, "ia_halos_synthetic", ia_halos_synthetic(&so, &TU), A_OK) != IA_OK) { fprintf(stderr, "cannot make the tiny universe\n"); exit(2); }
    IaTableOptions base = to;
    base.r_edges = T_EDGES; base.n_edges = 5; base.mass_bin_dex = 0.5; base.draws_per_mass_bin = 1024; base.tracers_two_halo = 1;
    IaTable *t;
    int stackvar = 0;
    void *forged[] = {NULL, (void *)1, (void *)(uintptr_t)0xdeadbeef, &stackvar, SENT_PTR, (void *)(uintptr_t)rnd(), (void *)(uintptr_t)-1};
    const char *fname[] = {"NULL", "1", "0xdeadbeef", "&stackvar", "0xA5A5..", "random", "-1"};
    size_t nforged = sizeof forged / sizeof forged[0];

    /* ia_table_build: NULL output, NULL/forged halos, bad options (all refused before any work) */
    desc("ia_table_build(TU, options, NULL out)");
    post(F_EXPECT, "ia_table_build", ia_table_build(TU, &base, NULL), A_INV);
    for (size_t i = 0; i < nforged; i++) {
        desc("ia_table_build(%s as IaHalos*)", fname[i]);
        guard(&t, sizeof t);
        post(F_EXPECT, "ia_table_build", ia_table_build(forged[i], &base, &t), A_INV);
    }
    desc("ia_table_build(TU box 20, NULL options: default bins to 16 Mpc/h do not fit)");
    guard(&t, sizeof t);
    post(F_EXPECT, "ia_table_build", ia_table_build(TU, NULL, &t), A_INV);
    struct { const char *what; IaTableOptions o; } bo[48];
    int nb = 0;
    static double e_unsorted[] = {1, 3, 2, 4}, e_dup[] = {1, 2, 2, 4}, e_neg[] = {-1, 1, 2}, e_zero[] = {0, 1, 2},
                  e_nan[] = {1, NAN, 3}, e_inf[] = {1, 2, INFINITY}, e_big[] = {1, 5, 10}, e_one[] = {1};
#define BT(W, FIELD) do { bo[nb].what = W; bo[nb].o = base; bo[nb].o.FIELD; nb++; } while (0)
    BT("satellites 7", satellites = 7); BT("satellites -1", satellites = -1); BT("satellites INT32_MIN", satellites = INT32_MIN);
    BT("mass_bin_dex 0", mass_bin_dex = 0); BT("mass_bin_dex NaN", mass_bin_dex = NAN); BT("mass_bin_dex inf", mass_bin_dex = INFINITY);
    BT("mass_bin_dex -0.1", mass_bin_dex = -0.1); BT("mass_bin_dex 0.009", mass_bin_dex = 0.009); BT("mass_bin_dex 1.01", mass_bin_dex = 1.01);
    BT("mass_bin_dex 5e-324", mass_bin_dex = 5e-324);
    BT("draws_per_mass_bin 0", draws_per_mass_bin = 0); BT("draws_per_mass_bin 1023", draws_per_mass_bin = 1023);
    BT("draws_per_mass_bin 2^30+1", draws_per_mass_bin = (1ull << 30) + 1); BT("draws_per_mass_bin UINT64_MAX", draws_per_mass_bin = UINT64_MAX);
    BT("tracers_two_halo 0", tracers_two_halo = 0); BT("tracers_two_halo 65", tracers_two_halo = 65);
    BT("tracers_two_halo UINT32_MAX", tracers_two_halo = UINT32_MAX);
    BT("min_host_particles NaN", min_host_particles = NAN); BT("min_host_particles -1", min_host_particles = -1);
    BT("min_host_particles inf", min_host_particles = INFINITY); BT("min_host_particles 1e12 (no host)", min_host_particles = 1e12);
    BT("n_threads 5000", n_threads = 5000); BT("n_threads UINT32_MAX", n_threads = UINT32_MAX);
    BT("edges unsorted", r_edges = e_unsorted); bo[nb - 1].o.n_edges = 4;
    BT("edges duplicate", r_edges = e_dup); bo[nb - 1].o.n_edges = 4;
    BT("edges negative", r_edges = e_neg); bo[nb - 1].o.n_edges = 3;
    BT("edges zero first", r_edges = e_zero); bo[nb - 1].o.n_edges = 3;
    BT("edges NaN", r_edges = e_nan); bo[nb - 1].o.n_edges = 3;
    BT("edges inf", r_edges = e_inf); bo[nb - 1].o.n_edges = 3;
    BT("edges r_max 10 = L/2", r_edges = e_big); bo[nb - 1].o.n_edges = 3;
    BT("edges one value", r_edges = e_one); bo[nb - 1].o.n_edges = 1;
    BT("edges n_edges 0", n_edges = 0);
    BT("edges n_edges SIZE_MAX", n_edges = SIZE_MAX);
    BT("edges n_edges SIZE_MAX/8+1", n_edges = SIZE_MAX / 8 + 1);
#undef BT
    for (int i = 0; i < nb; i++) {
        desc("ia_table_build(TU, options: %s)", bo[i].what);
        guard(&t, sizeof t);
        if (post(F_EXPECT, "ia_table_build", ia_table_build(TU, &bo[i].o, &t), A_INV) == IA_OK) ia_table_free(t);
    }
    /* the table used by every later case */
    desc("ia_table_build(TU, edges 0.5..8 (4 bins), mass_bin_dex 0.5, draws 1024, tracers 1)");
    guard(&T, sizeof T);
    if (post(F_EXPECT, "ia_table_build", ia_table_build(TU, &base, &T), A_OK) != IA_OK) { fprintf(stderr, "cannot build the table\n"); exit(2); }
    n_table_builds++;
    desc("ia_table_info(T, NULL)");
    post(F_EXPECT, "ia_table_info", ia_table_info(T, NULL), A_INV);
    desc("ia_table_info(T, &TI)");
    guard(&TI, sizeof TI);
    post(F_EXPECT, "ia_table_info", ia_table_info(T, &TI), A_OK);
    if (TI.n_bins != 4 || (TI.satellites != IA_SATELLITES_SUBHALOS && TI.satellites != IA_SATELLITES_NFW) || TI.n_hosts == 0 ||
        TI.box_size[0] != 20 || TI.box_size[1] != 20 || TI.box_size[2] != 20 || TI.size_bytes == 0)
        violation("table info: %zu bins, satellites %d, %zu hosts, box %g, %zu bytes", TI.n_bins, TI.satellites, TI.n_hosts,
                  TI.box_size[0], TI.size_bytes);
    size_t tnb = TI.n_bins;
    double edges[8];
    size_t elen[] = {0, tnb, tnb + 2, SIZE_MAX, SIZE_MAX / 8, SIZE_MAX / 8 + 1};
    for (size_t i = 0; i < sizeof elen / sizeof elen[0]; i++) {
        desc("ia_table_r_edges(T, out, %zu) (needs %zu)", elen[i], tnb + 1);
        guard(edges, (elen[i] < tnb + 1 ? elen[i] : tnb + 1) * sizeof(double));
        post(F_EXPECT, "ia_table_r_edges", ia_table_r_edges(T, edges, elen[i]), A_INV);
    }
    desc("ia_table_r_edges(T, NULL, %zu)", tnb + 1);
    post(F_EXPECT, "ia_table_r_edges", ia_table_r_edges(T, NULL, tnb + 1), A_INV);
    desc("ia_table_r_edges(T, out, %zu)", tnb + 1);
    guard(edges, (tnb + 1) * sizeof(double));
    if (post(F_EXPECT, "ia_table_r_edges", ia_table_r_edges(T, edges, tnb + 1), A_OK) == IA_OK && memcmp(edges, T_EDGES, sizeof T_EDGES) != 0)
        violation("table edges are not the edges it was built with");

    /* ia_expect_*: a valid pair of points, then every argument made hostile in turn */
    double pp[14];
    memcpy(pp, P0, sizeof P0); memcpy(pp + 7, P1, sizeof P1);
    size_t maxper = expect_per(1, tnb);
    double *out = malloc((2 * maxper + 8) * sizeof(double)), *mean = malloc(6 * tnb * sizeof(double)), ng[2], ng1[2];
    double *one = malloc((maxper + 8) * sizeof(double));
    desc("ia_expect_batch(T, P0 P1, 2, NULL, out, %zu, ng)", 6 * tnb);
    guard(mean, 6 * tnb * sizeof(double)); guard(ng, sizeof ng);
    if (post(F_EXPECT, "ia_expect_batch", ia_expect_batch(T, pp, 2, NULL, mean, 6 * tnb, ng), A_OK) != IA_OK) { fprintf(stderr, "cannot evaluate the table\n"); exit(2); }
    check_expect(0, tnb, 2, mean, ng, NULL);
    for (int f = 0; f < 3; f++) {
        const char *fn = expect_fn[f];
        size_t per = expect_per(f, tnb);
        desc("%s(T, P0 P1, 2, NULL options, out, %zu%s)", fn, 2 * per, f ? "" : ", NULL out_n_galaxies");
        guard(out, 2 * per * sizeof(double));
        if (post(F_EXPECT, fn, expect_call(f, T, pp, 2, NULL, out, 2 * per, NULL), A_OK) == IA_OK) {
            check_expect(f, tnb, 2, out, NULL, mean);
            if (f == 0 && memcmp(out, mean, 6 * tnb * sizeof(double)) != 0) violation("NULL out_n_galaxies changed the means");
            /* a batch of two is the two single-point calls */
            for (int i = 0; i < 2; i++) {
                desc("%s(T, P%d, 1) against the batch of two", fn, i);
                guard(one, per * sizeof(double)); if (f == 0) guard(ng1, sizeof(double));
                if (post(F_EXPECT, fn, expect_call(f, T, pp + 7 * i, 1, &eo, one, per, f == 0 ? ng1 : NULL), A_OK) == IA_OK &&
                    (memcmp(one, out + i * per, per * sizeof(double)) != 0 || (f == 0 && ng1[0] != ng[i])))
                    violation("%s: point %d alone differs from the batch", fn, i);
            }
        }
        desc("%s(NULL table)", fn);
        guard(out, 2 * per * sizeof(double)); if (f == 0) guard(ng1, sizeof ng1);
        post(F_EXPECT, fn, expect_call(f, NULL, pp, 2, NULL, out, 2 * per, ng1), A_INV);
        desc("%s(T, NULL params, 2)", fn);
        guard(out, 2 * per * sizeof(double)); if (f == 0) guard(ng1, sizeof ng1);
        post(F_EXPECT, fn, expect_call(f, T, NULL, 2, NULL, out, 2 * per, ng1), A_INV);
        desc("%s(T, P0 P1, 2, NULL out)", fn);
        if (f == 0) guard(ng1, sizeof ng1);
        post(F_EXPECT, fn, expect_call(f, T, pp, 2, NULL, NULL, 2 * per, ng1), A_INV);
        size_t nl[] = {0, SIZE_MAX, SIZE_MAX / 8, SIZE_MAX / 7 + 1, SIZE_MAX / 56 + 1, SIZE_MAX / 3 + 1};
        for (size_t i = 0; i < sizeof nl / sizeof nl[0]; i++) {
            desc("%s(T, P0 P1, n=%zu, out, %zu)", fn, nl[i], 2 * per);
            guard(out, 2 * per * sizeof(double)); if (f == 0) guard(ng1, sizeof ng1);
            post(F_EXPECT, fn, expect_call(f, T, pp, nl[i], NULL, out, 2 * per, ng1), A_INV);
        }
        size_t ol[] = {0, 2 * per - 1, 2 * per + 1, per, SIZE_MAX, SIZE_MAX / 8, SIZE_MAX / 8 + 1};
        for (size_t i = 0; i < sizeof ol / sizeof ol[0]; i++) {
            desc("%s(T, P0 P1, 2, out, out_len %zu) (needs %zu)", fn, ol[i], 2 * per);
            guard(out, (ol[i] < 2 * per ? ol[i] : 2 * per) * sizeof(double)); if (f == 0) guard(ng1, sizeof ng1);
            post(F_EXPECT, fn, expect_call(f, T, pp, 2, NULL, out, ol[i], ng1), A_INV);
        }
        IaExpectOptions bo2[5];
        const char *bw[5] = {"xi_normalization 2", "xi_normalization -1", "xi_normalization INT32_MIN", "n_threads 5000", "n_threads UINT32_MAX"};
        for (int i = 0; i < 5; i++) bo2[i] = eo;
        bo2[0].xi_normalization = 2; bo2[1].xi_normalization = -1; bo2[2].xi_normalization = INT32_MIN;
        bo2[3].n_threads = 5000; bo2[4].n_threads = UINT32_MAX;
        for (int i = 0; i < 5; i++) {
            desc("%s(T, P0 P1, 2, options: %s)", fn, bw[i]);
            guard(out, 2 * per * sizeof(double)); if (f == 0) guard(ng1, sizeof ng1);
            post(F_EXPECT, fn, expect_call(f, T, pp, 2, &bo2[i], out, 2 * per, ng1), A_INV);
        }
        /* invalid parameters, in row 0 or row 1: refused, naming the row */
        for (int k = 0; k < 7; k++) {
            double bad[] = {NAN, INFINITY, -INFINITY, 1.5, -1.0000001, 0.0, -0.0, -1.0};
            for (size_t j = 0; j < sizeof bad / sizeof bad[0]; j++) {
                int invalid = j < 3 || ((k == 0 || k == 1) && (j == 3 || j == 4)) || (k == 3 && j >= 5);
                if (!invalid) continue;
                int row = (int)((k + j) % 2);
                double p[14];
                memcpy(p, pp, sizeof p);
                p[7 * row + k] = bad[j];
                desc("%s(T, 2 points, row %d parameter %d = %g)", fn, row, k, bad[j]);
                guard(out, 2 * per * sizeof(double)); if (f == 0) guard(ng1, sizeof ng1);
                if (post(F_EXPECT, fn, expect_call(f, T, p, 2, NULL, out, 2 * per, ng1), A_INV) == IA_ERR_INVALID_ARGUMENT) {
                    char rowname[16];
                    snprintf(rowname, sizeof rowname, "row %d", row);
                    if (!strstr(ia_last_error_message(), rowname)) violation("the message does not name %s: \"%s\"", rowname, ia_last_error_message());
                }
            }
        }
        /* finite values at the edges of or far outside the usual ranges: a result or a refusal */
        struct { int k; double v; } ext[] = {{0, 1.0}, {1, -1.0}, {0, 5e-324}, {3, 1e308}, {3, 5e-324}, {2, 1e308}, {2, -1e308},
                                             {4, 1e308}, {4, -1e308}, {5, 1e308}, {6, 0.0}};
        for (size_t i = 0; i < sizeof ext / sizeof ext[0]; i++) {
            double p[7];
            memcpy(p, P0, sizeof p);
            p[ext[i].k] = ext[i].v;
            desc("%s(T, P0 with parameter %d = %g)", fn, ext[i].k, ext[i].v);
            guard(out, per * sizeof(double)); if (f == 0) guard(ng1, sizeof(double));
            int st = post(F_EXPECT, fn, expect_call(f, T, p, 1, NULL, out, per, ng1), A_OK | A_INV);
            if (st == IA_OK && fabs(ext[i].v) < 1e300 && ext[i].v != 5e-324) check_expect(f, tnb, 1, out, f == 0 ? ng1 : NULL, NULL);
        }
        /* finite parameters whose mean satellite number is huge (M0 = 0): refused (at most 1e6
         * satellites on average in a host), never IA_ERR_INTERNAL, a hang or an abort */
        double huge[][7] = {{0.5, 0.5, 12, 0.3, -1e308, -1e308, 1.0}, {0.5, 0.5, 12, 0.3, -1e308, 0.0, 3.0},
                            {0.5, 0.5, 12, 0.3, -1e308, 11.0, 1e308}, {0.5, 0.5, 12, 0.3, -1e308, 1.0, 4.0},
                            {0.5, 0.5, 12, 0.3, -1e308, 16.0, -1e308}};
        for (size_t i = 0; i < sizeof huge / sizeof huge[0]; i++) {
            char pb[300];
            desc("%s(T, params=[%s]) (huge satellite mean)", fn, fmtv(pb, sizeof pb, huge[i], 7));
            guard(out, per * sizeof(double)); if (f == 0) guard(ng1, sizeof(double));
            post(F_EXPECT, fn, expect_call(f, T, huge[i], 1, NULL, out, per, ng1), A_INV);
        }
        /* no galaxies expected: refused as ia_simulate refuses fewer than 2 */
        double empty[7] = {0, 0, 16.5, 0.1, 16.5, 17, 1};
        desc("%s(T, params with no galaxies)", fn);
        guard(out, per * sizeof(double)); if (f == 0) guard(ng1, sizeof(double));
        post(F_EXPECT, fn, expect_call(f, T, empty, 1, NULL, out, per, ng1), A_INV);
    }
    free(one);

    /* save: hostile paths (no file left behind), then a round trip that must give the same numbers */
    mkdir(tmpf("tdir.npz"), 0755);
    const char *badsave[] = {NULL, "", "/nonexistent-dir-iaemu/t.npz", g_tmp, tmpf("t.txt"), tmpf("tnoext"), tmpf("t.hdf5"),
                             tmpf("tdir.npz"), "/proc/version.npz", tmpf("missing-dir/t.npz")};
    struct stat stt;
    for (size_t i = 0; i < sizeof badsave / sizeof badsave[0]; i++) {
        desc("ia_table_save(T, \"%s\")", badsave[i] ? badsave[i] : "(NULL)");
        post(F_EXPECT, "ia_table_save", ia_table_save(T, badsave[i]), badsave[i] ? (A_INV | A_IO) : A_INV);
        if (badsave[i] && i >= 4 && i <= 6 && stat(badsave[i], &stt) == 0) violation("a failed save left a file at %s", badsave[i]);
    }
    static char tpath[1024];
    snprintf(tpath, sizeof tpath, "%s", tmpf("t.npz"));
    for (size_t i = 0; i < nforged; i++) {
        desc("ia_table_save(%s as IaTable*, t.npz)", fname[i]);
        post(F_EXPECT, "ia_table_save", ia_table_save(forged[i], tpath), A_INV);
    }
    desc("ia_table_save(T, \"%s\")", tpath);
    IaTable *T2 = NULL;
    if (post(F_EXPECT, "ia_table_save", ia_table_save(T, tpath), A_OK) == IA_OK) {
        desc("ia_table_load(\"%s\", NULL)", tpath);
        post(F_EXPECT, "ia_table_load", ia_table_load(tpath, NULL), A_INV);
        desc("ia_table_load(\"%s\") round trip", tpath);
        guard(&T2, sizeof T2);
        if (post(F_EXPECT, "ia_table_load", ia_table_load(tpath, &T2), A_OK) == IA_OK) {
            IaTableInfo bi;
            desc("ia_table_info(reloaded T2)");
            guard(&bi, sizeof bi);
            if (post(F_EXPECT, "ia_table_info", ia_table_info(T2, &bi), A_OK) == IA_OK &&
                (bi.n_bins != TI.n_bins || bi.satellites != TI.satellites || bi.n_hosts != TI.n_hosts || bi.n_subhalos != TI.n_subhalos ||
                 bi.size_bytes != TI.size_bytes || memcmp(bi.box_size, TI.box_size, sizeof bi.box_size) != 0))
                violation("the round trip changed the table's info");
            for (int f = 0; f < 3; f++) {
                size_t per = expect_per(f, tnb);
                double *a = malloc(2 * per * sizeof(double)), *b = malloc(2 * per * sizeof(double));
                desc("%s(T) and (reloaded T2): the same numbers", expect_fn[f]);
                guard(a, 2 * per * sizeof(double));
                int s1 = post(F_EXPECT, expect_fn[f], expect_call(f, T, pp, 2, NULL, a, 2 * per, NULL), A_OK);
                guard(b, 2 * per * sizeof(double));
                int s2 = post(F_EXPECT, expect_fn[f], expect_call(f, T2, pp, 2, NULL, b, 2 * per, NULL), A_OK);
                if (s1 == IA_OK && s2 == IA_OK && memcmp(a, b, 2 * per * sizeof(double)) != 0) violation("%s differs after the round trip", expect_fn[f]);
                free(a); free(b);
            }
        }
    }
    /* load: hostile paths and contents (garbage, a halo catalogue, truncated and damaged copies) */
    write_file(tmpf("empty.npz"), "", 0);
    write_file(tmpf("tgarbage.npz"), "PK\x03\x04 not a zip archive \x00\x01\xff", 26);
    char *tbuf = NULL;
    size_t tlen = 0;
    {
        FILE *fp = fopen(tpath, "rb");
        if (fp) {
            tbuf = malloc(1 << 22);
            tlen = fread(tbuf, 1, 1 << 22, fp);
            fclose(fp);
            write_file(tmpf("ttrunc.npz"), tbuf, tlen / 2);
            write_file(tmpf("tshort.npz"), tbuf, tlen > 100 ? 100 : tlen);
        }
    }
    const char *badload[] = {NULL, "", "/nonexistent-iaemu/t.npz", "/", g_tmp, tmpf("tdir.npz"), tmpf("empty.npz"), tmpf("tgarbage.npz"),
                             tmpf("garbage.npz"), tmpf("u.npz"), tmpf("ttrunc.npz"), tmpf("tshort.npz"), tmpf("u.hdf5"), "/dev/null",
                             "/proc/self/status", "\xff\xfe.npz"};
    for (size_t i = 0; i < sizeof badload / sizeof badload[0]; i++) {
        desc("ia_table_load(\"%s\")", badload[i] ? badload[i] : "(NULL)");
        guard(&t, sizeof t);
        if (post(F_EXPECT, "ia_table_load", ia_table_load(badload[i], &t), badload[i] ? (A_INV | A_IO) : A_INV) == IA_OK) ia_table_free(t);
    }
    /* single damaged bytes: refused (the archive's checksums), or a table that evaluates cleanly */
    for (int i = 0; tbuf && tlen > 200 && i < 6; i++) {
        size_t at = i == 0 ? 60 : i == 1 ? 300 : i == 2 ? tlen / 2 : i == 3 ? tlen - 30 : (size_t)rnd() % tlen;
        char *copy = malloc(tlen);
        memcpy(copy, tbuf, tlen);
        copy[at] ^= (char)(1 + rnd() % 255);
        write_file(tmpf("tflip.npz"), copy, tlen);
        free(copy);
        desc("ia_table_load(copy of t.npz with byte %zu of %zu changed)", at, tlen);
        guard(&t, sizeof t);
        if (post(F_EXPECT, "ia_table_load", ia_table_load(tmpf("tflip.npz"), &t), A_OK | A_INV | A_IO) == IA_OK) {
            desc("ia_expect_batch(damaged table, P0)");
            post(F_EXPECT, "ia_expect_batch", ia_expect_batch(t, P0, 1, NULL, out, 3 * tnb, NULL), A_OK | A_INV);
            desc("ia_table_free(damaged table)");
            post(F_EXPECT, "ia_table_free", ia_table_free(t), A_OK);
        }
    }
    free(tbuf);

    /* forged and wrong-kind handles to every table function; a table to every other handle's */
    IaTableInfo ti;
    void *wrong[] = {(void *)U, (void *)TU};
    const char *wname[] = {"IaHalos U", "IaHalos TU"};
    for (size_t i = 0; i < nforged + 2; i++) {
        void *h = i < nforged ? forged[i] : wrong[i - nforged];
        const char *hn = i < nforged ? fname[i] : wname[i - nforged];
        desc("ia_table_info(%s as IaTable*)", hn);
        guard(&ti, sizeof ti);
        post(F_EXPECT, "ia_table_info", ia_table_info(h, &ti), A_INV);
        desc("ia_table_r_edges(%s as IaTable*)", hn);
        guard(edges, 5 * sizeof(double));
        post(F_EXPECT, "ia_table_r_edges", ia_table_r_edges(h, edges, 5), A_INV);
        for (int f = 0; f < 3; f++) {
            size_t per = expect_per(f, tnb);
            desc("%s(%s as IaTable*)", expect_fn[f], hn);
            guard(out, per * sizeof(double)); if (f == 0) guard(ng1, sizeof(double));
            post(F_EXPECT, expect_fn[f], expect_call(f, h, P0, 1, NULL, out, per, ng1), A_INV);
        }
        desc("ia_table_free(%s as IaTable*)", hn);
        post(F_EXPECT, "ia_table_free", ia_table_free(h), h ? A_INV : A_OK);
    }
    {
        IaHalosInfo hi; size_t cnt, nbins; IaGalaxies *g; IaTable *t3; IaEmulatorInfo ei; double m[60], col[4];
        desc("ia_halos_info(T as IaHalos*)"); guard(&hi, sizeof hi);
        post(F_HALOS, "ia_halos_info", ia_halos_info((IaHalos *)T, &hi), A_INV);
        desc("ia_halos_column_f64(T as IaHalos*)"); guard(col, sizeof col);
        post(F_HALOS, "ia_halos_column_f64", ia_halos_column_f64((IaHalos *)T, "halo_mvir", col, 4), A_INV);
        desc("ia_halos_save(T as IaHalos*)");
        post(F_HALOS, "ia_halos_save", ia_halos_save((IaHalos *)T, tmpf("t-as-halos.npz")), A_INV);
        desc("ia_populate(T as IaHalos*)"); guard(&g, sizeof g);
        post(F_GAL, "ia_populate", ia_populate((IaHalos *)T, P0, 1, &g), A_INV);
        desc("ia_simulate(T as IaHalos*)"); guard(m, sizeof m);
        post(F_SIM, "ia_simulate", ia_simulate((IaHalos *)T, P0, 1, 1, NULL, m, NULL, 60), A_INV);
        desc("ia_table_build(T as IaHalos*)"); guard(&t3, sizeof t3);
        post(F_EXPECT, "ia_table_build", ia_table_build((IaHalos *)T, &base, &t3), A_INV);
        desc("ia_galaxies_count(T as IaGalaxies*)"); guard(&cnt, sizeof cnt);
        post(F_GAL, "ia_galaxies_count", ia_galaxies_count((IaGalaxies *)T, &cnt), A_INV);
        desc("ia_corr_result_n_bins(T as IaCorrResult*)"); guard(&nbins, sizeof nbins);
        post(F_CORR, "ia_corr_result_n_bins", ia_corr_result_n_bins((IaCorrResult *)T, &nbins), A_INV);
        desc("ia_emulator_info(T as IaEmulator*)"); guard(&ei, sizeof ei);
        post(F_EMU, "ia_emulator_info", ia_emulator_info((IaEmulator *)T, &ei), A_INV);
        desc("ia_halos_free(T as IaHalos*)");
        post(F_HALOS, "ia_halos_free", ia_halos_free((IaHalos *)T), A_INV);
        desc("ia_galaxies_free(T as IaGalaxies*)");
        post(F_GAL, "ia_galaxies_free", ia_galaxies_free((IaGalaxies *)T), A_INV);
        desc("ia_corr_result_free(T as IaCorrResult*)");
        post(F_CORR, "ia_corr_result_free", ia_corr_result_free((IaCorrResult *)T), A_INV);
        desc("ia_emulator_free(T as IaEmulator*)");
        post(F_EMU, "ia_emulator_free", ia_emulator_free((IaEmulator *)T), A_INV);
        /* all real handles survived the wrong-kind frees */
        desc("ia_table_info(T) after wrong-kind frees"); guard(&ti, sizeof ti);
        if (post(F_EXPECT, "ia_table_info", ia_table_info(T, &ti), A_OK) == IA_OK && ti.n_hosts != TI.n_hosts) violation("T changed");
        desc("ia_halos_info(U) after wrong-kind table frees"); guard(&hi, sizeof hi);
        post(F_HALOS, "ia_halos_info", ia_halos_info(U, &hi), A_OK);
        desc("ia_halos_info(TU) after wrong-kind table frees"); guard(&hi, sizeof hi);
        post(F_HALOS, "ia_halos_info", ia_halos_info(TU, &hi), A_OK);
    }
    /* a freed table: double free, then every function on it */
    if (T2) {
        desc("ia_table_free(T2)");
        post(F_EXPECT, "ia_table_free", ia_table_free(T2), A_OK);
        desc("ia_table_free(T2) again (double free)");
        post(F_EXPECT, "ia_table_free", ia_table_free(T2), A_INV);
        desc("ia_table_info(freed T2)"); guard(&ti, sizeof ti);
        post(F_EXPECT, "ia_table_info", ia_table_info(T2, &ti), A_INV);
        desc("ia_table_r_edges(freed T2)"); guard(edges, 5 * sizeof(double));
        post(F_EXPECT, "ia_table_r_edges", ia_table_r_edges(T2, edges, 5), A_INV);
        desc("ia_table_save(freed T2)");
        post(F_EXPECT, "ia_table_save", ia_table_save(T2, tmpf("freed-table.npz")), A_INV);
        for (int f = 0; f < 3; f++) {
            size_t per = expect_per(f, tnb);
            desc("%s(freed T2)", expect_fn[f]);
            guard(out, per * sizeof(double)); if (f == 0) guard(ng1, sizeof(double));
            post(F_EXPECT, expect_fn[f], expect_call(f, T2, P0, 1, NULL, out, per, ng1), A_INV);
        }
    }
    free(out); free(mean);
}

/* Random points (some invalid) on T, with random options, lengths and functions; now and then a
 * table built from random (valid or invalid) options. */
static void expect_params(double *p, int *valid) {
    /* within ranges where the expected satellite count stays moderate, sometimes invalid */
    static const double lo[7] = {-1, -1, 11, 0.1, 10.5, 12.0, 0.3}, hi[7] = {1, 1, 13.5, 0.8, 13.5, 15.0, 2.0};
    *valid = 1;
    for (int k = 0; k < 7; k++) p[k] = uab(lo[k], hi[k]);
    if (chance(0.1)) { int k = rint_(2); p[k] = chance(0.5) ? 1.0 : -1.0; }
    if (chance(0.1)) { int k = rint_(2); p[k] = uab(1.0001, 3) * (chance(0.5) ? 1 : -1); *valid = 0; }
    if (chance(0.05)) { p[3] = chance(0.5) ? 0.0 : -uab(0, 1); *valid = 0; }
    if (chance(0.08)) { static const double w[] = {NAN, INFINITY, -INFINITY}; p[rint_(7)] = w[rint_(3)]; *valid = 0; }
}

static void r_table_build(void) {
    IaTableOptions o;
    ia_table_options_default(&o);
    double edges[8];
    int valid = 1, ne = 2 + rint_(5);
    double rmax = uab(1, 12);
    for (int i = 0; i < ne; i++) edges[i] = rmax * pow(0.5, ne - 1 - i);
    if (!(rmax < 10)) valid = 0;
    if (chance(0.1)) { edges[rint_(ne)] = weird(); valid = 0; }
    o.r_edges = edges; o.n_edges = (size_t)ne;
    o.satellites = chance(0.1) ? rint_(6) - 1 : rint_(3);
    if (o.satellites < 0 || o.satellites > 2) valid = 0;
    o.mass_bin_dex = chance(0.1) ? weird() : uab(0.3, 1);
    if (!(o.mass_bin_dex >= 0.01 && o.mass_bin_dex <= 1)) valid = 0;
    o.draws_per_mass_bin = chance(0.1) ? rnd() % 2048 : 1024;
    if (o.draws_per_mass_bin < 1024) valid = 0;
    o.tracers_two_halo = chance(0.1) ? (uint32_t)rint_(70) : 1 + (uint32_t)rint_(2);
    if (o.tracers_two_halo < 1 || o.tracers_two_halo > 64) valid = 0;
    o.min_host_particles = chance(0.1) ? weird() : uab(100, 2000);
    if (!(o.min_host_particles >= 0) || isinf(o.min_host_particles)) valid = 0;
    o.n_threads = chance(0.05) ? 5000 : (uint32_t)rint_(3);
    if (o.n_threads > 1024) valid = 0;
    o.seed = rnd();
    /* a valid build does the work: only while under the cap */
    if (valid && table_build_cap >= 0 && n_table_builds >= table_build_cap) return;
    char eb[400];
    desc("ia_table_build(TU box 20, edges=[%s], satellites %d, mass_bin_dex %.17g, draws %llu, tracers %u, min_host_particles %.17g, threads %u, seed %llu)",
         fmtv(eb, sizeof eb, edges, (size_t)ne), o.satellites, o.mass_bin_dex, (unsigned long long)o.draws_per_mass_bin,
         o.tracers_two_halo, o.min_host_particles, o.n_threads, (unsigned long long)o.seed);
    IaTable *t;
    guard(&t, sizeof t);
    int st = post(F_EXPECT, "ia_table_build", ia_table_build(TU, &o, &t), valid ? A_OK | A_INV | A_OOM : A_INV);
    if (valid) n_table_builds++;
    if (st != IA_OK) return;
    char base[4096];
    snprintf(base, sizeof base, "%s", g_desc);
    IaTableInfo ti;
    double got[8];
    desc("%s | then ia_table_info", base);
    if (post(F_EXPECT, "ia_table_info", ia_table_info(t, &ti), A_OK) == IA_OK &&
        (ti.n_bins != (size_t)ne - 1 || ti.box_size[0] != 20 || ti.n_hosts == 0 ||
         (o.satellites == IA_SATELLITES_NFW && ti.satellites != IA_SATELLITES_NFW) ||
         (o.satellites == IA_SATELLITES_SUBHALOS && ti.satellites != IA_SATELLITES_SUBHALOS)))
        violation("table info: %zu bins, satellites %d, box %g, %zu hosts", ti.n_bins, ti.satellites, ti.box_size[0], ti.n_hosts);
    desc("%s | then ia_table_r_edges", base);
    guard(got, (size_t)ne * sizeof(double));
    if (post(F_EXPECT, "ia_table_r_edges", ia_table_r_edges(t, got, (size_t)ne), A_OK) == IA_OK && memcmp(got, edges, (size_t)ne * sizeof(double)))
        violation("the table's edges are not the ones given");
    double m[24], parts[120], ng;
    desc("%s | then ia_expect_batch(P0)", base);
    guard(m, 3 * ((size_t)ne - 1) * sizeof(double)); guard(&ng, sizeof ng);
    if (post(F_EXPECT, "ia_expect_batch", ia_expect_batch(t, P0, 1, NULL, m, 3 * ((size_t)ne - 1), &ng), A_OK | A_INV) == IA_OK) {
        check_expect(0, (size_t)ne - 1, 1, m, &ng, NULL);
        desc("%s | then ia_expect_parts(P0)", base);
        guard(parts, 15 * ((size_t)ne - 1) * sizeof(double));
        if (post(F_EXPECT, "ia_expect_parts", ia_expect_parts(t, P0, 1, NULL, parts, 15 * ((size_t)ne - 1)), A_OK) == IA_OK)
            check_expect(2, (size_t)ne - 1, 1, parts, NULL, m);
    }
    desc("%s | then ia_table_free", base);
    post(F_EXPECT, "ia_table_free", ia_table_free(t), A_OK);
}

static void r_expect(void) {
    if (chance(0.12)) { r_table_build(); return; }
    int n = 1 + rint_(4), valid = 1;
    double p[28];
    for (int i = 0; i < n; i++) {
        int v;
        expect_params(p + 7 * i, &v);
        valid &= v;
    }
    int f = rint_(3);
    size_t nb = TI.n_bins, per = expect_per(f, nb), len = per * (size_t)n;
    if (chance(0.1)) { len = len + (size_t)rint_(3) - 1; if (len != per * (size_t)n) valid = 0; }
    IaExpectOptions o;
    ia_expect_options_default(&o);
    int use_opts = chance(0.6);
    if (use_opts) {
        o.xi_normalization = chance(0.1) ? rint_(4) - 1 : rint_(2);
        if (o.xi_normalization < 0 || o.xi_normalization > 1) valid = 0;
        o.satellites_times_centrals = chance(0.3) ? rint_(3) : 0;
        o.n_threads = chance(0.05) ? 5000 : (uint32_t)rint_(4);
        if (o.n_threads > 1024) valid = 0;
    }
    int use_ng = f == 0 && chance(0.7);
    size_t cap = per * (size_t)n + 2;
    double *out = malloc(cap * sizeof(double)), ng[4];
    char pb[1200];
    desc("%s(T, params=[%s], n=%d, options %s (xi_norm %d, sat x cen %d, threads %u), out_len %zu (needs %zu)%s)", expect_fn[f],
         fmtv(pb, sizeof pb, p, 7 * (size_t)n), n, use_opts ? "yes" : "NULL", o.xi_normalization, o.satellites_times_centrals,
         o.n_threads, len, per * (size_t)n, f == 0 ? (use_ng ? ", out_n_galaxies" : ", NULL out_n_galaxies") : "");
    guard(out, (len < cap ? len : cap) * sizeof(double));
    if (use_ng) guard(ng, (size_t)n * sizeof(double));
    /* a valid point may still put fewer than 2 galaxies in the tiny universe: IA_ERR_INVALID_ARGUMENT */
    int st = post(F_EXPECT, expect_fn[f], expect_call(f, T, p, (size_t)n, use_opts ? &o : NULL, out, len, use_ng ? ng : NULL),
                  valid ? A_OK | A_INV : A_INV);
    if (st == IA_OK) {
        double *mean = NULL;
        char base[4096];
        snprintf(base, sizeof base, "%s", g_desc);
        if (f == 2) {
            /* the parts add up to the means of the same call */
            mean = malloc(3 * nb * (size_t)n * sizeof(double));
            desc("%s | then ia_expect_batch for the sums of the parts", base);
            guard(mean, 3 * nb * (size_t)n * sizeof(double));
            if (post(F_EXPECT, "ia_expect_batch", ia_expect_batch(T, p, (size_t)n, use_opts ? &o : NULL, mean, 3 * nb * (size_t)n, NULL), A_OK) != IA_OK) {
                free(mean);
                mean = NULL;
            }
        }
        check_expect(f, nb, (size_t)n, out, use_ng ? ng : NULL, mean);
        /* the last point alone: the same numbers as in the batch */
        if (n > 1 && chance(0.3)) {
            double *one = malloc(per * sizeof(double));
            desc("%s | then the last point alone", base);
            guard(one, per * sizeof(double));
            if (post(F_EXPECT, expect_fn[f], expect_call(f, T, p + 7 * (n - 1), 1, use_opts ? &o : NULL, one, per, NULL), A_OK) == IA_OK &&
                memcmp(one, out + (size_t)(n - 1) * per, per * sizeof(double)) != 0)
                violation("%s: the last point alone differs from the batch", expect_fn[f]);
            free(one);
        }
        free(mean);
    }
    free(out);
}

/* ------------------------------------------------------------------ random property cases */
static void r_correlate(void) {
    size_t n = (size_t)rint_(4) == 0 ? (size_t)rint_(3) : (size_t)rint_(80);
    double L = uab(5, 120);
    IaCorrOptions o;
    ia_corr_options_default(L, &o);
    double edges[12];
    int valid_edges = 1;
    int ne = 0;
    if (chance(0.6)) {
        ne = 2 + rint_(10);
        double rmax = uab(0.5, 0.6 * L);
        for (int i = 0; i < ne; i++) edges[i] = rmax * (i + 1) / ne;
        if (chance(0.2)) { int i = rint_(ne); edges[i] = weird(); valid_edges = 0; }
        if (chance(0.1)) { int i = rint_(ne - 1); double t = edges[i]; edges[i] = edges[i + 1]; edges[i + 1] = t; valid_edges = 0; }
        if (chance(0.1)) { int i = rint_(ne - 1); edges[i + 1] = edges[i]; valid_edges = 0; }
        if (!(edges[ne - 1] < L / 2)) valid_edges = 0;
        o.r_edges = edges;
        o.n_edges = (size_t)ne;
    } else if (!(16.0 < L / 2)) valid_edges = 0;
    int valid = valid_edges;
    if (chance(0.15)) { o.xi_normalization = rint_(4) - 1; if (o.xi_normalization < 0 || o.xi_normalization > 1) valid = 0; }
    if (chance(0.3)) { static const uint32_t jk[] = {0, 1, 2, 3, 4, 33}; o.jackknife_side = jk[rint_(6)]; if (o.jackknife_side == 1 || o.jackknife_side > 32) valid = 0; }
    if (chance(0.2)) { o.covariance = 1; if (o.jackknife_side == 0) valid = 0; }
    if (chance(0.3)) o.n_threads = (uint32_t)rint_(5);
    if (chance(0.05)) { o.box_size[rint_(3)] = weird(); valid = 0; }
    double *pos = malloc((3 * n + 3) * sizeof(double)), *ori = malloc((3 * n + 3) * sizeof(double)), *w = malloc((n + 1) * sizeof(double));
    for (size_t i = 0; i < 3 * n; i++) { pos[i] = uab(-0.5 * L, 1.5 * L); ori[i] = uab(-1, 1); }
    for (size_t i = 0; i < n; i++) w[i] = uab(0.1, 3);
    if (n && chance(0.05)) { pos[rint_((int)(3 * n))] = weird(); }
    int use_ori = chance(0.7), use_w = chance(0.4);
    int cross = chance(0.3);
    size_t n2 = cross ? (size_t)rint_(60) : 0;
    double *pos2 = malloc((3 * n2 + 3) * sizeof(double));
    for (size_t i = 0; i < 3 * n2; i++) pos2[i] = uab(0, L);
    char eb[512];
    desc("%s(n=%zu, n2=%zu, L=%.17g, edges=[%s] n_edges %zu, xi_norm %d, jk %u, cov %d, threads %u, box %.17g,%.17g,%.17g, ori %d, weights %d) [positions uniform in [-L/2, 3L/2)]",
         cross ? "ia_cross_correlate" : "ia_correlate", n, n2, L, fmtv(eb, sizeof eb, edges, (size_t)ne), o.n_edges,
         o.xi_normalization, o.jackknife_side, o.covariance, o.n_threads, o.box_size[0], o.box_size[1], o.box_size[2], use_ori, use_w);
    IaCorrResult *r;
    guard(&r, sizeof r);
    int st;
    (void)valid;
    if (!cross)
        st = post(F_CORR, "ia_correlate", ia_correlate(pos, use_ori ? ori : NULL, use_w ? w : NULL, n, &o, &r), valid ? A_OK | A_INV : A_INV);
    else
        st = post(F_CORR, "ia_cross_correlate", ia_cross_correlate(pos, use_ori ? ori : NULL, use_w ? w : NULL, n, pos2, NULL, NULL, n2, &o, &r),
                  valid ? A_OK | A_INV : A_INV);
    if (st == IA_OK) {
        check_result(r, cross ? 0 : n, use_w, o.jackknife_side != 0, o.covariance, ne ? (size_t)ne - 1 : 20);
        desc("ia_corr_result_free(random result)");
        post(F_CORR, "ia_corr_result_free", ia_corr_result_free(r), A_OK);
    }
    free(pos); free(ori); free(w); free(pos2);
}

static void rand_params(double *p, int *valid) {
    /* roughly the emulator's domain, sometimes outside, sometimes garbage */
    static const double lo[7] = {-1, -1, 11.5, 0.1, 11, 12.5, 0.5}, hi[7] = {1, 1, 13, 0.6, 13, 14.5, 1.5};
    *valid = 1;
    for (int k = 0; k < 7; k++) p[k] = uab(lo[k], hi[k]);
    if (chance(0.2)) { int k = rint_(7); p[k] = uab(lo[k] - 3, hi[k] + 3); }
    if (chance(0.1)) { int k = rint_(7); p[k] = weird(); if (!isfinite(p[k])) *valid = 0; }
}

static void r_column(void) {
    size_t n = UI.n_halos;
    int isf = chance(0.6);
    const char *name;
    int good = 1;
    if (chance(0.25)) { name = badcols[rint_((int)(sizeof badcols / sizeof badcols[0]))]; good = 0; }
    else name = isf ? fcols[rint_((int)(sizeof fcols / sizeof fcols[0]))] : icols[rint_(3)];
    size_t len = n;
    int r = rint_(8);
    if (r == 0) { len = n - 1; good = 0; } else if (r == 1) { len = n + 1; good = 0; } else if (r == 2) { len = 0; good = 0; }
    if (!isf && good && name != icols[0] && name != icols[1] && name != icols[2]) good = 0;
    void *buf = malloc((n + 2) * 8);
    desc("ia_halos_column_%s(U, \"%s\", out, %zu) (n_halos %zu)", isf ? "f64" : "i64", name, len, n);
    guard(buf, (len < n ? len : n) * 8);
    int st;
    if (isf) st = post(F_HALOS, "ia_halos_column_f64", ia_halos_column_f64(U, name, buf, len), good ? A_OK | A_INV : A_INV);
    else st = post(F_HALOS, "ia_halos_column_i64", ia_halos_column_i64(U, name, buf, len), good ? A_OK | A_INV : A_INV);
    if (st == IA_OK && isf && !all_finite(buf, n)) violation("column %s not finite", name);
    if (st == IA_OK && isf && (!strcmp(name, "halo_x") || !strcmp(name, "halo_y") || !strcmp(name, "halo_z")))
        for (size_t i = 0; i < n; i++) if (((double *)buf)[i] < 0 || ((double *)buf)[i] >= 40) { violation("%s[%zu] = %g outside box", name, i, ((double *)buf)[i]); break; }
    free(buf);
}

static void r_populate(void) {
    double p[7];
    int valid;
    rand_params(p, &valid);
    unsigned long long seed = rnd();
    char pb[400];
    desc("ia_populate(U box40 grid16 seed1, params=[%s], seed=%llu)", fmtv(pb, sizeof pb, p, 7), seed);
    IaGalaxies *g;
    guard(&g, sizeof g);
    if (post(F_GAL, "ia_populate", ia_populate(U, p, seed, &g), valid ? A_OK | A_INV : A_INV) == IA_OK) {
        char base[4096];
        snprintf(base, sizeof base, "%s", g_desc);
        check_galaxies(g, base);
        /* determinism: the same call gives the same galaxies */
        if (chance(0.3)) {
            IaGalaxies *g2;
            size_t n1 = 0, n2 = 0;
            desc("%s | repeated", base);
            guard(&g2, sizeof g2);
            if (post(F_GAL, "ia_populate", ia_populate(U, p, seed, &g2), A_OK) == IA_OK) {
                ia_galaxies_count(g, &n1); ia_galaxies_count(g2, &n2);
                if (n1 != n2) violation("populate not deterministic: %zu vs %zu galaxies", n1, n2);
                else {
                    double *a = malloc(3 * n1 * 8), *b = malloc(3 * n1 * 8);
                    ia_galaxies_get(g, 0, a, 3 * n1); ia_galaxies_get(g2, 0, b, 3 * n1);
                    if (memcmp(a, b, 3 * n1 * 8)) violation("populate not deterministic: positions differ");
                    free(a); free(b);
                }
                ia_galaxies_free(g2);
            }
        }
        desc("%s | then ia_galaxies_free", base);
        post(F_GAL, "ia_galaxies_free", ia_galaxies_free(g), A_OK);
    }
}

static void r_simulate(void) {
    double p[7];
    int valid;
    rand_params(p, &valid);
    IaSimulateOptions so;
    ia_simulate_options_default(&so);
    double edges[8];
    int ne = 0;
    if (chance(0.5)) {
        ne = 2 + rint_(6);
        double rmax = uab(0.5, 22);
        for (int i = 0; i < ne; i++) edges[i] = rmax * (i + 1) / ne;
        if (chance(0.15)) { edges[rint_(ne)] = weird(); valid = 0; }
        if (rmax >= 20) valid = 0;
        so.r_edges = edges; so.n_edges = (size_t)ne;
    }
    int ovalid = 1; /* the options other than the edges: they count only when options are passed */
    if (chance(0.2)) { so.satellites = rint_(5) - 1; if (so.satellites < 0 || so.satellites > 2) ovalid = 0; }
    if (chance(0.2)) so.satellites_times_centrals = 1;
    if (chance(0.2)) { so.xi_normalization = rint_(3); if (so.xi_normalization > 1) ovalid = 0; }
    if (chance(0.2)) { so.min_host_particles = chance(0.3) ? weird() : uab(10, 2000); if (!(so.min_host_particles >= 0) || isinf(so.min_host_particles)) ovalid = 0; }
    uint32_t R = (uint32_t)rint_(4);
    if (R == 0) valid = 0;
    size_t nb = ne ? (size_t)ne - 1 : 20;
    size_t len = 3 * nb;
    if (chance(0.15)) { len = len + (size_t)rint_(3) - 1; if (len != 3 * nb) valid = 0; }
    unsigned long long seed = rnd();
    int use_opts = ne || chance(0.5);
    int want_var = chance(0.7);
    double m[64], var[64];
    char pb[400], eb[300];
    desc("ia_simulate(U box40 grid16 seed1, params=[%s], R=%u, seed=%llu, options=%s edges=[%s] sat %d satxcen %d xinorm %d minhp %.17g, var %s, out_len %zu)",
         fmtv(pb, sizeof pb, p, 7), R, seed, use_opts ? "yes" : "NULL", fmtv(eb, sizeof eb, edges, (size_t)ne), so.satellites,
         so.satellites_times_centrals, so.xi_normalization, so.min_host_particles, want_var ? "yes" : "NULL", len);
    if (use_opts && !ovalid) valid = 0; /* options are ignored when NULL is passed */
    guard(m, (len < 64 ? len : 64) * 8);
    if (want_var) guard(var, (len < 64 ? len : 64) * 8);
    int st = post(F_SIM, "ia_simulate", ia_simulate(U, p, R, seed, use_opts ? &so : NULL, m, want_var ? var : NULL, len),
                  valid ? A_OK | A_INV : A_INV);
    if (st == IA_OK) {
        for (size_t i = 0; i < len; i++) if (isinf(m[i])) { violation("simulate mean[%zu] infinite", i); break; }
        if (want_var) for (size_t i = 0; i < len; i++) if (isinf(var[i]) || var[i] < 0 || (R == 1 && !isnan(var[i]))) { violation("simulate var[%zu] = %g with R=%u", i, var[i], R); break; }
    }
}

static void r_predict(void) {
    int n = 1 + rint_(4);
    double p[28];
    int allnum = 1, extreme = 0; /* extreme: a finite |p| > 1e300, predicted with extrapolation */
    uint32_t want[4] = {0};
    for (int i = 0; i < n; i++)
        for (int k = 0; k < 7; k++) {
            double lo = EI.domain_min[k], hi = EI.domain_max[k], wd = hi - lo;
            double v = chance(0.85) ? uab(lo, hi) : uab(lo - wd, hi + wd);
            if (chance(0.02)) { v = weird(); if (!isfinite(v)) allnum = 0; else if (fabs(v) > 1e300) extreme = 1; }
            p[7 * i + k] = v;
            if (isfinite(v) && (v < lo || v > hi)) want[i] |= 1u << k;
        }
    int extrap = chance(0.3);
    uint32_t mc = (uint32_t)rint_(4);
    int jac = chance(0.3);
    unsigned long long seed = rnd();
    size_t nb = EI.n_bins, sz = 3 * (size_t)n * nb;
    double *mean = malloc(sz * 8), *ale = malloc(sz * 8), *epi = malloc(sz * 8), *J = malloc(7 * sz * 8);
    uint32_t fl[4];
    int use_ale = chance(0.7), use_epi = chance(0.7), use_fl = chance(0.8);
    char pb[1200];
    desc("ia_emulator_set_extrapolation(EMU, %d)", extrap);
    post(F_EMU, "ia_emulator_set_extrapolation", ia_emulator_set_extrapolation(EMU, extrap), A_OK);
    int any_out = 0;
    for (int i = 0; i < n; i++) any_out |= want[i] != 0;
    unsigned allow = !allnum ? A_INV : (any_out && !extrap) ? A_OOD : A_OK;
    /* mc 0 is invalid, but the domain check comes first (IA_ERR_OUT_OF_DOMAIN): both allowed */
    if (!jac && mc == 0) allow = (allow == A_OOD) ? (A_INV | A_OOD) : A_INV;
    int st;
    if (!jac) {
        desc("ia_predict_batch(EMU, params=[%s], n=%d, mc=%u, seed=%llu, ale %d, epi %d, flags %d) extrapolation %d",
             fmtv(pb, sizeof pb, p, 7 * (size_t)n), n, mc, seed, use_ale, use_epi, use_fl, extrap);
        guard(mean, sz * 8);
        if (use_ale) guard(ale, sz * 8);
        if (use_epi) guard(epi, sz * 8);
        if (use_fl) guard_flags(fl, (size_t)n * 4);
        st = post(F_EMU, "ia_predict_batch", ia_predict_batch(EMU, p, (size_t)n, mc, seed, mean, use_ale ? ale : NULL, use_epi ? epi : NULL, use_fl ? fl : NULL), allow);
    } else {
        desc("ia_predict_jacobian(EMU, params=[%s], n=%d, mean %d, flags %d) extrapolation %d",
             fmtv(pb, sizeof pb, p, 7 * (size_t)n), n, use_ale, use_fl, extrap);
        guard(J, 7 * sz * 8);
        if (use_ale) guard(mean, sz * 8);
        if (use_fl) guard_flags(fl, (size_t)n * 4);
        st = post(F_EMU, "ia_predict_jacobian", ia_predict_jacobian(EMU, p, (size_t)n, use_ale ? mean : NULL, J, use_fl ? fl : NULL), allow);
    }
    if (use_fl && (st == IA_OK || st == IA_ERR_OUT_OF_DOMAIN))
        for (int i = 0; i < n; i++) if (fl[i] != want[i]) { violation("row %d flags 0x%x, expected 0x%x", i, fl[i], want[i]); break; }
    if (use_fl && st == IA_ERR_INVALID_ARGUMENT && !untouched(fl, (size_t)n * 4)) violation("flags written with IA_ERR_INVALID_ARGUMENT");
    if (st == IA_OK && extreme) {
        /* with extrapolation allowed, |p| ~ 1e308 may overflow inside the network: not checked, counted */
        int fin = jac ? all_finite(J, 7 * sz) : all_finite(mean, sz);
        if (!fin) { n_extreme_nonfinite++; fprintf(stderr, "note: non-finite %s with IA_OK for extreme finite parameters (case %ld: %s)\n", jac ? "jacobian" : "mean", g_case, g_desc); }
    } else if (st == IA_OK) {
        if (!jac) {
            if (!all_finite(mean, sz)) violation("predicted mean not finite");
            if (use_ale) for (size_t i = 0; i < sz; i++) if (!(ale[i] >= 0) || isinf(ale[i])) { violation("aleatoric var[%zu] = %g", i, ale[i]); break; }
            if (use_epi) for (size_t i = 0; i < sz; i++) if (!(epi[i] >= 0) || isinf(epi[i]) || (mc == 1 && epi[i] != 0)) { violation("epistemic var[%zu] = %g (mc %u)", i, epi[i], mc); break; }
        } else {
            if (!all_finite(J, 7 * sz)) violation("jacobian not finite");
            if (use_ale && !all_finite(mean, sz)) violation("jacobian mean not finite");
        }
    }
    free(mean); free(ale); free(epi); free(J);
}

static void r_synthetic(void) {
    IaSyntheticOptions so;
    ia_synthetic_options_default(&so);
    so.box_size = uab(10, 40);
    so.grid = chance(0.5) ? 8 : 16;
    so.seed = rnd();
    int valid = 1;
    if (chance(0.3)) so.subhalos = 0;
    if (chance(0.1)) { so.grid = (uint32_t)rint_(40); if (so.grid < 8 || so.grid % 2) valid = 0; }
    if (chance(0.1)) { so.sigma8 = weird(); valid = 0; }
    if (chance(0.1)) { so.box_size = weird(); valid = 0; }
    if (chance(0.2)) so.n_threads = (uint32_t)rint_(4);
    desc("ia_halos_synthetic(box %.17g, grid %u, seed %llu, subhalos %d, sigma8 %.17g, threads %u)", so.box_size, so.grid,
         (unsigned long long)so.seed, so.subhalos, so.sigma8, so.n_threads);
    IaHalos *h;
    guard(&h, sizeof h);
    if (post(F_HALOS, "ia_halos_synthetic", ia_halos_synthetic(&so, &h), valid ? A_OK | A_INV | A_OOD : A_INV | A_OOD) == IA_OK) {
        IaHalosInfo hi;
        char base[4096];
        snprintf(base, sizeof base, "%s", g_desc);
        desc("%s | then ia_halos_info", base);
        if (post(F_HALOS, "ia_halos_info", ia_halos_info(h, &hi), A_OK) == IA_OK &&
            (hi.n_halos != hi.n_hosts + hi.n_subhalos || hi.box_size[0] != so.box_size || (!so.subhalos && hi.n_subhalos)))
            violation("synthetic info: n %zu hosts %zu subs %zu box %g", hi.n_halos, hi.n_hosts, hi.n_subhalos, hi.box_size[0]);
        desc("%s | then ia_halos_free", base);
        post(F_HALOS, "ia_halos_free", ia_halos_free(h), A_OK);
    }
}

/* ------------------------------------------------------------------ threads */
typedef struct { int id; IaHalos *h; IaGalaxies *g; IaCorrResult *r; IaEmulator *e; IaTable *t; volatile int *stop; long calls, bad, ok, inv; char why[512]; } Th;
static int tcheck(Th *t, const char *fn, int st) {
    const char *msg = ia_last_error_message();
    t->calls++;
    if (st == IA_OK) t->ok++; else if (st == IA_ERR_INVALID_ARGUMENT) t->inv++;
    if (st != IA_OK && st != IA_ERR_INVALID_ARGUMENT) { if (!t->bad++) snprintf(t->why, sizeof t->why, "%s returned %d: %s", fn, st, msg); }
    else if (st == IA_OK && msg[0]) { if (!t->bad++) snprintf(t->why, sizeof t->why, "%s OK with message %s", fn, msg); }
    else if (st != IA_OK && !strstr(msg, fn)) { if (!t->bad++) snprintf(t->why, sizeof t->why, "%s failed, message without its name: \"%s\"", fn, msg); }
    return st;
}
static void *worker(void *arg) {
    Th *t = arg;
    double m[64], out[64 * 22];
    size_t nb;
    int after = 0;
    while (after < 3) {
        int stopped = *t->stop;
        IaGalaxies *g2;
        int s1 = tcheck(t, "ia_populate", ia_populate(t->h, P0, (uint64_t)t->id, &g2));
        if (s1 == IA_OK) tcheck(t, "ia_galaxies_free", ia_galaxies_free(g2));
        tcheck(t, "ia_simulate", ia_simulate(t->h, P0, 1, (uint64_t)t->id, NULL, m, NULL, 60));
        size_t cnt;
        if (tcheck(t, "ia_galaxies_count", ia_galaxies_count(t->g, &cnt)) == IA_OK) {
            double *pos = malloc(3 * cnt * 8);
            if (tcheck(t, "ia_galaxies_get", ia_galaxies_get(t->g, IA_GAL_POSITIONS, pos, 3 * cnt)) == IA_OK) {
                IaCorrOptions o;
                ia_corr_options_default(40, &o);
                IaCorrResult *r;
                if (tcheck(t, "ia_correlate", ia_correlate(pos, NULL, NULL, cnt > 300 ? 300 : cnt, &o, &r)) == IA_OK) ia_corr_result_free(r);
            }
            free(pos);
        }
        tcheck(t, "ia_corr_result_n_bins", ia_corr_result_n_bins(t->r, &nb));
        tcheck(t, "ia_corr_result_get", ia_corr_result_get(t->r, IA_CORR_XI, out, 20));
        if (t->t) {
            IaTableInfo ti;
            if (tcheck(t, "ia_table_info", ia_table_info(t->t, &ti)) == IA_OK && ti.n_bins <= 20) {
                tcheck(t, "ia_expect_batch", ia_expect_batch(t->t, P0, 1, NULL, out, 3 * ti.n_bins, NULL));
                tcheck(t, "ia_expect_jacobian", ia_expect_jacobian(t->t, P0, 1, NULL, out, 21 * ti.n_bins));
            }
        }
        if (t->e) {
            uint32_t fl;
            tcheck(t, "ia_predict_batch", ia_predict_batch(t->e, P0, 1, 2, (uint64_t)t->id, out, NULL, NULL, &fl));
            tcheck(t, "ia_emulator_set_extrapolation", ia_emulator_set_extrapolation(t->e, t->id & 1));
            tcheck(t, "ia_predict_jacobian", ia_predict_jacobian(t->e, P0, 1, NULL, out, &fl));
        }
        if (stopped) after++;
    }
    return NULL;
}
static void t_threads(void) {
    IaHalos *h; IaGalaxies *g; IaCorrResult *r; IaEmulator *e = NULL; IaTable *tb = NULL;
    IaSyntheticOptions so;
    ia_synthetic_options_default(&so);
    so.box_size = 40; so.grid = 16; so.seed = 9;
    desc("threads: setup ia_halos_synthetic");
    if (post(F_THREADS, "ia_halos_synthetic", ia_halos_synthetic(&so, &h), A_OK)) return;
    desc("threads: setup ia_populate");
    if (post(F_THREADS, "ia_populate", ia_populate(h, P0, 2, &g), A_OK)) return;
    size_t n; ia_galaxies_count(g, &n);
    double *pos = malloc(3 * n * 8);
    ia_galaxies_get(g, 0, pos, 3 * n);
    IaCorrOptions o; ia_corr_options_default(40, &o);
    desc("threads: setup ia_correlate");
    if (post(F_THREADS, "ia_correlate", ia_correlate(pos, NULL, NULL, n, &o, &r), A_OK)) return;
    free(pos);
    if (EMU) { desc("threads: setup ia_emulator_load"); if (post(F_THREADS, "ia_emulator_load", ia_emulator_load(NULL, "cpu", &e), A_OK)) e = NULL; }
    desc("threads: setup ia_table_load (the table the expect family saved)");
    if (post(F_THREADS, "ia_table_load", ia_table_load(tmpf("t.npz"), &tb), A_OK)) tb = NULL;
    volatile int stop = 0;
    Th th[4];
    pthread_t tid[4];
    for (int i = 0; i < 4; i++) {
        memset(&th[i], 0, sizeof th[i]);
        th[i].id = i; th[i].h = h; th[i].g = g; th[i].r = r; th[i].e = e; th[i].t = tb; th[i].stop = &stop;
        pthread_create(&tid[i], NULL, worker, &th[i]);
    }
    struct timespec ts = {0, 300 * 1000 * 1000};
    nanosleep(&ts, NULL);
    desc("threads: main frees the shared handles while 4 threads use them");
    post(F_THREADS, "ia_halos_free", ia_halos_free(h), A_OK);
    post(F_THREADS, "ia_galaxies_free", ia_galaxies_free(g), A_OK);
    post(F_THREADS, "ia_corr_result_free", ia_corr_result_free(r), A_OK);
    if (e) post(F_THREADS, "ia_emulator_free", ia_emulator_free(e), A_OK);
    if (tb) post(F_THREADS, "ia_table_free", ia_table_free(tb), A_OK);
    stop = 1;
    for (int i = 0; i < 4; i++) pthread_join(tid[i], NULL);
    long calls = 0;
    for (int i = 0; i < 4; i++) {
        calls += th[i].calls;
        n_ok[F_THREADS] += th[i].ok; n_err[F_THREADS] += th[i].calls - th[i].ok;
        if (th[i].bad) violation("thread %d: %ld bad statuses among %ld calls; first: %s", i, th[i].bad, th[i].calls, th[i].why);
    }
    n_calls[F_THREADS] += calls;
    size_t cnt;
    desc("threads: ia_galaxies_count(freed shared g) after join");
    post(F_THREADS, "ia_galaxies_count", ia_galaxies_count(g, &cnt), A_INV);
    desc("threads: ia_halos_free(freed shared h) after join");
    post(F_THREADS, "ia_halos_free", ia_halos_free(h), A_INV);
    if (tb) {
        IaTableInfo ti;
        desc("threads: ia_table_info(freed shared table) after join");
        post(F_THREADS, "ia_table_info", ia_table_info(tb, &ti), A_INV);
    }
}

/* ------------------------------------------------------------------ huge thread counts, in a child */
#include <sys/wait.h>
static void t_huge_threads(void) {
    int pfd[2];
    if (pipe(pfd)) return;
    fflush(stdout); fflush(stderr);
    pid_t pid = fork();
    if (pid == 0) {
        close(pfd[0]);
        alarm(5);
        int st[4];
        double pos[30];
        for (int i = 0; i < 30; i++) pos[i] = (i * 7919 % 100) * 0.4;
        IaCorrOptions o;
        IaCorrResult *r;
        st[0] = ia_set_num_threads(UINT32_MAX);
        ia_corr_options_default(40, &o);
        st[1] = ia_correlate(pos, NULL, NULL, 10, &o, &r);
        if (!st[1]) ia_corr_result_free(r);
        ia_set_num_threads(0);
        o.n_threads = UINT32_MAX;
        st[2] = ia_correlate(pos, NULL, NULL, 10, &o, &r);
        if (!st[2]) ia_corr_result_free(r);
        IaSyntheticOptions so;
        ia_synthetic_options_default(&so);
        so.box_size = 20; so.grid = 8; so.n_threads = 100000;
        IaHalos *h;
        st[3] = ia_halos_synthetic(&so, &h);
        if (!st[3]) ia_halos_free(h);
        ssize_t w = write(pfd[1], st, sizeof st);
        (void)w;
        _exit(0);
    }
    close(pfd[1]);
    int st[4] = {99, 99, 99, 99}, ws = 0;
    ssize_t got = read(pfd[0], st, sizeof st);
    close(pfd[0]);
    waitpid(pid, &ws, 0);
    desc("child: ia_set_num_threads(UINT32_MAX) -> %d; then ia_correlate(10 galaxies, n_threads 0) -> %d; "
         "ia_correlate(n_threads UINT32_MAX) -> %d; ia_halos_synthetic(box 20 grid 8, n_threads 100000) -> %d",
         st[0], st[1], st[2], st[3]);
    g_case++; n_calls[F_LIB] += 4;
    printf("huge thread counts (in a child process): %s; child %s %d\n", g_desc, WIFEXITED(ws) ? "exit" : "signal",
           WIFEXITED(ws) ? WEXITSTATUS(ws) : WTERMSIG(ws));
    if (got != (ssize_t)sizeof st || !WIFEXITED(ws) || WEXITSTATUS(ws) != 0) violation("the child crashed or hung (wait status 0x%x)", ws);
    /* Thread counts above the library's maximum (1024) are refused; the correlation between
     * them runs with the default count. */
    int want[4] = {IA_ERR_INVALID_ARGUMENT, IA_OK, IA_ERR_INVALID_ARGUMENT, IA_ERR_INVALID_ARGUMENT};
    for (int i = 0; i < 4; i++) if (st[i] != want[i]) { violation("call %d: status %d, expected %d", i, st[i], want[i]); break; }
}

/* ------------------------------------------------------------------ main */
int main(int argc, char **argv) {
    long ncases = argc > 1 ? atol(argv[1]) : 300;
    if (getenv("IAEMU_ABI_CASES")) ncases = atol(getenv("IAEMU_ABI_CASES"));
    g_seed = getenv("IAEMU_ABI_SEED") ? strtoull(getenv("IAEMU_ABI_SEED"), NULL, 0) : 20240601ull;
    long emu_cases = getenv("IAEMU_ABI_EMU_CASES") ? atol(getenv("IAEMU_ABI_EMU_CASES")) : -1;
    if (getenv("IAEMU_ABI_TMP")) g_tmp = getenv("IAEMU_ABI_TMP");
    g_allow_internal = getenv("IAEMU_ABI_ALLOW_INTERNAL") && atoi(getenv("IAEMU_ABI_ALLOW_INTERNAL"));
    if (getenv("IAEMU_ABI_TABLE_BUILDS")) table_build_cap = atol(getenv("IAEMU_ABI_TABLE_BUILDS")) + 1; /* + the fixed build */
    mkdir(g_tmp, 0755);
    signal(SIGSEGV, on_signal); signal(SIGBUS, on_signal); signal(SIGABRT, on_signal); signal(SIGFPE, on_signal); signal(SIGILL, on_signal);
    if (__sanitizer_set_death_callback) __sanitizer_set_death_callback(crash_report);
    rs = g_seed;
    g_cseed = g_seed;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    if (!getenv("IAEMU_ABI_SKIP_HUGE_THREADS")) t_huge_threads();
    {
        IaEmulator *e = NULL;
        int st = ia_emulator_load(NULL, "cpu", &e);
        g_lite = st == IA_ERR_UNSUPPORTED;
        if (st == IA_OK) ia_emulator_free(e);
    }
    printf("iaemu %s, %s build, master seed %llu, %ld random cases\n", ia_version(), g_lite ? "lite (no LibTorch)" : "full", g_seed, ncases);
    fflush(stdout);
    t_library();
    t_corr_fixed();
    t_halos_fixed();
    t_galaxies_fixed();
    t_simulate_fixed();
    t_emulator_fixed();
    t_train();
    t_expect_fixed();
    long fixed = g_case;
    long n_emu = 0;
    for (long i = 0; i < ncases; i++) {
        g_rcase = i;
        unsigned long long x = g_seed ^ (0x1000003ull * (unsigned long long)(i + 1));
        g_cseed = splitmix(&x);
        rs = g_cseed;
        int k = (int)(i % 7);
        if (k == 5 && (!EMU || (emu_cases >= 0 && n_emu >= emu_cases))) k = (int)(rnd() % 5);
        switch (k) {
        case 0: r_correlate(); n_random[F_CORR]++; break;
        case 1: r_column(); n_random[F_HALOS]++; break;
        case 2: r_populate(); n_random[F_GAL]++; break;
        case 3: r_simulate(); n_random[F_SIM]++; break;
        case 4: if (i % 12 == 4) { r_synthetic(); n_random[F_HALOS]++; } else { r_correlate(); n_random[F_CORR]++; } break;
        case 5: r_predict(); n_random[F_EMU]++; n_emu++; break;
        case 6: r_expect(); n_random[F_EXPECT]++; break;
        }
    }
    g_rcase = -1;
    t_threads();
    if (EMU) { desc("ia_emulator_free(EMU)"); post(F_EMU, "ia_emulator_free", ia_emulator_free(EMU), A_OK); }
    desc("ia_table_free(T)"); post(F_EXPECT, "ia_table_free", ia_table_free(T), A_OK);
    desc("ia_table_free(T) again"); post(F_EXPECT, "ia_table_free", ia_table_free(T), A_INV);
    desc("ia_halos_free(TU)"); post(F_HALOS, "ia_halos_free", ia_halos_free(TU), A_OK);
    desc("ia_halos_free(U)"); post(F_HALOS, "ia_halos_free", ia_halos_free(U), A_OK);
    desc("ia_halos_free(U) again"); post(F_HALOS, "ia_halos_free", ia_halos_free(U), A_INV);
    free(U_ids);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double secs = (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec);
    printf("%-12s %8s %8s %8s %8s\n", "family", "calls", "ok", "error", "random");
    long tc = 0;
    for (int f = 0; f < NFAM; f++) {
        printf("%-12s %8ld %8ld %8ld %8ld\n", fam_name[f], n_calls[f], n_ok[f], n_err[f], n_random[f]);
        tc += n_calls[f];
    }
    printf("table builds that did the work: %ld (cap %s)\n", n_table_builds, table_build_cap < 0 ? "none" : getenv("IAEMU_ABI_TABLE_BUILDS"));
    if (n_extreme_nonfinite) printf("note: %ld predictions returned IA_OK with non-finite numbers for extreme finite parameters (|p| > 1e300, extrapolation on)\n", n_extreme_nonfinite);
    printf("total: %ld checked calls (%ld in fixed hostile cases, %ld random cases), %ld violations, %.1f s\n", tc, fixed, ncases, g_viol, secs);
    return g_viol ? 1 : 0;
}
