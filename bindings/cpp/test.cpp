// Test of the C++ binding (iaemu.hpp) against the Rust command line's results written by
// bindings/reference.sh. Usage: test REFDIR [DATASET_DIR WORKDIR]
//   REFDIR       the output folder of bindings/reference.sh
//   DATASET_DIR  a small dataset from `iaemu generate` (for train); WORKDIR for files written.
// Prints one line per failure and a summary; exits non-zero on any failure.
#include "iaemu.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <numeric>
#include <sstream>
#include <string>
#include <type_traits>
#include <vector>

namespace {

int failures = 0;
std::size_t numbers = 0;  // numbers compared against the reference
double worst_rel = 0;     // largest relative difference seen in those comparisons

#define CHECK(cond, msg)                                                              \
    do {                                                                              \
        if (!(cond)) {                                                                \
            failures++;                                                               \
            std::cerr << "FAIL " << __FILE__ << ":" << __LINE__ << ": " << msg << "\n"; \
        }                                                                             \
    } while (0)

// Runs body, expects exception type E; returns the message ("" if none was thrown).
template <class E, class F>
std::string expect_throw(F body, const char *what) {
    try {
        body();
    } catch (const E &e) {
        return e.what();
    } catch (const std::exception &e) {
        failures++;
        std::cerr << "FAIL " << what << ": wrong exception: " << e.what() << "\n";
        return "";
    }
    failures++;
    std::cerr << "FAIL " << what << ": nothing thrown\n";
    return "";
}

bool contains(const std::string &s, const std::string &part) { return s.find(part) != std::string::npos; }

std::vector<double> read_numbers(const std::string &path) {
    std::ifstream f(path);
    if (!f) {
        failures++;
        std::cerr << "FAIL cannot read " << path << "\n";
        return {};
    }
    std::vector<double> v;
    std::string line;
    while (std::getline(f, line))
        if (!line.empty()) v.push_back(std::strtod(line.c_str(), nullptr));  // "nan" included
    return v;
}

std::size_t read_count(const std::string &path, const std::string &name) {
    std::ifstream f(path);
    std::string key;
    std::size_t value;
    while (f >> key >> value)
        if (key == name) return value;
    failures++;
    std::cerr << "FAIL no " << name << " in " << path << "\n";
    return 0;
}

// A C-order little-endian float64 .npy (n x cols).
std::vector<double> read_npy(const std::string &path, std::size_t &rows, std::size_t &cols) {
    std::ifstream f(path, std::ios::binary);
    std::string bytes((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
    rows = cols = 0;
    if (bytes.size() < 10 || bytes.compare(0, 6, "\x93NUMPY") != 0) {
        failures++;
        std::cerr << "FAIL not a .npy file: " << path << "\n";
        return {};
    }
    const unsigned char major = static_cast<unsigned char>(bytes[6]);
    std::size_t header_len, start;
    if (major == 1) {
        header_len = static_cast<unsigned char>(bytes[8]) | (static_cast<unsigned char>(bytes[9]) << 8);
        start = 10;
    } else {
        header_len = 0;
        for (int k = 3; k >= 0; k--) header_len = (header_len << 8) | static_cast<unsigned char>(bytes[8 + k]);
        start = 12;
    }
    const std::string header = bytes.substr(start, header_len);
    CHECK(contains(header, "'<f8'") && contains(header, "'fortran_order': False"), "npy header " << header);
    const std::size_t open = header.find("'shape': (");
    std::sscanf(header.c_str() + open + 10, "%zu, %zu", &rows, &cols);
    std::vector<double> v(rows * cols);
    const std::size_t data = start + header_len;
    CHECK(bytes.size() == data + 8 * v.size(), "npy size");
    if (bytes.size() == data + 8 * v.size()) std::memcpy(v.data(), bytes.data() + data, 8 * v.size());
    return v;
}

bool close(double got, double want) {
    if (std::isnan(got) || std::isnan(want)) return std::isnan(got) && std::isnan(want);
    return std::fabs(got - want) <= 1e-9 * std::fabs(want) + 1e-300;
}

// Compares element by element with the tight tolerance; counts the numbers.
void compare(const std::string &name, const std::vector<double> &got, const std::vector<double> &want) {
    CHECK(got.size() == want.size(), name << ": " << got.size() << " values, reference has " << want.size());
    if (got.size() != want.size()) return;
    int bad = 0;
    for (std::size_t k = 0; k < got.size(); k++) {
        if (!std::isnan(want[k]) && want[k] != 0)
            worst_rel = std::max(worst_rel, std::fabs(got[k] - want[k]) / std::fabs(want[k]));
        if (!close(got[k], want[k]) && bad++ < 5) {
            failures++;
            std::cerr.precision(17);
            std::cerr << "FAIL " << name << "[" << k << "]: " << got[k] << " != " << want[k] << "\n";
        }
    }
    numbers += got.size();
}

// Bitwise comparison (NaN equal to NaN), for numbers the binding and the command line compute with
// the same code from the same table; counts the numbers.
void compare_exact(const std::string &name, const std::vector<double> &got, const std::vector<double> &want) {
    CHECK(got.size() == want.size(), name << ": " << got.size() << " values, reference has " << want.size());
    if (got.size() != want.size()) return;
    int bad = 0;
    for (std::size_t k = 0; k < got.size(); k++) {
        const bool same = (std::isnan(got[k]) && std::isnan(want[k])) || got[k] == want[k];
        if (!same && bad++ < 5) {
            failures++;
            std::cerr.precision(17);
            std::cerr << "FAIL " << name << "[" << k << "]: " << got[k] << " != " << want[k] << " (bitwise)\n";
        }
    }
    numbers += got.size();
}

std::vector<double> slice(const std::vector<double> &v, std::size_t from, std::size_t n) {
    return std::vector<double>(v.begin() + static_cast<std::ptrdiff_t>(from),
                               v.begin() + static_cast<std::ptrdiff_t>(from + n));
}

// Handles are move-only with noexcept moves.
// Two evaluations of the float32 network in other batch shapes: equal to float32 rounding,
// which is relative to the largest value of each curve of nb bins (omega and eta cross zero),
// under 1e-4 of it (F32_ROUNDING in tests/emulator.rs).
void compare_f32(const std::string &name, const std::vector<double> &got, const std::vector<double> &want,
                 std::size_t nb) {
    CHECK(got.size() == want.size() && want.size() % nb == 0, name << ": sizes");
    for (std::size_t c = 0; c + nb <= want.size() && c < got.size(); c += nb) {
        double scale = 0;
        for (std::size_t b = 0; b < nb; b++) scale = std::max(scale, std::fabs(want[c + b]));
        for (std::size_t b = 0; b < nb; b++)
            CHECK(std::fabs(got[c + b] - want[c + b]) <= 1e-4 * scale,
                  name << " " << c + b << ": " << got[c + b] << " vs " << want[c + b]);
    }
}

template <class H>
constexpr bool move_only() {
    return !std::is_copy_constructible<H>::value && !std::is_copy_assignable<H>::value &&
           std::is_nothrow_move_constructible<H>::value && std::is_nothrow_move_assignable<H>::value;
}
static_assert(move_only<iaemu::Emulator>(), "Emulator");
static_assert(move_only<iaemu::Halos>(), "Halos");
static_assert(move_only<iaemu::Galaxies>(), "Galaxies");
static_assert(move_only<iaemu::CorrResult>(), "CorrResult");
static_assert(move_only<iaemu::Table>(), "Table");
static_assert(std::is_base_of<std::runtime_error, iaemu::Error>::value, "Error");

struct CallbackFailure : std::runtime_error {
    using std::runtime_error::runtime_error;
};

}  // namespace

// Tables and expected correlations against bindings/reference-expect.sh (in REFDIR too): the
// table of a 50 Mpc/h universe with 3 bins, evaluated at the two reference points. work: a folder
// for files written.
void test_tables(const std::string &ref, const std::string &work, const std::vector<double> &params) {
    const std::string counts = ref + "/expect_counts.txt";
    const std::vector<double> edges = read_numbers(ref + "/expect_r_edges.txt");
    const std::vector<double> mean_ref = read_numbers(ref + "/expect_mean.txt");          // 2 x 3 x 3
    const std::vector<double> ngal_ref = read_numbers(ref + "/expect_n_galaxies.txt");    // 2
    const std::vector<double> parts_ref = read_numbers(ref + "/expect_parts.txt");        // 2 x 5 x 3 x 3
    const std::vector<double> jac_ref = read_numbers(ref + "/expect_jacobian.txt");       // 2 x 3 x 3 x 7
    const std::size_t nb = 3;

    iaemu::Table table = iaemu::Table::load(ref + "/table.npz");
    const iaemu::TableInfo info = table.info();
    CHECK(info.n_bins == nb && table.n_bins() == nb && info.n_bins == read_count(counts, "n_bins"), "table n_bins");
    CHECK(info.n_hosts == read_count(counts, "n_hosts"), "table n_hosts " << info.n_hosts);
    CHECK(info.n_subhalos == read_count(counts, "n_subhalos"), "table n_subhalos " << info.n_subhalos);
    CHECK(info.satellites == IA_SATELLITES_SUBHALOS, "table satellites " << info.satellites);
    CHECK(info.box_size[0] == 50 && info.box_size[1] == 50 && info.box_size[2] == 50 && info.size_bytes > 0,
          "table box and size");
    numbers += 3;
    compare_exact("table r_edges", table.r_edges(), edges);

    // Expected means and galaxy numbers, default options (C NULL and the filled struct alike).
    const iaemu::Expectation e = table.expect_batch(params);
    CHECK(e.n() == 2 && e.n_bins() == nb && e.mean().size() == 2 * 3 * nb && e.n_galaxies().size() == 2,
          "expectation sizes");
    compare_exact("expect mean", e.mean(), mean_ref);
    compare_exact("expect n_galaxies", e.n_galaxies(), ngal_ref);
    CHECK(e.mean(1, 2, 1) == e.mean()[(1 * 3 + 2) * nb + 1] && e.n_galaxies(1) == e.n_galaxies()[1],
          "expectation accessors");
    const iaemu::ExpectOptions defaults;
    CHECK(defaults.xi_normalization == iaemu::XiNormalization::NSquared && !defaults.satellites_times_centrals &&
              defaults.n_threads == 0,
          "expect defaults");
    CHECK(table.expect_batch(params, defaults).mean() == e.mean(), "default options: same numbers");
    iaemu::ExpectOptions one_thread;
    one_thread.n_threads = 1;
    CHECK(table.expect_batch(params, one_thread).mean() == e.mean(), "one thread: same numbers");
    {
        // One point: a batch of one, that point's row.
        const iaemu::Expectation one = table.expect(iaemu::View<double>(params.data() + 7, 7));
        compare_exact("expect one point", one.mean(), slice(e.mean(), 3 * nb, 3 * nb));
#if defined(__cpp_lib_span)
        const iaemu::Expectation viaspan = table.expect_batch(std::span<const double>(params));
        CHECK(viaspan.mean() == e.mean(), "std::span: same numbers");
#endif
    }

    // The parts, each against the reference, and their sums.
    const iaemu::ExpectParts parts = table.expect_parts(params);
    CHECK(parts.n() == 2 && parts.n_bins() == nb && parts.parts().size() == 2 * iaemu::n_parts * 3 * nb,
          "parts sizes");
    compare_exact("expect parts", parts.parts(), parts_ref);
    CHECK(parts.parts(1, iaemu::Part::SatSat1h, 2, 1) == parts.parts()[((1 * 5 + 3) * 3 + 2) * nb + 1],
          "parts accessor");
    {
        const std::vector<double> cs1 = parts.part(iaemu::Part::CenSat1h);
        CHECK(cs1.size() == 2 * 3 * nb, "part size");
        compare_exact("part cen_sat_1h of point 1", slice(cs1, 3 * nb, 3 * nb),
                      slice(parts_ref, (1 * 5 + 1) * 3 * nb, 3 * nb));
        bool ok = true;
        for (std::size_t i = 0; i < 2; i++)
            for (std::size_t s = 0; s < 3; s++)
                for (std::size_t b = 0; b < nb; b++) {
                    double sum = 0;
                    for (std::size_t p = 0; p < iaemu::n_parts; p++)
                        sum += parts.parts(i, static_cast<iaemu::Part>(p), s, b);
                    const double want = s == 0 ? 1 + e.mean(i, s, b) : e.mean(i, s, b);
                    ok = ok && std::fabs(sum - want) <= 1e-12 * std::fabs(want) + 1e-15;
                }
        CHECK(ok, "parts add up to 1 + xi, omega, eta");
    }

    // The Jacobian.
    const iaemu::ExpectJacobian jac = table.expect_jacobian(params);
    CHECK(jac.n() == 2 && jac.n_bins() == nb, "jacobian sizes");
    compare_exact("expect jacobian", jac.jacobian(), jac_ref);
    CHECK(jac.jacobian(1, 2, 1, 4) == jac.jacobian()[((1 * 3 + 2) * nb + 1) * 7 + 4], "jacobian accessor");
    CHECK(jac.jacobian(0, 0, 0, 0) == 0 && jac.jacobian(0, 1, 0, 0) != 0, "mu_cen moves omega, not xi");

    // Other options: as the command line's --normalization n-n-minus1 --satellites-times-centrals.
    {
        iaemu::ExpectOptions o;
        o.xi_normalization = iaemu::XiNormalization::NNMinus1;
        o.satellites_times_centrals = true;
        const iaemu::Expectation eo = table.expect_batch(params, o);
        compare_exact("expect with options", eo.mean(), read_numbers(ref + "/expect_options_mean.txt"));
        compare_exact("n_galaxies with options", eo.n_galaxies(),
                      read_numbers(ref + "/expect_options_n_galaxies.txt"));
        CHECK(table.expect_parts(params, o).n() == 2 && table.expect_jacobian(params, o).n() == 2,
              "parts and jacobian with options");
    }

    // Built by the binding on the same halos, edges and thread count: the command line's table.
    {
        const iaemu::TableOptions d;
        CHECK(d.r_edges.empty() && d.satellites == iaemu::Satellites::Auto && d.min_host_particles == 300 &&
                  d.mass_bin_dex == 0.2 && d.draws_per_mass_bin == (std::uint64_t{1} << 21) &&
                  d.tracers_two_halo == 1 && d.seed == 1 && d.n_threads == 0,
              "table option defaults");
        iaemu::Halos halos = iaemu::Halos::load(ref + "/expect-halos.npz");
        iaemu::TableOptions opt;
        opt.r_edges = edges;
        opt.n_threads = 2;
        iaemu::Table built = iaemu::Table::build(halos, opt);
        halos.reset();  // the table lives on its own
        compare_exact("built table: expect", built.expect_batch(params).mean(), mean_ref);
        compare_exact("built table: jacobian", built.expect_jacobian(params).jacobian(), jac_ref);
        const std::string copy = work + "/table-copy.npz";
        built.save(copy);
        iaemu::Table back = iaemu::Table::load(copy);
        CHECK(back.info().n_hosts == info.n_hosts && back.r_edges() == edges, "saved and read back: info");
        compare_exact("saved and read back: parts", back.expect_parts(params).parts(), parts_ref);

        iaemu::Halos again = iaemu::Halos::load(ref + "/expect-halos.npz");
        iaemu::TableOptions nfw;
        nfw.r_edges = {0.5, 2, 8};
        nfw.satellites = iaemu::Satellites::Nfw;
        nfw.mass_bin_dex = 0.5;
        nfw.draws_per_mass_bin = 1 << 12;
        nfw.tracers_two_halo = 1;
        nfw.n_threads = 2;
        const iaemu::Table t2 = iaemu::Table::build(again, nfw);
        CHECK(t2.info().satellites == IA_SATELLITES_NFW && t2.n_bins() == 2, "NFW table");
        CHECK(std::isfinite(t2.expect(iaemu::View<double>(params.data(), 7)).mean(0, 1, 1)), "NFW table expects");
        iaemu::TableOptions wide;
        wide.mass_bin_dex = 5;
        const std::string m = expect_throw<iaemu::InvalidArgumentError>([&] { iaemu::Table::build(again, wide); },
                                                                         "mass_bin_dex 5");
        CHECK(contains(m, "ia_table_build") && contains(m, "mass_bin_dex"), "mass_bin_dex message: " << m);
        again.reset();
        expect_throw<iaemu::InvalidArgumentError>([&] { iaemu::Table::build(again); }, "build from freed halos");
    }

    // Errors: a NaN parameter, with the library's message, from each evaluation.
    {
        std::vector<double> bad = params;
        bad[7 + 1] = std::nan("");  // mu_sat of point 1
        try {
            table.expect_batch(bad);
            CHECK(false, "NaN parameter: nothing thrown");
        } catch (const iaemu::Error &e) {
            const std::string lib = ia_last_error_message();
            CHECK(e.code() == IA_ERR_INVALID_ARGUMENT && e.status() == iaemu::Status::InvalidArgument &&
                      dynamic_cast<const iaemu::InvalidArgumentError *>(&e) != nullptr,
                  "expect NaN code " << e.code());
            CHECK(!lib.empty() && e.what() == lib, "expect NaN message '" << e.what() << "' vs '" << lib << "'");
            CHECK(contains(e.what(), "ia_expect_batch") && contains(e.what(), "row 1") &&
                      contains(e.what(), "mu_sat") && contains(e.what(), "NaN"),
                  "expect NaN message: " << e.what());
        }
        std::string m = expect_throw<iaemu::InvalidArgumentError>([&] { table.expect_jacobian(bad); }, "NaN jacobian");
        CHECK(contains(m, "ia_expect_jacobian") && contains(m, "mu_sat"), "jacobian NaN message: " << m);
        m = expect_throw<iaemu::InvalidArgumentError>([&] { table.expect_parts(bad); }, "NaN parts");
        CHECK(contains(m, "ia_expect_parts") && contains(m, "mu_sat"), "parts NaN message: " << m);
        // Too few galaxies on average: refused by the library.
        std::vector<double> empty(params.begin(), params.begin() + 7);
        empty[2] = empty[5] = 16.0;
        m = expect_throw<iaemu::InvalidArgumentError>([&] { table.expect(empty); }, "too few galaxies");
        CHECK(contains(m, "at least 2"), "too few galaxies message: " << m);
        // Wrong lengths, caught by the wrapper.
        m = expect_throw<iaemu::InvalidArgumentError>(
            [&] { table.expect_batch(std::vector<double>{1, 2, 3, 4, 5, 6}); }, "six values");
        CHECK(contains(m, "iaemu::Table::expect_batch") && contains(m, "multiple of 7"), "wrapper message: " << m);
        m = expect_throw<iaemu::InvalidArgumentError>([&] { table.expect(params); }, "two points to expect");
        CHECK(contains(m, "iaemu::Table::expect") && contains(m, "expected 7"), "wrapper message: " << m);
        iaemu::ExpectOptions many;
        many.n_threads = 5000;
        expect_throw<iaemu::InvalidArgumentError>([&] { table.expect_batch(params, many); }, "5000 threads");
    }

    // Errors: files that are not tables, a missing one, a bad save path.
    {
        const std::string corrupt = work + "/corrupt-table.npz";
        {
            std::ofstream f(corrupt, std::ios::binary);
            for (int k = 0; k < 100; k++) f << "not a table ";
        }
        std::ifstream in(ref + "/table.npz", std::ios::binary);
        const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
        const std::string truncated = work + "/truncated-table.npz";
        std::ofstream(truncated, std::ios::binary) << bytes.substr(0, bytes.size() / 2);
        for (const std::string &path : {corrupt, truncated, ref + "/expect-halos.npz"}) {
            try {
                iaemu::Table::load(path);
                CHECK(false, path << ": nothing thrown");
            } catch (const iaemu::InvalidArgumentError &e) {
                CHECK(e.code() == IA_ERR_INVALID_ARGUMENT && e.what() == std::string(ia_last_error_message()),
                      "corrupt table code/message: " << e.what());
                CHECK(contains(e.what(), "ia_table_load") && contains(e.what(), "not an iaemu table") &&
                          contains(e.what(), path),
                      "corrupt table message: " << e.what());
            } catch (const std::exception &e) {
                CHECK(false, path << ": wrong exception: " << e.what());
            }
        }
        const std::string m =
            expect_throw<iaemu::IoError>([&] { iaemu::Table::load(work + "/no-such-table.npz"); }, "missing table");
        CHECK(contains(m, "ia_table_load") && contains(m, "no-such-table"), "missing table message: " << m);
        expect_throw<iaemu::InvalidArgumentError>([&] { table.save(work + "/table.txt"); }, "save not .npz");
        expect_throw<iaemu::IoError>([&] { table.save(work + "/no/such/folder/table.npz"); }, "save, no folder");
    }

    // Moved-from and reset handles.
    {
        iaemu::Table moved = std::move(table);
        CHECK(!table.valid() && moved.valid(), "table moved");
        const std::string m = expect_throw<iaemu::InvalidArgumentError>([&] { table.expect_batch(params); },
                                                                         "moved-from table");
        CHECK(contains(m, "NULL"), "moved-from table message: " << m);
        CHECK(moved.expect_batch(params).mean() == e.mean(), "moved-to table");
        moved.reset();
        CHECK(!moved.valid(), "table reset");
        moved.reset();  // again: nothing to free
        expect_throw<iaemu::InvalidArgumentError>([&] { moved.info(); }, "reset table");
    }
}

int main(int argc, char **argv) {
    if (argc < 2) {
        std::cerr << "usage: test REFDIR [DATASET_DIR WORKDIR]\n";
        return 2;
    }
    const std::string ref = argv[1];
    const std::string counts = ref + "/counts.txt";
    const std::size_t nb = 20;

    // --- the library ---------------------------------------------------------------------------
    CHECK(iaemu::version() == IAEMU_VERSION, "version " << iaemu::version());
    iaemu::set_num_threads(0);
    CHECK(iaemu::last_error_message().empty(), "last error after success: " << iaemu::last_error_message());
    const std::vector<std::string> names = iaemu::param_names();
    CHECK(names.size() == 7 && names[0] == "mu_cen" && names[2] == "logMmin" && names[6] == "alpha",
          "param names");
    {
        const std::string m = expect_throw<iaemu::InvalidArgumentError>([] { iaemu::param_name(7); }, "param 7");
        CHECK(contains(m, "ia_param_name"), "param 7 message: " << m);
    }

    const std::vector<double> params = read_numbers(ref + "/params.txt");  // 2 x 7
    CHECK(params.size() == 14, "params.txt");
    if (params.size() != 14) return 1;
    iaemu::Params p0{};
    std::copy(params.begin(), params.begin() + 7, p0.begin());

    // --- halos -----------------------------------------------------------------------------------
    iaemu::Halos halos = iaemu::Halos::load(ref + "/halos.hdf5");
    const iaemu::HalosInfo info = halos.info();
    CHECK(info.n_halos == read_count(counts, "n_halos"), "n_halos " << info.n_halos);
    CHECK(info.n_hosts == read_count(counts, "n_hosts"), "n_hosts " << info.n_hosts);
    CHECK(info.n_hosts + info.n_subhalos == info.n_halos, "hosts + subhalos");
    CHECK(info.box_size[0] == 60 && info.box_size[1] == 60 && info.box_size[2] == 60, "box");
    numbers += 2;
    const std::vector<double> mvir = halos.column_f64("halo_mvir");
    CHECK(mvir.size() == info.n_halos, "mvir size");
    if (!mvir.empty()) {
        CHECK(*std::min_element(mvir.begin(), mvir.end()) == info.mvir_min, "mvir min");
        CHECK(*std::max_element(mvir.begin(), mvir.end()) == info.mvir_max, "mvir max");
    }
    const std::vector<std::int64_t> upid = halos.column_i64("halo_upid");
    const std::vector<std::int64_t> halo_id = halos.column_i64("halo_id");
    CHECK(static_cast<std::size_t>(std::count(upid.begin(), upid.end(), -1)) == info.n_hosts, "upid == -1 count");
    {
        // The shape: axis ratios, NaN where unknown, else 0 < c/a <= b/a <= 1.
        const std::vector<double> ba = halos.column_f64("halo_b_to_a"), ca = halos.column_f64("halo_c_to_a");
        CHECK(ba.size() == info.n_halos && ca.size() == info.n_halos, "shape sizes");
        for (std::size_t i = 0; i < ba.size(); i++) {
            const bool known = !std::isnan(ba[i]) && !std::isnan(ca[i]);
            CHECK(!known || (ca[i] > 0 && ca[i] <= ba[i] + 1e-6 && ba[i] <= 1), "shape of halo " << i);
        }
    }
    expect_throw<iaemu::InvalidArgumentError>([&] { halos.column_f64("halo_nonsense"); }, "unknown column");
    {
        const std::string m = expect_throw<iaemu::IoError>([] { iaemu::Halos::load("no/such/halos.hdf5"); }, "missing");
        CHECK(contains(m, "ia_halos_load") && contains(m, "no/such/halos.hdf5"), "missing file message: " << m);
    }
    {
        iaemu::HalosLoadOptions lo;  // all NaN: nothing given
        iaemu::Halos again = iaemu::Halos::load_with_options(ref + "/halos.hdf5", lo);
        CHECK(again.info().n_halos == info.n_halos, "load_with_options");
    }
    if (argc >= 4) {  // save and reload: the same catalogue
        const std::string copy = std::string(argv[3]) + "/halos-copy.npz";
        halos.save(copy);
        iaemu::Halos reloaded = iaemu::Halos::load(copy);
        CHECK(reloaded.column_f64("halo_mvir") == mvir, "saved and reloaded mvir");
        CHECK(reloaded.column_i64("halo_id") == halo_id, "saved and reloaded halo_id");
    }
    {
        // The same universe made in memory (reference.sh: box 60, grid 32, seed 1).
        iaemu::SyntheticOptions so;
        so.box_size = 60;
        so.grid = 32;
        so.seed = 1;
        iaemu::Halos synth = iaemu::Halos::synthetic(so);
        CHECK(synth.info().n_halos == info.n_halos, "synthetic n_halos " << synth.info().n_halos);
        CHECK(synth.column_f64("halo_mvir") == mvir, "synthetic mvir equals the file's");
        CHECK(synth.column_f64("halo_x") == halos.column_f64("halo_x"), "synthetic halo_x equals the file's");
    }

    // --- galaxies --------------------------------------------------------------------------------
    iaemu::Galaxies galaxies = halos.populate(p0, 1);
    const std::size_t n_gal = galaxies.count();
    CHECK(n_gal == read_count(counts, "n_galaxies"), "n_galaxies " << n_gal);
    const iaemu::GalaxyKinds kinds = galaxies.kind();
    const std::size_t n_cen = static_cast<std::size_t>(std::count(kinds.central.begin(), kinds.central.end(), 1));
    CHECK(n_cen == read_count(counts, "n_centrals"), "n_centrals " << n_cen);
    numbers += 2;
    {
        std::vector<std::int64_t> ids = halo_id;
        std::sort(ids.begin(), ids.end());
        bool hosts_ok = kinds.host_id.size() == n_gal;
        for (std::int64_t h : kinds.host_id) hosts_ok = hosts_ok && std::binary_search(ids.begin(), ids.end(), h);
        CHECK(hosts_ok, "every host_id is a halo_id");
    }
    const std::vector<double> pos = galaxies.positions();
    const std::vector<double> ori = galaxies.orientations();
    CHECK(galaxies.velocities().size() == 3 * n_gal, "velocities size");
    {
        std::size_t rows = 0, cols = 0;
        const std::vector<double> npy = read_npy(ref + "/galaxies.npy", rows, cols);
        CHECK(rows == n_gal && cols == 6, "galaxies.npy shape " << rows << " x " << cols);
        if (rows == n_gal && cols == 6) {
            std::vector<double> want_pos, want_ori;
            for (std::size_t i = 0; i < rows; i++)
                for (std::size_t k = 0; k < 3; k++) {
                    want_pos.push_back(npy[6 * i + k]);
                    want_ori.push_back(npy[6 * i + 3 + k]);
                }
            compare("positions vs galaxies.npy", pos, want_pos);
            compare("orientations vs galaxies.npy", ori, want_ori);
        }
    }
    {
        iaemu::Params bad = p0;
        bad[3] = std::nan("");
        const std::string m = expect_throw<iaemu::InvalidArgumentError>([&] { halos.populate(bad, 1); }, "NaN populate");
        CHECK(contains(m, "ia_populate") && m == ia_last_error_message(), "populate NaN message: " << m);
    }

    // --- correlation -----------------------------------------------------------------------------
    const std::vector<double> corr_ref = read_numbers(ref + "/correlate.txt");  // 3 x 20
    const std::vector<double> edges_ref = read_numbers(ref + "/r_edges.txt");
    const iaemu::CorrOptions copt(60.0);
    CHECK(copt.box_size[1] == 60 && copt.r_edges.empty() && copt.jackknife_side == 0, "corr defaults");
    iaemu::CorrResult corr = iaemu::correlate(pos, ori, copt);
    CHECK(corr.n_bins() == nb, "n_bins " << corr.n_bins());
    compare("correlate xi", corr.xi(), slice(corr_ref, 0, nb));
    compare("correlate omega", corr.omega(), slice(corr_ref, nb, nb));
    compare("correlate eta", corr.eta(), slice(corr_ref, 2 * nb, nb));
    compare("correlate r_edges", corr.r_edges(), edges_ref);
    {
        const std::vector<double> e = corr.r_edges(), mid = corr.r_mid(), wp = corr.weighted_pairs();
        const std::vector<std::uint64_t> pairs = corr.pairs();
        bool ok = mid.size() == nb && pairs.size() == nb && wp.size() == nb;
        for (std::size_t b = 0; ok && b < nb; b++)
            ok = close(mid[b], 0.5 * (e[b] + e[b + 1])) && static_cast<double>(pairs[b]) == wp[b];
        CHECK(ok, "r_mid and pairs");
        expect_throw<iaemu::InvalidArgumentError>([&] { corr.xi_var(); }, "xi_var without jackknife");
    }
    {
        // Pointer + length views, unit weights: the same numbers.
        const std::vector<double> ones(n_gal, 1.0);
        iaemu::CorrResult w = iaemu::correlate(iaemu::View<double>(pos.data(), pos.size()),
                                               iaemu::View<double>(ori.data(), ori.size()), ones, copt);
        compare("correlate xi, unit weights", w.xi(), slice(corr_ref, 0, nb));
        // Positions only: xi alone, omega NaN.
        iaemu::CorrResult x = iaemu::correlate(pos, copt);
        compare("correlate xi, no orientations", x.xi(), slice(corr_ref, 0, nb));
        const std::vector<double> om = x.omega();
        CHECK(std::all_of(om.begin(), om.end(), [](double v) { return std::isnan(v); }), "omega NaN without orientations");
        // Jackknife with covariance.
        iaemu::CorrOptions jk(60.0);
        jk.jackknife_side = 2;
        jk.covariance = true;
        iaemu::CorrResult j = iaemu::correlate(pos, ori, jk);
        compare("correlate xi, jackknife run", j.xi(), slice(corr_ref, 0, nb));
        CHECK(j.xi_var().size() == nb && j.omega_var().size() == nb && j.eta_var().size() == nb, "jackknife vars");
        const std::vector<double> cov = j.covariance();
        CHECK(cov.size() == 9 * nb * nb, "covariance size " << cov.size());
        if (cov.size() == 9 * nb * nb) CHECK(close(cov[0], j.xi_var()[0]), "cov[0,0] == xi_var[0]");
        // Cross-correlation of the sample with itself: pairs (i, j), i != j at r > 0.1, as the auto.
        iaemu::CorrResult c = iaemu::cross_correlate(pos, ori, pos, ori, copt);
        CHECK(c.n_bins() == nb, "cross n_bins");
        CHECK(c.pairs() == corr.pairs(), "cross pairs equal auto pairs");
        const std::vector<double> cx = c.xi(), ax = corr.xi();
        bool ok = cx.size() == nb;
        for (std::size_t b = 0; ok && b < nb; b++) ok = std::fabs(cx[b] - ax[b]) <= 1e-9 * std::fabs(ax[b]);
        CHECK(ok, "cross xi equals auto xi");
        // Custom edges, and a wrong-length input caught by the wrapper.
        iaemu::CorrOptions ce(60.0);
        ce.r_edges = {1, 2, 4, 8};
        CHECK(iaemu::correlate(pos, ori, ce).xi().size() == 3, "custom edges");
        ce.r_edges = {2, 1};
        expect_throw<iaemu::InvalidArgumentError>([&] { iaemu::correlate(pos, ori, ce); }, "decreasing edges");
        const std::string m = expect_throw<iaemu::InvalidArgumentError>(
            [&] { iaemu::correlate(iaemu::View<double>(pos.data(), 4), copt); }, "positions not n x 3");
        CHECK(contains(m, "multiple of 3"), "wrapper message: " << m);
    }

    // --- simulate --------------------------------------------------------------------------------
    {
        const iaemu::SimulateResult sim = halos.simulate(p0, 2, 1);
        compare("simulate mean", sim.mean(), read_numbers(ref + "/simulate_mean.txt"));
        compare("simulate var", sim.var(), read_numbers(ref + "/simulate_var.txt"));
        CHECK(sim.n_bins() == nb && sim.mean(1, 3) == sim.mean()[nb + 3], "simulate accessor");
        const iaemu::SimulateOptions so;
        CHECK(so.r_edges.empty() && so.satellites == iaemu::Satellites::Auto && so.min_host_particles == 300,
              "simulate defaults");
        const iaemu::SimulateResult sim2 = iaemu::simulate(halos, p0, 2, 1, so);
        CHECK(sim2.mean() == sim.mean(), "simulate with default options");
    }

    // --- emulator --------------------------------------------------------------------------------
    iaemu::Emulator emu = iaemu::Emulator::builtin();
    const iaemu::EmulatorInfo einfo = emu.info();
    CHECK(einfo.n_params == 7 && einfo.n_statistics == 3 && einfo.n_bins == nb, "emulator sizes");
    CHECK(einfo.domain_min[2] < p0[2] && p0[2] < einfo.domain_max[2], "domain");
    compare("emulator r_edges", emu.r_edges(), edges_ref);
    {
        const iaemu::Prediction pr = emu.predict_batch(params, 20, 42);
        CHECK(pr.n() == 2 && pr.n_bins() == nb, "prediction sizes");
        compare("predict mean", pr.mean(), read_numbers(ref + "/predict_mean.txt"));
        compare("predict aleatoric", pr.aleatoric_var(), read_numbers(ref + "/predict_aleatoric_var.txt"));
        compare("predict epistemic", pr.epistemic_var(), read_numbers(ref + "/predict_epistemic_var.txt"));
        CHECK(pr.flags().size() == 2 && pr.flags(0) == 0 && pr.flags(1) == 0, "flags");
        CHECK(pr.mean(1, 2, 7) == pr.mean()[(1 * 3 + 2) * nb + 7] &&
                  pr.aleatoric_var(0, 1, 4) == pr.aleatoric_var()[nb + 4] &&
                  pr.epistemic_var(1, 0, 19) == pr.epistemic_var()[3 * nb + 19],
              "prediction accessors");
        // The same call through a pointer + length view (and a std::span in C++20): same numbers.
        const iaemu::Prediction again = emu.predict_batch(iaemu::View<double>(params.data(), params.size()), 20, 42);
        CHECK(again.mean() == pr.mean(), "pointer view: same numbers");
#if defined(__cpp_lib_span)
        const std::span<const double> sp(params);
        const iaemu::Prediction viaspan = emu.predict_batch(sp, 20, 42);
        CHECK(viaspan.mean() == pr.mean() && viaspan.epistemic_var() == pr.epistemic_var(), "std::span: same numbers");
        std::vector<double> mutable_params = params;
        const iaemu::Prediction viaspan2 = emu.predict_batch(std::span<double>(mutable_params), 20, 42);
        CHECK(viaspan2.mean() == pr.mean(), "std::span<double>: same numbers");
        std::cout << "std::span overloads exercised (C++20)\n";
#endif
        // predict_plain_mean.txt is the plain mean as the Jacobian's pass computes it (exact here);
        // a one-pass predict_batch runs another batch shape, equal to float32 rounding (documented).
        const std::vector<double> plain_ref = read_numbers(ref + "/predict_plain_mean.txt");
        const iaemu::Jacobian jac = emu.predict_jacobian(params);
        compare("jacobian", jac.jacobian(), read_numbers(ref + "/jacobian.txt"));
        compare("jacobian mean", jac.mean(), plain_ref);
        CHECK(jac.n() == 2 && jac.flags().size() == 2 && jac.flags(1) == 0, "jacobian sizes");
        CHECK(jac.jacobian(1, 2, 3, 4) == jac.jacobian()[((1 * 3 + 2) * nb + 3) * 7 + 4] &&
                  jac.mean(1, 1, 5) == jac.mean()[4 * nb + 5],
              "jacobian accessors");
        const iaemu::Prediction plain = emu.predict_batch(params, 1, 0, false);
        CHECK(plain.aleatoric_var().empty() && plain.epistemic_var().empty(), "variances not asked for");
        CHECK(plain.mean().size() == plain_ref.size(), "plain size");
        compare_f32("one-pass mean", plain.mean(), plain_ref, nb);
        const iaemu::Prediction one = emu.predict(p0, 1, 0);
        CHECK(one.n() == 1 && one.mean().size() == 3 * nb, "predict one point");
        compare_f32("one point alone", one.mean(),
                    std::vector<double>(plain.mean().begin(), plain.mean().begin() + 3 * nb), nb);
#if defined(__cpp_lib_span)
        const iaemu::Prediction fixed = emu.predict(std::span<const double, 7>(p0), 1, 0);
        CHECK(fixed.mean() == one.mean(), "fixed-extent std::span: same numbers");
#endif
    }

    // --- error paths -----------------------------------------------------------------------------
    {
        std::vector<double> bad = params;
        bad[7 + 2] = std::nan("");  // logMmin of point 1
        try {
            emu.predict_batch(bad, 20, 42);
            CHECK(false, "NaN parameter: nothing thrown");
        } catch (const iaemu::Error &e) {
            const std::string lib = ia_last_error_message();  // no iaemu call since the failure
            CHECK(e.code() == IA_ERR_INVALID_ARGUMENT && e.status() == iaemu::Status::InvalidArgument,
                  "NaN code " << e.code());
            CHECK(dynamic_cast<const iaemu::InvalidArgumentError *>(&e) != nullptr, "NaN subclass");
            CHECK(!lib.empty() && e.what() == lib, "NaN message '" << e.what() << "' vs library '" << lib << "'");
            CHECK(contains(e.what(), "ia_predict_batch") && contains(e.what(), "NaN") &&
                      contains(e.what(), "logMmin"),
                  "NaN message: " << e.what());
        }
        expect_throw<iaemu::InvalidArgumentError>([&] { emu.predict_jacobian(bad); }, "NaN jacobian");
        // Out of the training domain: refused with the flags, predicted once extrapolation is allowed.
        std::vector<double> far = params;
        far[7 + 2] = 20.0;
        try {
            emu.predict_batch(far, 1, 0);
            CHECK(false, "out of domain: nothing thrown");
        } catch (const iaemu::OutOfDomainError &e) {
            CHECK(e.code() == IA_ERR_OUT_OF_DOMAIN && e.what() == std::string(ia_last_error_message()),
                  "out-of-domain code/message: " << e.what());
            CHECK(e.flags().size() == 2 && e.flags()[0] == 0 && e.flags()[1] == (1u << 2), "out-of-domain flags");
        }
        emu.set_extrapolation(true);
        const iaemu::Prediction ex = emu.predict_batch(far, 1, 0);
        CHECK(ex.flags(1) == (1u << 2) && std::isfinite(ex.mean(1, 0, 10)), "extrapolated");
        emu.set_extrapolation(false);
        expect_throw<iaemu::OutOfDomainError>([&] { emu.predict_jacobian(far); }, "jacobian out of domain");
        const std::string m = expect_throw<iaemu::InvalidArgumentError>(
            [&] { emu.predict_batch(std::vector<double>{1, 2, 3, 4, 5, 6}, 1, 0); }, "six values");
        CHECK(contains(m, "multiple of 7"), "wrapper message: " << m);
        expect_throw<iaemu::InvalidArgumentError>([&] { emu.predict_batch(params, 0, 0); }, "mc 0");
        expect_throw<iaemu::UnsupportedError>([] { iaemu::Emulator::builtin("cuda:7"); }, "cuda:7");
        expect_throw<iaemu::IoError>([] { iaemu::Emulator::load("no/such/model.safetensors", "cpu"); }, "no model");
        // Every error is a std::runtime_error too.
        expect_throw<std::runtime_error>([] { iaemu::Halos::load(""); }, "empty path");
    }

    // --- memory budget ---------------------------------------------------------------------------
    {
        // Restores the default budget however this block ends, so the rest of the test is unaffected.
        struct RestoreBudget {
            ~RestoreBudget() { ia_set_memory_budget(0); }
        } restore;
        const std::string m = expect_throw<iaemu::InvalidArgumentError>([] { iaemu::set_memory_budget(1); }, "budget 1");
        CHECK(contains(m, "ia_set_memory_budget"), "budget 1 message: " << m);
        iaemu::set_memory_budget(std::uint64_t{64} << 20);
        try {
            emu.predict(p0, 20000, 42);
            CHECK(false, "20000 passes under a 64 MiB budget: nothing thrown");
        } catch (const iaemu::OutOfMemoryError &e) {
            CHECK(e.code() == IA_ERR_OUT_OF_MEMORY && e.code() == -6 && e.status() == iaemu::Status::OutOfMemory,
                  "out-of-memory code " << e.code());
            CHECK(contains(e.what(), "memory budget"), "out-of-memory message: " << e.what());
        } catch (const std::exception &e) {
            CHECK(false, "20000 passes under a 64 MiB budget: wrong exception: " << e.what());
        }
        iaemu::set_memory_budget(0);
        CHECK(emu.predict(p0, 1, 0).mean().size() == 3 * nb, "prediction after the budget is restored");
    }

    // --- tables and expected correlations ------------------------------------------------------
    test_tables(ref, argc >= 4 ? argv[3] : ref, params);

    // --- moved-from and freed handles ------------------------------------------------------------
    {
        iaemu::Halos moved = std::move(halos);
        CHECK(!halos.valid() && moved.valid(), "halos moved");
        const std::string m = expect_throw<iaemu::InvalidArgumentError>([&] { halos.info(); }, "moved-from halos");
        CHECK(contains(m, "NULL"), "moved-from message: " << m);
        CHECK(moved.info().n_halos == info.n_halos, "moved-to halos work");
        halos = std::move(moved);  // move-assign back
        CHECK(halos.valid() && !moved.valid(), "move-assigned back");

        iaemu::Emulator e2 = std::move(emu);
        expect_throw<iaemu::InvalidArgumentError>([&] { emu.predict_batch(params, 1, 0); }, "moved-from emulator");
        CHECK(e2.n_bins() == nb, "moved-to emulator");
        emu = std::move(e2);

        iaemu::Galaxies g2;
        g2 = std::move(galaxies);
        expect_throw<iaemu::InvalidArgumentError>([&] { galaxies.count(); }, "moved-from galaxies");
        CHECK(g2.count() == n_gal, "moved-to galaxies");

        iaemu::CorrResult c2(std::move(corr));
        expect_throw<iaemu::InvalidArgumentError>([&] { corr.xi(); }, "moved-from result");
        c2.reset();  // frees now
        CHECK(!c2.valid(), "reset");
        c2.reset();  // again: nothing to free
        // A raw handle freed behind the wrapper's back is reported, not dereferenced.
        IaGalaxies *raw = g2.get();
        CHECK(ia_galaxies_free(raw) == IA_OK, "free raw");
        expect_throw<iaemu::InvalidArgumentError>([&] { g2.count(); }, "freed handle");
        g2.release();  // do not free it twice
    }

    // --- training (needs a dataset) --------------------------------------------------------------
    if (argc >= 4) {
        const std::string data = argv[2], work = argv[3];
        const std::string model = work + "/model.safetensors";
        const std::string cfg =
            R"({"model": {"encoder": [32, 32]}, "train": {"max_epochs": 50, "batch_size": 16, "device": "cpu"}})";
        std::remove(model.c_str());
        std::remove((model + ".checkpoint").c_str());
        std::size_t seen = 0;
        iaemu::train(data, model, cfg, [&](const iaemu::TrainEpoch &e) {
            seen++;
            CHECK(e.epoch == seen && e.max_epochs == 50 && std::isfinite(e.train_loss), "epoch " << e.epoch);
            return e.epoch < 2;  // stop after epoch 2
        });
        CHECK(seen == 2, "callback saw " << seen << " epochs");
        iaemu::Emulator trained = iaemu::Emulator::load(model, "cpu");
        CHECK(trained.info().epochs == 2, "trained epochs " << trained.info().epochs);
        CHECK(trained.predict_batch(params, 1, 0).mean().size() == 2 * 3 * nb, "trained model predicts");

        // An exception in the callback stops training and reaches the caller after ia_train returns.
        const std::string model2 = work + "/model2.safetensors";
        std::remove(model2.c_str());
        std::remove((model2 + ".checkpoint").c_str());
        std::size_t calls = 0;
        const std::string m = expect_throw<CallbackFailure>(
            [&] {
                iaemu::train(data, model2, cfg, [&](const iaemu::TrainEpoch &) -> bool {
                    calls++;
                    throw CallbackFailure("stop from the callback");
                });
            },
            "callback exception");
        CHECK(m == "stop from the callback" && calls == 1, "callback exception: '" << m << "', calls " << calls);
        CHECK(iaemu::version() == IAEMU_VERSION, "library usable after a callback exception");

        const std::string bad = expect_throw<iaemu::InvalidArgumentError>(
            [&] { iaemu::train(data, work + "/m3.safetensors", R"({"train": {"max_epoch": 3}})"); }, "misspelt key");
        CHECK(contains(bad, "max_epoch"), "misspelt key message: " << bad);
        expect_throw<iaemu::IoError>([&] { iaemu::train("no/such/dataset", work + "/m3.safetensors"); }, "no dataset");
    } else {
        std::cout << "no dataset given: train not tested\n";
    }

    std::cout << "bindings/cpp: " << numbers << " numbers checked against the Rust command line (largest relative "
              << "difference " << worst_rel << "), " << failures << " failures\n";
    return failures == 0 ? 0 : 1;
}
